#!/usr/bin/env bash
# Installs what Horizon's guest-side workloads and tests need on Debian 12 (run as root). Idempotent.
set -euo pipefail
packages=(gcc make libgmp-dev bonnie++ faketime linux-source flex bison bc libelf-dev libssl-dev xz-utils python3 procps
          openssh-server socat iperf3 nftables iproute2 debootstrap lxc qemu-system-x86 e2fsprogs binutils
          chromium fonts-dejavu-core redis-server prometheus hyperfine docker.io podman runc
          libvirt-daemon-system libvirt-clients)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Package scripts must not start system services (an sshd on port 22): Horizon starts its own, on loopback.
  created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=1; fi
  rc=0
  apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
  if [ "$created" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  exit $rc
fi
