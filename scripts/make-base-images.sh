#!/bin/sh
# Makes the base images Dray needs without Docker Hub, through a running drayd's Engine API:
#   debian:bookworm-slim  mmdebstrap --variant=minbase, imported with POST /images/create?fromSrc=-
#   python:3.11-slim      built FROM it with POST /build (Debian bookworm's python3 is 3.11)
# Takes a few minutes (packages come from the host's apt sources). Run by the README's set-up.
#
# Debian's pip refuses to install into the system Python ("externally-managed-environment",
# PEP 668). Containers are the environment, so the python image sets PIP_BREAK_SYSTEM_PACKAGES=1,
# which `pip install -r requirements.txt` in a Dockerfile needs; `python` links to python3.
#
# Usage: scripts/make-base-images.sh   (DOCKER_HOST=unix:///path.sock to pick another daemon)
set -eu

sock=${DOCKER_HOST:-unix:///run/dray.sock}
sock=${sock#unix://}
[ -S "$sock" ] || { echo "no drayd socket at $sock (start it: dray daemon start)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq mmdebstrap; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

work=$(mktemp -d /tmp/dray-base-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

api() { # method path [curl args...]: fails on an HTTP error or an error line in a JSON stream
  m=$1; p=$2; shift 2
  out=$(curl -sS --fail-with-body --unix-socket "$sock" -X "$m" "$@" "http://localhost$p") || { echo "$out" >&2; return 1; }
  printf '%s\n' "$out" | sed -n 's/^{"stream":"\(.*\)"}\r\{0,1\}$/\1/p' | sed 's/\\n$//; s/\\"/"/g' >&2
  if printf '%s' "$out" | grep -q '"errorDetail"'; then printf '%s\n' "$out" | grep '"error"' >&2; return 1; fi
}

echo "==> debian:bookworm-slim (mmdebstrap --variant=minbase bookworm)" >&2
mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$work/rootfs.tar"
api POST '/images/create?fromSrc=-&repo=debian&tag=bookworm-slim&changes=CMD%20%5B%22bash%22%5D' \
  -H 'Content-Type: application/x-tar' --data-binary @"$work/rootfs.tar"

echo "==> python:3.11-slim (FROM debian:bookworm-slim)" >&2
mkdir "$work/python"
cat > "$work/python/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
ENV LANG=C.UTF-8 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip \
 && ln -sf /usr/bin/python3 /usr/local/bin/python \
 && ln -sf /usr/bin/pip3 /usr/local/bin/pip \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
DOCKERFILE
tar -C "$work/python" -cf "$work/python.tar" .
api POST '/build?t=python:3.11-slim&rm=1&forcerm=1' -H 'Content-Type: application/x-tar' --data-binary @"$work/python.tar"
echo "==> done: debian:bookworm-slim, python:3.11-slim" >&2
