#!/usr/bin/env bash
# The study's single-guest comparison on this machine: builds (or reuses) the lab images, brings up a lab host with a
# native guest, an LXC container, a Docker and a Podman container (the lab's own engines, Debian's docker.io and
# podman), a libvirt domain (the lab's own libvirtd, platform kvm, TCG) and a QEMU/TCG VM plus the network peer, runs
# the quick preset of every workload on all six, prints the
# table (platform × workload, mean ± 95% CI, ratio to native with its CI) and removes the lab.
# Usage: scripts/lab-compare.sh [horizon run options, e.g. -p study or -c campaign.yaml]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-rootfs.sh
scripts/build-vm.sh
dotnet build src/Horizon.Cli -c Release -nologo -v quiet
horizon() { dotnet artifacts/bin/Horizon.Cli/release/horizon.dll "$@"; }
name=cmp$$
horizon lab down --name "$name" > /dev/null
trap 'horizon lab down --name "$name" > /dev/null' EXIT
horizon lab up --name "$name" --lxc 1 --docker 1 --podman 1 --libvirt 1 --qemu 1
horizon run -t ".horizon/lab/$name/testbed.yaml" --name "lab-compare-$(date -u +%Y%m%dT%H%M%SZ)" "$@"
