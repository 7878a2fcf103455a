#!/usr/bin/env bash
# Records what the real virsh (Debian's libvirt 9, QEMU under TCG) prints for the commands the kvm adapter runs, into
# tests/Horizon.EndToEnd.Tests/Reference/libvirt-9-virsh-outputs.txt — the fast tests' fake virsh is held to it
# (FakeVirshTests). Brings up its own lab with one libvirt domain (`horizon lab up --libvirt 1`) and removes it after.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/Horizon.EndToEnd.Tests/Reference/libvirt-9-virsh-outputs.txt
horizon() { dotnet artifacts/bin/Horizon.Cli/release/horizon.dll "$@"; }
name=rv$$
trap 'horizon lab down --name "$name" > /dev/null' EXIT
horizon lab up --name "$name" --no-peer --libvirt 1 --subnet 92 > /dev/null
read -r -a virsh <<< "$(sed -n "s/^  engine: //p" ".horizon/lab/$name/testbed.yaml" | head -1 | tr -d "'")"
d=host1-kvm1
record() {
  echo "### virsh $*"
  local rc=0
  "${virsh[@]}" "$@" 2>&1 || rc=$?
  echo "### rc=$rc"
}
{
  echo "# Recorded by scripts/record-virsh-outputs.sh on $(date -u +%Y-%m-%d): $("${virsh[@]}" version | sed -n 's/^Using library: //p; s/^Running hypervisor: //p' | paste -sd';')."
  echo "# One running domain, 1 vCPU, type='qemu' (TCG), on a 2-CPU host; commands run once each, in this order."
  record nodeinfo
  record vcpuinfo "$d"
  record vcpupin "$d" 0 1 --live
  record vcpuinfo "$d"
  record vcpupin "$d"
  record emulatorpin "$d" 0 --live
  record emulatorpin "$d"
  record vcpupin "$d" 0 0-1 --live
  record emulatorpin "$d" 0-1 --live
  record vcpupin "$d" 0 5 --live
  record vcpupin "$d" 7 0 --live
  record vcpuinfo nosuch
  record vcpupin nosuch 0 0 --live
} > "$out"
echo "recorded $(grep -c '^### rc' "$out") commands into $out"
