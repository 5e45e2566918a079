#!/usr/bin/env bash
# Debian's ifupdown2, unpacked (never installed) into .tmp/ifupdown2/root for
# the net_persist tests (tests/persist/test_ifupdown2_real.py, run through
# tests/realstacks.py): its maintainer scripts belong to a machine whose
# network it owns, so this machine only gets the files. ifupdown2 is pure
# Python 3 plus iproute2; tests run it inside throwaway namespaces with /etc,
# /run/network and /var/tmp/network overlaid in a private mount namespace.
# Idempotent: skipped when the unpacked tree is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.tmp/ifupdown2"
log() { echo "30-ifupdown2.sh: $*"; }

main="$dest/root/usr/share/ifupdown2/__main__.py"
# Byte-code compiled once here: the tests run ifupdown2 with
# PYTHONDONTWRITEBYTECODE in the full-kernel VM, where compiling its 35,000
# lines at every start costs seconds under emulation (a package install
# would have compiled it too, in its postinst).
compile() { python3 -m compileall -q "$dest/root/usr/share/ifupdown2" >/dev/null; }
if [ -f "$main" ] && [ -f "$dest/root/etc/network/ifupdown2/ifupdown2.conf" ]; then
    compile
    exit 0
fi

# iproute2 (ip, bridge) is what ifupdown2 drives; python3 runs it.
command -v ip >/dev/null && command -v bridge >/dev/null || {
    log "installing iproute2"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
}

mkdir -p "$dest/deb"
rm -f "$dest/deb/"*.deb
log "downloading ifupdown2"
# -o APT::Sandbox::User=root: _apt cannot write into the checkout.
( cd "$dest/deb" && { apt-get download -q -o APT::Sandbox::User=root ifupdown2 >/dev/null \
    || { apt-get update -qq; apt-get download -q -o APT::Sandbox::User=root ifupdown2 >/dev/null; }; } )
rm -rf "$dest/root.new" "$dest/root"
dpkg -x "$dest/deb/"ifupdown2_*.deb "$dest/root.new"
mv "$dest/root.new" "$dest/root"
compile
rm -rf "$dest/deb"
log "ready: ifupdown2 $(sed -n "s/^__version__ = //p" "$dest/root/usr/share/ifupdown2/__init__.py" | tr -d "'\"")"
