#!/usr/bin/env bash
# NetworkManager's own keyfile reader for tests/persist/test_networkmanager_real.py:
# Debian's network-manager and libnm0 are downloaded and unpacked into
# .tmp/networkmanager/root, never installed (installing would hand this
# machine's network to NetworkManager). `nmcli --offline` runs from there
# with LD_LIBRARY_PATH, with no daemon and no D-Bus (tests/realstacks.py).
# Idempotent: skipped when the unpacked nmcli runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.tmp/networkmanager"
nm_root="$dest/root"
libs="$nm_root/usr/lib/x86_64-linux-gnu"
log() { echo "31-networkmanager.sh: $*"; }

runs() { [ -x "$1/usr/bin/nmcli" ] && LD_LIBRARY_PATH="$1/usr/lib/x86_64-linux-gnu" "$1/usr/bin/nmcli" --version >/dev/null 2>&1; }
runs "$nm_root" && exit 0

apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }; }
rm -rf "$dest/deb" "$nm_root.new"
mkdir -p "$dest/deb"
log "downloading network-manager and libnm0 (unpacked only, never installed)"
# -o APT::Sandbox::User=root: _apt cannot write into the checkout.
( cd "$dest/deb" && { apt-get download -q -o APT::Sandbox::User=root network-manager libnm0 >/dev/null \
    || { apt_update; apt-get download -q -o APT::Sandbox::User=root network-manager libnm0 >/dev/null; }; } )
for deb in "$dest/deb/"*.deb; do dpkg -x "$deb" "$nm_root.new"; done

# nmcli's other libraries (GLib, readline, ...) are plain libraries a Debian
# machine usually has; install those it lacks (libraries only, no daemon).
missing=$(LD_LIBRARY_PATH="$nm_root.new/usr/lib/x86_64-linux-gnu" ldd "$nm_root.new/usr/bin/nmcli" | awk '/not found/{print $1}')
if [ -n "$missing" ]; then
    log "nmcli misses $(echo $missing); installing the library packages libnm0 and nmcli depend on"
    apt_update
    want=$(apt-cache depends libnm0 network-manager | awk '/Depends: lib/{print $2}' | grep -v '^libnm0$' | sort -u)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $want >/dev/null
fi
runs "$nm_root.new" || { log "the unpacked nmcli does not run" >&2; exit 1; }
rm -rf "$nm_root" "$dest/deb"
mv "$nm_root.new" "$nm_root"
log "ready: $(LD_LIBRARY_PATH="$libs" "$nm_root/usr/bin/nmcli" --version)"
