#!/usr/bin/env bash
# Builds (once) what the lab's nested Xen host boots: the Xen 4.17 hypervisor image QEMU loads (multiboot) and a dom0
# root filesystem — the lab's Debian rootfs plus Debian's Xen tools and the dom0 kernel modules. Cached under
# .cache/xen; needs scripts/build-rootfs.sh and scripts/build-vm.sh first. Domain disks are made by `horizon lab up --xen`.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/xen}
rootfs=.cache/rootfs/bookworm
vm=.cache/vm
packages="xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common busybox-static iproute2 bridge-utils"
[ -f "$rootfs/.horizon-rootfs" ] || { echo "xen: no rootfs at $rootfs: run scripts/build-rootfs.sh"; exit 1; }
[ -f "$vm/version" ] || { echo "xen: no VM kernel at $vm: run scripts/build-vm.sh"; exit 1; }
stamp="$(echo "$packages $(cat "$rootfs/.horizon-rootfs") $(cat "$vm/version")" | sha256sum | cut -c1-16)"
if [ -f "$dest/.horizon-xen" ] && [ "$(cat "$dest/.horizon-xen")" = "$stamp" ]; then
  echo "xen: cached at $dest"
  exit 0
fi
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
echo "xen: dom0 root filesystem (Debian's Xen 4.17 packages, ~2 min, once)"
cp -a --reflink=auto "$rootfs" "$dest.tmp/dom0"
root="$dest.tmp/dom0"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
chroot "$root" apt-get update -q > "$dest.tmp/build.log" 2>&1
# "Can't find hypervisor information in sysfs!" from the package scripts is expected: this is not a Xen host.
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends $packages >> "$dest.tmp/build.log" 2>&1 || { tail -20 "$dest.tmp/build.log"; exit 1; }
chroot "$root" apt-get clean
umount "$root/proc"
trap - EXIT
xen=$(ls "$root"/boot/xen-4.17*-amd64.gz | head -n 1)
zcat "$xen" > "$dest.tmp/xen"
mkdir -p "$root/horizon/modules" "$root/horizon/domu"
cp "$vm"/dom0-modules/*.ko "$vm/dom0-modules/order" "$root/horizon/modules/"
# The domUs boot the same kernel and initramfs as the lab's VMs (xen-blkfront/netfront are in it).
cp "$vm/vmlinuz" "$vm/initrd.img" "$root/horizon/domu/"
# xl itself, not Debian's version-choosing wrapper (which asks sysfs which Xen runs).
ln -sf /usr/lib/xen-4.17/bin/xl "$root/usr/local/sbin/xl"
rm -f "$root/etc/ssh/ssh_host_"*
echo "$stamp" > "$dest.tmp/.horizon-xen"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "xen: built at $dest ($(du -sh "$dest" | cut -f1)): $(basename "$xen"), dom0 rootfs"

