#!/usr/bin/env bash
# Records what the real docker (Debian's docker.io 20.10) and podman (4.3) print for the commands Horizon's container adapter
# runs, into tests/Horizon.EndToEnd.Tests/Reference/container-engines-outputs.txt — the fake engines of the fast tests
# are held to it (FakeEngineTests). Starts its own dockerd and podman storage in a temporary directory (removed after);
# needs root, docker.io podman runc, and the lab's rootfs (scripts/build-rootfs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rootfs=${1:-.cache/rootfs/bookworm}
out=tests/Horizon.EndToEnd.Tests/Reference/container-engines-outputs.txt
work=$(mktemp -d /tmp/horizon-engines-XXXXXX)
dockerd_pid=
cleanup() {
  /usr/bin/podman --root "$work/pm" --runroot "$work/pmrun" --storage-driver vfs rm -f -a > /dev/null 2>&1 || true
  [ -n "$dockerd_pid" ] && { /usr/bin/docker -H "unix://$work/docker.sock" rm -f c1 > /dev/null 2>&1 || true; kill -TERM "$dockerd_pid" 2>/dev/null || true; sleep 2; kill -KILL "$dockerd_pid" 2>/dev/null || true; }
  # dockerd bind-mounts a network namespace handle under its exec root, and leaves it mounted when it stops.
  for m in "$work"/exec/netns/*; do [ -e "$m" ] && umount "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
/usr/sbin/dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "unix://$work/docker.sock" \
  --storage-driver=vfs --iptables=false --ip-masq=false --bridge=none > "$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 60); do /usr/bin/docker -H "unix://$work/docker.sock" info > /dev/null 2>&1 && break; sleep 0.5; done
tar -C "$rootfs" -cf "$work/rootfs.tar" .
/usr/bin/docker -H "unix://$work/docker.sock" import "$work/rootfs.tar" horizon/engines > /dev/null
P=(/usr/bin/podman --root "$work/pm" --runroot "$work/pmrun" --storage-driver vfs --runtime runc --cgroup-manager cgroupfs --events-backend file)
"${P[@]}" import "$work/rootfs.tar" horizon/engines > /dev/null 2>&1
/usr/bin/docker -H "unix://$work/docker.sock" run -d --name c1 --network host --cpuset-cpus 1 horizon/engines sleep infinity > /dev/null
"${P[@]}" run -d --name c1 --network host --cpuset-cpus 1 --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 horizon/engines sleep infinity > /dev/null
record() { # engine, then the arguments as the adapter gives them
  local engine=$1; shift
  local cmd=(/usr/bin/docker -H "unix://$work/docker.sock")
  [ "$engine" = podman ] && cmd=("${P[@]}")
  echo "### $engine $*"
  local rc=0
  "${cmd[@]}" "$@" 2>&1 | grep -v '^time=' || true
  "${cmd[@]}" "$@" > /dev/null 2>&1 || rc=$?
  echo "### rc=$rc"
}
{
  echo "# Recorded by scripts/record-engine-outputs.sh on $(date -u +%Y-%m-%d): $(/usr/bin/docker --version) (daemon $(/usr/sbin/dockerd --version | cut -d, -f1 | cut -d" " -f3)); $(/usr/bin/podman --version); runc $(runc --version | head -1 | awk '{print $3}')."
  echo "# Debian's /usr/bin/docker and /usr/bin/podman (named by path: a docker elsewhere on PATH is not Debian's). The container"
  echo "# c1 was started with --cpuset-cpus 1 on a 2-CPU machine. Each command runs twice: once for its output, once for its"
  echo "# exit code. Podman's own 'time=...' log lines are left out. Podman's inspect still says 1 after the update to 0."
  for engine in docker podman; do
    record "$engine" exec c1 grep ^Cpus_allowed_list: /proc/1/status
    record "$engine" update --cpuset-cpus 0 c1
    record "$engine" exec c1 grep ^Cpus_allowed_list: /proc/1/status
    record "$engine" inspect --format '{{.HostConfig.CpusetCpus}}' c1
    record "$engine" update --cpuset-cpus 5 c1
    record "$engine" exec nosuch grep ^Cpus_allowed_list: /proc/1/status
    record "$engine" update --cpuset-cpus 0 nosuch
  done
} > "$out"
echo "recorded $(grep -c '^### rc' "$out") commands into $out"
