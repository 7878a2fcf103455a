#!/usr/bin/env bash
# Records what govc 0.24 prints against vcsim 0.24 (both built by scripts/build-govc.sh) for the commands the ESXi
# adapter runs, into tests/Horizon.EndToEnd.Tests/Reference/govc-0.24-vcsim-outputs.txt — the fast tests' fake govc is
# held to it (FakeGovcTests). Starts its own vcsim on a free loopback port and stops it by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.cache/govc/bin}
out=tests/Horizon.EndToEnd.Tests/Reference/govc-0.24-vcsim-outputs.txt
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/vcsim" -l "127.0.0.1:$port" > /dev/null 2>&1 &
vcsim=$!
trap 'kill "$vcsim" 2>/dev/null || true' EXIT
# The URL carries no credentials: user and password come as GOVC_USERNAME / GOVC_PASSWORD, as the adapter passes them.
export GOVC_URL="https://127.0.0.1:$port/sdk" GOVC_USERNAME=user GOVC_PASSWORD=pass GOVC_INSECURE=1 GOVC_PERSIST_SESSION=false
for _ in $(seq 50); do "$bin/govc" about > /dev/null 2>&1 && break; sleep 0.2; done
record() {
  echo "### govc $*"
  local rc=0
  # JSON is kept compact (one line, same content): govc pretty-prints hundreds of kilobytes.
  "$bin/govc" "$@" 2>&1 | sed "s#$bin/govc#govc#g" | python3 -c '
import json, sys
text = sys.stdin.read()
try:
    print(json.dumps(json.loads(text), separators=(",", ":")))
except ValueError:
    sys.stdout.write(text)' || true
  "$bin/govc" "$@" > /dev/null 2>&1 || rc=$?
  echo "### rc=$rc"
}
{
  echo "# Recorded by scripts/record-govc-outputs.sh on $(date -u +%Y-%m-%d): $("$bin/govc" version) against vcsim (govmomi 0.24, Debian's source)."
  echo "# JSON answers are compacted to one line (same content). vcsim's default inventory: 2 hosts, VMs DC0_H0_VM0 … Each command runs twice: once for its output, once for its exit code."
  echo "# vcsim appends a changed extraConfig key instead of replacing it: the later sched.cpu.affinity entries are the current ones."
  record vm.change -vm DC0_H0_VM0 -e sched.cpu.affinity=1
  record vm.info -e -json DC0_H0_VM0
  record vm.change -vm DC0_H0_VM0 -e sched.cpu.affinity=0
  record vm.info -e -json DC0_H0_VM0
  record vm.info -e -json nosuch
  record vm.change -vm nosuch -e sched.cpu.affinity=0
  record host.info -json -host DC0_H0
} > "$out"
echo "recorded $(grep -c '^### rc' "$out") commands into $out"
