#!/usr/bin/env bash
# The README's first command: install everything, start drayd, make busybox offline, run a container.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then echo "setup.sh: run as root (sudo ./setup.sh)" >&2; exit 1; fi
./scripts/install-deps.sh
dray daemon start
dray image bootstrap busybox
dray run --rm busybox echo "Hello from Docker!"
