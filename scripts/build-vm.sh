#!/usr/bin/env bash
# Builds (once) what the lab's QEMU guests and Xen domains boot: Debian's kernel, and a small busybox initramfs that
# loads the virtio, Xen front-end and ext4 modules and switches to the root disk (/dev/vda in a VM or dom0, /dev/xvda in
# a Xen PV domU). Also keeps the modules a Xen dom0 loads (backends, xenfs, bridge) for scripts/build-xen.sh. Cached
# under .cache/vm; the root disks themselves are made per guest by `horizon lab up` from the LXC root filesystem.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/vm}
modules_wanted="virtio_pci virtio_blk virtio_net xen_blkfront xen_netfront ext4 crc32c_generic"
dom0_modules="xenfs xen_evtchn xen_gntdev xen_gntalloc xen_privcmd xen_netback xen_blkback bridge"
stamp="$modules_wanted | $dom0_modules | 2"
if [ -f "$dest/.horizon-vm" ] && [ "$(cat "$dest/.horizon-vm")" = "$stamp" ]; then
  echo "vm kernel: cached at $dest"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image/ {print $2; exit}')
(cd "$work" && apt-get download "$pkg" busybox-static > /dev/null 2>&1) || { echo "vm kernel: cannot download $pkg busybox-static"; exit 1; }
dpkg -x "$work"/linux-image-*.deb "$work/kernel"
dpkg -x "$work"/busybox-static*.deb "$work/busybox"
version=$(ls "$work/kernel/lib/modules")
mods="$work/kernel/lib/modules/$version"
declare -A path seen
while read -r f; do b=$(basename "$f" .ko); path[${b//-/_}]=$f; done < <(find "$mods" -name '*.ko')
order=()
add() {
  local m=${1//-/_}
  [ -n "${seen[$m]:-}" ] && return
  seen[$m]=1
  local f=${path[$m]:-}
  if [ -z "$f" ]; then
    # Built into the kernel: nothing to load.
    grep -q "/${m//_/[-_]}.ko\$" "$mods/modules.builtin" && return
    echo "vm kernel: module $m not found" >&2; exit 1
  fi
  local d
  for d in $(strings "$f" | sed -n 's/^depends=//p' | tr ',' ' '); do add "$d"; done
  order+=("$m")
}
for m in $dom0_modules; do add "$m"; done
dom0_order=("${order[@]}")
order=()
seen=()
for m in $modules_wanted; do add "$m"; done
init="$work/initramfs"
mkdir -p "$init"/{bin,dev,proc,sys,newroot,modules}
cp "$work/busybox/bin/busybox" "$init/bin/busybox"
for m in "${order[@]}"; do cp "${path[$m]}" "$init/modules/$m.ko"; done
{
  echo '#!/bin/busybox sh'
  echo '/bin/busybox mount -t proc proc /proc; /bin/busybox mount -t sysfs sys /sys; /bin/busybox mount -t devtmpfs dev /dev'
  for m in "${order[@]}"; do echo "/bin/busybox insmod /modules/$m.ko"; done
  echo 'root=/dev/vda; for i in $(/bin/busybox seq 1 100); do [ -b /dev/vda ] && break; [ -b /dev/xvda ] && { root=/dev/xvda; break; }; /bin/busybox sleep 0.1; done'
  echo '/bin/busybox mount -t ext4 -o rw $root /newroot || { echo "horizon initramfs: cannot mount $root"; exec /bin/busybox sh; }'
  echo '/bin/busybox umount /proc /sys; /bin/busybox mount --move /dev /newroot/dev'
  echo 'exec /bin/busybox switch_root /newroot /horizon-vm-init'
} > "$init/init"
chmod +x "$init/init"
mkdir -p "$dest"
(cd "$init" && find . | "$work/busybox/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.img")
cp "$work/kernel/boot/vmlinuz-$version" "$dest/vmlinuz"
cp "$work/initrd.img" "$dest/initrd.img"
rm -rf "$dest/dom0-modules" && mkdir -p "$dest/dom0-modules"
for m in "${dom0_order[@]}"; do cp "${path[$m]}" "$dest/dom0-modules/$m.ko"; done
printf '%s\n' "${dom0_order[@]}" > "$dest/dom0-modules/order"
echo "$version" > "$dest/version"
echo "$stamp" > "$dest/.horizon-vm"
echo "vm kernel: $version with ${#order[@]} modules in the initramfs at $dest"
