#!/usr/bin/env bash
# The README's first command: install everything, start drayd, make the base images offline, then
# build the example app (examples/python-app), ship it through a registry and run it: the
# build -> ship -> run workflow the Docker tutorials show.
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
# Ship: push it to Dray's own registry (a private one on a free loopback port, its storage in a
# temporary directory), remove it here, pull it back and run what came back.
regdir=$(mktemp -d /tmp/dray-setup-registry.XXXXXX)
dray registry serve --listen 127.0.0.1:0 --storage "$regdir/storage" >"$regdir/log" 2>&1 &
regpid=$!
trap 'kill "$regpid" 2>/dev/null; wait "$regpid" 2>/dev/null; rm -rf "$regdir"' EXIT
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's/.*"msg":"dray registry listening","addr":"\([^"]*\)".*/\1/p' "$regdir/log" | head -n1)
  [ -n "$addr" ] && break
  kill -0 "$regpid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then echo "setup.sh: dray registry serve did not start:" >&2; cat "$regdir/log" >&2; exit 1; fi
ref="$addr/examples/python-app:1"
dray tag python-app "$ref"
dray push "$ref"
dray rmi "$ref" python-app >/dev/null
dray pull "$ref"
dray run --rm "$ref"
dray tag "$ref" python-app
dray rmi "$ref" >/dev/null
