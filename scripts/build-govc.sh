#!/usr/bin/env bash
# Builds (once) govc and vcsim — the vSphere CLI and the vSphere API simulator govmomi tests itself with — from Debian's
# source package of govmomi (0.24): Debian's golang-github-vmware-govmomi-dev ships the library but not these two
# programs. The source comes through a private apt source list derived from this machine's own (its deb lines as
# deb-src), so the system's apt configuration is left untouched. Cached under .cache/govc (bin/govc, bin/vcsim).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/govc}
stamp="govmomi-0.24 | 1"
if [ -f "$dest/.horizon-govc" ] && [ "$(cat "$dest/.horizon-govc")" = "$stamp" ] && [ -x "$dest/bin/govc" ] && [ -x "$dest/bin/vcsim" ]; then
  echo "govc, vcsim: cached at $dest"
  exit 0
fi
need=()
for p in golang-go golang-github-vmware-govmomi-dev golang-github-kr-pretty-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "govc: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" > /dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/src"
# Every deb source of this machine, as a deb-src source.
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types: *deb$/Types: deb-src/' "$f" > "$work/sources.list.d/$(basename "$f")"
done
if [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$work/sources.list.d/list.list" || true
fi
apt_private=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources.list.d" -o "Dir::State::Lists=$work/lists")
apt-get "${apt_private[@]}" update -q > "$work/update.log" 2>&1 || { cat "$work/update.log"; echo "govc: apt-get update of the source lists failed"; exit 1; }
(cd "$work/src" && apt-get "${apt_private[@]}" source --download-only -q golang-github-vmware-govmomi > "$work/source.log" 2>&1) \
  || { cat "$work/source.log"; echo "govc: cannot fetch Debian's source of golang-github-vmware-govmomi"; exit 1; }
(cd "$work/src" && dpkg-source -x --skip-patches ./*.dsc govmomi > /dev/null 2>&1) || (cd "$work/src" && dpkg-source -x ./*.dsc govmomi > /dev/null)
mkdir -p "$work/gopath/src/github.com/vmware"
ln -s "$work/src/govmomi" "$work/gopath/src/github.com/vmware/govmomi"
mkdir -p "$dest/bin"
export GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/gocache"
(cd "$work/gopath/src/github.com/vmware/govmomi" && go build -o "$work/vcsim.bin" ./vcsim && go build -o "$work/govc.bin" ./govc)
mv "$work/vcsim.bin" "$dest/bin/vcsim"
mv "$work/govc.bin" "$dest/bin/govc"
echo "$stamp" > "$dest/.horizon-govc"
echo "govc, vcsim: built into $dest/bin ($("$dest/bin/govc" version))"
