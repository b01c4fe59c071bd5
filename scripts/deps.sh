#!/usr/bin/env bash
# Installs what Volant needs on a Debian 12 machine. Idempotent: it installs
# only what is missing, so `make run` and `make test` can call it every time.
set -euo pipefail

pkgs=(
  qemu-system-x86   # the VMM
  qemu-utils        # qemu-img for disk overlays
  busybox-static    # the guest's userland
  e2fsprogs         # mkfs.ext4 for scratch disks and image root filesystems
  mmdebstrap        # the built-in debian image
  iproute2          # ip netns for network tests
  nftables          # host protection and NAT
  cpio              # inspecting initramfs images
  ca-certificates
)

# `deps.sh --test` also installs what only the tests use: Chromium for the
# browser runtime's tests, matplotlib for the python runtime's.
if [ "${1:-}" = "--test" ]; then
  pkgs+=(
    chromium            # runtimes/browser tests drive it on the host
    fonts-dejavu-core   # so its pages render text
    python3-matplotlib  # runtimes/python's figure test
  )
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js runs the OpenAPI linter and the TypeScript MCP client test.
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing nodejs and npm"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "deps: npm is missing (apt-get install nodejs npm)" >&2
  fi
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "deps: Go 1.26 is required (https://go.dev/dl); not found on PATH or in /usr/local/go" >&2
  exit 1
fi
