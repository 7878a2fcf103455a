#!/usr/bin/env bash
# Builds (once) the Debian root filesystem the lab's LXC guests boot from, under the repository's ignored .cache/.
# Reused when present; rebuilt when absent or when this script's package list changes.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/rootfs/bookworm}
packages="openssh-server iproute2 iperf3 procps gcc libc6-dev make libgmp-dev bonnie++ bc xz-utils flex bison libelf-dev libssl-dev"
stamp="$(echo "$packages" | sha256sum | cut -c1-16)"
if [ -f "$dest/.horizon-rootfs" ] && [ "$(cat "$dest/.horizon-rootfs")" = "$stamp" ]; then
  echo "rootfs: cached at $dest"
  exit 0
fi
rm -rf "$dest.tmp"
mkdir -p "$(dirname "$dest")"
echo "rootfs: debootstrap (a few minutes, once)"
debootstrap --variant=minbase bookworm "$dest.tmp" > "$dest.log" 2>&1 || { tail -20 "$dest.log"; exit 1; }
# Package scripts must not start services on the host while we install into the chroot.
printf '#!/bin/sh\nexit 101\n' > "$dest.tmp/usr/sbin/policy-rc.d"
chmod +x "$dest.tmp/usr/sbin/policy-rc.d"
# The same package sources as this machine.
cp /etc/apt/sources.list.d/*.sources "$dest.tmp/etc/apt/sources.list.d/" 2>/dev/null || true
cp /etc/resolv.conf "$dest.tmp/etc/resolv.conf"
mount -t proc proc "$dest.tmp/proc"
trap 'umount "$dest.tmp/proc" 2>/dev/null || true' EXIT
chroot "$dest.tmp" apt-get update -q >> "$dest.log" 2>&1
DEBIAN_FRONTEND=noninteractive chroot "$dest.tmp" apt-get install -y -q --no-install-recommends $packages >> "$dest.log" 2>&1 || { tail -20 "$dest.log"; exit 1; }
chroot "$dest.tmp" apt-get clean
umount "$dest.tmp/proc"
trap - EXIT
rm -f "$dest.tmp/etc/ssh/ssh_host_"*
echo "$stamp" > "$dest.tmp/.horizon-rootfs"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "rootfs: built at $dest ($(du -sh "$dest" | cut -f1))"
