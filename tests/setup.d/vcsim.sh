#!/usr/bin/env bash
# Test peer for vcenter_retry_connect: govmomi's vCenter simulator, built from
# Debian's packaged Go sources into .tmp/bin/vcsim (see tests/vcenter/vcsim/main.go).
# Also Debian's python3-pyroute2 (0.7.2), so the link monitor is tested with the
# pyroute2 that Debian 12 targets ship. Idempotent: skips what is already done.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

pkgs=(golang-go golang-github-vmware-govmomi-dev python3-pyroute2 openssl)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "vcsim.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

src="tests/vcenter/vcsim/main.go"
bin=".tmp/bin/vcsim"
if [ -x "$bin" ] && [ "$bin" -nt "$src" ]; then
    exit 0
fi
mkdir -p .tmp/bin .tmp/gocache
rm -f "$bin.new"
echo "vcsim.sh: building $bin (about a minute)"
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$root/.tmp/gocache" \
    go build -o "$bin.new" "$src" || true
[ -x "$bin.new" ] || { echo "vcsim.sh: build failed" >&2; exit 1; }
mv -f "$bin.new" "$bin"
