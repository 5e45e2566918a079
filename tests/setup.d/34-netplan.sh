#!/usr/bin/env bash
# netplan's own generator for tests/persist/test_netplan_real.py: Debian's
# netplan.io and libnetplan0 are downloaded and unpacked into .tmp/netplan/root,
# never installed (installing would hand this machine's network to netplan).
# `generate --root-dir SCRATCH` runs from there with LD_LIBRARY_PATH: it reads
# SCRATCH/etc/netplan/*.yaml and writes SCRATCH/run/systemd/network/10-netplan-*
# (tests/realstacks.py netplan_generate). The generator is C (libnetplan, with
# libyaml and GLib): no Python dependency; the `netplan` CLI, which is Python,
# is not used.
# Idempotent: skipped when the unpacked generator runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.tmp/netplan"
np_root="$dest/root"
log() { echo "34-netplan.sh: $*"; }

runs() {   # the generator loads and parses an empty configuration
    local gen="$1/usr/libexec/netplan/generate" scratch
    [ -x "$gen" ] || return 1
    scratch=$(mktemp -d)
    LD_LIBRARY_PATH="$1/usr/lib/x86_64-linux-gnu" "$gen" --root-dir "$scratch" >/dev/null 2>&1
    local rc=$?
    rm -rf "$scratch"
    return $rc
}
runs "$np_root" && exit 0

apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }; }
rm -rf "$dest/deb" "$np_root.new"
mkdir -p "$dest/deb"
log "downloading netplan.io and libnetplan0 (unpacked only, never installed)"
# -o APT::Sandbox::User=root: _apt cannot write into the checkout.
( cd "$dest/deb" && { apt-get download -q -o APT::Sandbox::User=root netplan.io libnetplan0 >/dev/null \
    || { apt_update; apt-get download -q -o APT::Sandbox::User=root netplan.io libnetplan0 >/dev/null; }; } )
for deb in "$dest/deb/"*.deb; do dpkg -x "$deb" "$np_root.new"; done

# The generator's other libraries (GLib, libyaml, libuuid) are plain libraries; install those this machine lacks.
missing=$(LD_LIBRARY_PATH="$np_root.new/usr/lib/x86_64-linux-gnu" ldd "$np_root.new/usr/libexec/netplan/generate" \
    | awk '/not found/{print $1}')
if [ -n "$missing" ]; then
    log "generate misses $(echo $missing); installing the library packages libnetplan0 depends on"
    apt_update
    want=$(apt-cache depends libnetplan0 | awk '/Depends: lib/{print $2}' | sort -u)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $want >/dev/null
fi
runs "$np_root.new" || { log "the unpacked netplan generate does not run" >&2; exit 1; }
rm -rf "$np_root" "$dest/deb"
mv "$np_root.new" "$np_root"
log "ready: $(ls "$np_root/usr/lib/x86_64-linux-gnu/" | grep -m1 libnetplan)"
