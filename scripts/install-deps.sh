#!/usr/bin/env bash
# Installs what Dray needs on a Debian 12 host, as root: the low-level stack from Debian's
# packages and the npm packages; then builds dist/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  crun runc conmon
  netavark aardvark-dns iptables iproute2
  golang-github-containers-common
  busybox-static
  tini
  attr tar procps util-linux curl mmdebstrap
  # ADD <git url> in a Dockerfile: drayd resolves and clones with git (src/builder/git-source.ts)
  git
  # tests of RUN --mount=type=ssh (test/integration/build-ssh.test.ts): ssh-agent, ssh-add, ssh-keygen;
  # ssh:// hosts (src/client/ssh.ts) run the ssh client
  openssh-client
  # test/integration/ssh-host.test.ts starts its own sshd on 127.0.0.1 (its own config and keys);
  # the system's ssh service is stopped and disabled right after the install, below
  openssh-server
  # the native addon (native/sys.c), built by npm's node-gyp against the installed Node.js headers,
  # and the `dray` launcher (native/launch.c), built with cc
  gcc g++ make python3
  # BLAKE3's reference C implementation and its x86-64 assembly, compiled into that addon
  # (native/blake3.c): Debian ships it in its package of the Rust crate
  librust-blake3-dev
  # tests and bench: the reference registry (distribution 2.8), skopeo, openssl (test CAs), the Python SDK, docker-compose 1.29
  docker-registry skopeo openssl python3-docker docker-compose
  # the dashboard's browser tests (test/integration/dashboard.test.ts): playwright-core drives
  # Debian's chromium (no browser is downloaded)
  chromium
)
missing=()
for p in "${packages[@]}"; do
  [[ "$p" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "dray: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
    # Debian's package starts and enables an sshd on port 22 of every address (where policy-rc.d
    # allows it). The tests need only the binary: no system sshd is left listening.
    echo "dray: stopping and disabling the system ssh service that openssh-server started"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    else
      invoke-rc.d ssh stop >/dev/null 2>&1 || true
      update-rc.d ssh disable >/dev/null 2>&1 || true
    fi
    # sshd's privilege-separation directory, which the service would have made at start.
    mkdir -p -m 0755 /run/sshd
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "dray: installing npm packages"
  # Not `npm ci`: node-unix-socket lists prebuilt addons for other platforms as optional
  # dependencies that the registry here does not serve, which npm ci refuses and npm install skips.
  npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build

# Commands on PATH for root.
ln -sf "$PWD/bin/dray" /usr/local/bin/dray
ln -sf "$PWD/dist/drayd.js" /usr/local/bin/drayd
