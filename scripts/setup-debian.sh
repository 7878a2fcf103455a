#!/usr/bin/env bash
# Installs what Horizon's guest-side workloads and tests need on Debian 12 (run as root). Idempotent.
set -euo pipefail
packages=(gcc make libgmp-dev bonnie++ faketime linux-source flex bison bc libelf-dev libssl-dev xz-utils python3 procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
