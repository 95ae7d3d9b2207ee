#!/usr/bin/env bash
# The README's first command: install everything, start drayd, make the base images offline, then
# build and run the example app (examples/python-app) — the workflow the Docker tutorials show.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then echo "setup.sh: run as root (sudo ./setup.sh)" >&2; exit 1; fi
./scripts/install-deps.sh
dray daemon status >/dev/null 2>&1 || dray daemon start
dray image bootstrap busybox
dray run --rm busybox echo "Hello from Docker!"
# debian:bookworm-slim and python:3.11-slim come from Debian's packages (a few minutes, once).
dray image inspect python:3.11-slim >/dev/null 2>&1 || ./scripts/make-base-images.sh
dray build -t python-app examples/python-app
dray run --rm python-app
