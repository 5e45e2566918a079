#!/usr/bin/env bash
# systemd-networkd for tests/persist/test_networkd_real.py (tests/realstacks.py
# runs it inside a throwaway network namespace, never on this machine's links).
# Debian 12 machines with systemd have it at /lib/systemd/systemd-networkd:
# nothing to do. Elsewhere (a container without systemd) the systemd and
# libsystemd-shared packages are downloaded and unpacked into .tmp/networkd/root,
# never installed: installing systemd would hand this machine to it.
# Idempotent: skipped when a runnable networkd is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.tmp/networkd"
log() { echo "32-networkd.sh: $*"; }

runs() {   # $1: binary, $2: extra library directory
    [ -x "$1" ] && ! LD_LIBRARY_PATH="${2:-}" ldd "$1" 2>/dev/null | grep -q 'not found'
}

if [ -z "${NETSAFE_NETWORKD_UNPACK:-}" ] && runs /lib/systemd/systemd-networkd; then
    exit 0
fi
libdir="$dest/root/usr/lib/x86_64-linux-gnu/systemd"
if runs "$dest/root/lib/systemd/systemd-networkd" "$libdir"; then
    exit 0
fi
log "unpacking systemd-networkd (apt-get download systemd libsystemd-shared; dpkg -x, not installed)"
rm -rf "$dest/deb" "$dest/root.new"
mkdir -p "$dest/deb"
( cd "$dest/deb" && { apt-get download -q -o APT::Sandbox::User=root systemd libsystemd-shared >/dev/null \
    || { apt-get update -qq && apt-get download -q -o APT::Sandbox::User=root systemd libsystemd-shared >/dev/null; }; } )
for deb in "$dest/deb/"*.deb; do dpkg -x "$deb" "$dest/root.new"; done
# usrmerge: Debian 12's systemd package ships /lib/systemd/...
if ! runs "$dest/root.new/lib/systemd/systemd-networkd" "$dest/root.new/usr/lib/x86_64-linux-gnu/systemd"; then
    LD_LIBRARY_PATH="$dest/root.new/usr/lib/x86_64-linux-gnu/systemd" ldd "$dest/root.new/lib/systemd/systemd-networkd" | grep 'not found' >&2 || true
    log "the unpacked systemd-networkd does not run here (libraries above)" >&2
    exit 1
fi
rm -rf "$dest/root" && mv "$dest/root.new" "$dest/root" && rm -rf "$dest/deb"
log "systemd-networkd unpacked into $dest/root"
