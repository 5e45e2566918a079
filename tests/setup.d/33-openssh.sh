#!/usr/bin/env bash
# Debian's sshd, unpacked (never installed) into .tmp/openssh/root for the SSH
# lab (tests/sshlab.py): the lab runs it inside a throwaway network namespace
# with a private mount namespace, so the Ansible controller reaches the lab
# hypervisor over SSH through the network the tests change. Installing
# openssh-server would start a daemon listening on this machine: never do that.
# libwrap0 is the one library of sshd a plain Debian 12 machine lacks (checked
# with ldd after unpacking: the hook fails if anything else is missing).
# The ssh client and ssh-keygen come from openssh-client (installed when absent).
# Idempotent: skipped when the unpacked sshd finds every library.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.tmp/openssh"
log() { echo "33-openssh.sh: $*"; }

sshd="$dest/root/usr/sbin/sshd"
libs="$dest/root/usr/lib/x86_64-linux-gnu"
if [ -x "$sshd" ] && ! LD_LIBRARY_PATH="$libs" ldd "$sshd" | grep -q 'not found'; then
    exit 0
fi

if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
    log "installing openssh-client"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-client >/dev/null
fi

rm -rf "$dest/deb" "$dest/root.new"
mkdir -p "$dest/deb"
log "downloading openssh-server libwrap0"
# -o APT::Sandbox::User=root: _apt cannot write into the checkout.
( cd "$dest/deb" && { apt-get download -q -o APT::Sandbox::User=root openssh-server libwrap0 >/dev/null \
    || { apt-get update -qq; apt-get download -q -o APT::Sandbox::User=root openssh-server libwrap0 >/dev/null; }; } )
for deb in "$dest/deb/"*.deb; do dpkg -x "$deb" "$dest/root.new"; done
if LD_LIBRARY_PATH="$dest/root.new/usr/lib/x86_64-linux-gnu" ldd "$dest/root.new/usr/sbin/sshd" | grep 'not found'; then
    log "the unpacked sshd misses the libraries above" >&2
    exit 1
fi
rm -rf "$dest/root" "$dest/deb"
mv "$dest/root.new" "$dest/root"
log "ready: $(LD_LIBRARY_PATH="$libs" "$sshd" -V 2>&1 | head -1)"
