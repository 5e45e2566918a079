#!/usr/bin/env bash
# The full-kernel test lane (tests/fullkernel/, docs/testing.md): Debian's own
# kernel booted under qemu with virtme-ng, because the host kernel has no
# bonding, 802.1Q, dummy, team, ipvlan, netem or bridge vlan filtering.
# Installs qemu and virtme-ng's run-time needs, virtme-ng into .venv, unpacks
# the kernel that linux-image-amd64 depends on into .tmp/fullkernel/, and
# unpacks (does not install) OpenSSH's server for the guest: ansible-playbook
# runs on the host and reaches the VM over ssh. No sshd ever runs on the host.
# Idempotent: every step is skipped when its result is already there; the
# last step writes .tmp/fullkernel/lane.env, which the lane's test reads.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dest="$root/.tmp/fullkernel"
virtme_version=1.42   # lead: keep in step with tests/requirements.txt
log() { echo "20-fullkernel.sh: $*"; }

# 1. Debian packages: qemu, and what virtme-ng runs on the host and in the guest
#    (busybox-static for its initramfs, kmod for depmod/modprobe, iproute2).
pkgs=(qemu-system-x86 busybox-static kmod iproute2 util-linux-extra file openssh-client)
# dpkg-query exits 1 when a package is unknown to dpkg (never installed): that is an answer, not an error.
installed=$( { dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null || true; } | awk '/install ok installed/{print $1}')
missing=()
for p in "${pkgs[@]}"; do
    grep -qx "$p" <<<"$installed" || missing+=("$p")
done
apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }; }
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
fi

# 2. virtme-ng in the project's virtual environment (exact pin).
if ! "$root/.venv/bin/python" - "$virtme_version" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
sys.exit(m.version("virtme-ng") != sys.argv[1])
PY
then
    log "installing virtme-ng==$virtme_version into .venv"
    "$root/.venv/bin/python" -m pip install -q "virtme-ng==$virtme_version"
fi

# 3. sshd for the guest, unpacked into .tmp/fullkernel/sshd (with libwrap0,
#    its one library a plain Debian machine lacks). Installing openssh-server
#    would create host keys and may start a daemon on the host: unpacking does not.
sshd_root="$dest/sshd"
sshd_libs="$sshd_root/usr/lib/x86_64-linux-gnu"
if [ ! -x "$sshd_root/usr/sbin/sshd" ] || LD_LIBRARY_PATH="$sshd_libs" ldd "$sshd_root/usr/sbin/sshd" | grep -q 'not found'; then
    log "unpacking openssh-server for the guest"
    rm -rf "$dest/sshd-deb" "$sshd_root.new"
    mkdir -p "$dest/sshd-deb"
    ( cd "$dest/sshd-deb" && { apt-get download -q -o APT::Sandbox::User=root openssh-server libwrap0 >/dev/null \
        || { apt_update; apt-get download -q -o APT::Sandbox::User=root openssh-server libwrap0 >/dev/null; }; } )
    for deb in "$dest/sshd-deb/"*.deb; do dpkg -x "$deb" "$sshd_root.new"; done
    if LD_LIBRARY_PATH="$sshd_root.new/usr/lib/x86_64-linux-gnu" ldd "$sshd_root.new/usr/sbin/sshd" | grep 'not found'; then
        log "the unpacked sshd misses the libraries above" >&2; exit 1
    fi
    rm -rf "$sshd_root" "$dest/sshd-deb"
    mv "$sshd_root.new" "$sshd_root"
fi

# 4. The kernel package linux-image-amd64 depends on. Once unpacked it stays
#    (asking apt costs a second on every run); NETSAFE_LANE_REFRESH=1 looks again.
if [ -z "${NETSAFE_LANE_REFRESH:-}" ] && [ -f "$dest/lane.env" ]; then
    kimg=$(sed -n 's/^LANE_KERNEL_IMAGE=//p' "$dest/lane.env")
    kv=$(sed -n 's/^LANE_KERNEL_VERSION=//p' "$dest/lane.env")
    if [ -n "$kimg" ] && [ -f "$kimg" ] && [ -f "/lib/modules/$kv/modules.dep" ]; then
        exit 0
    fi
fi
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends:/{print $2; exit}'; }
pkg=$(kpkg)
if [ -z "$pkg" ]; then
    apt_update
    pkg=$(kpkg)
fi
[ -n "$pkg" ] || { log "cannot tell which kernel linux-image-amd64 depends on" >&2; exit 1; }
kver=${pkg#linux-image-}

if [ -f "$dest/lane.env" ] && grep -qx "LANE_KERNEL_PACKAGE=$pkg" "$dest/lane.env" \
   && [ -f "$dest/root/boot/vmlinuz-$kver" ] && [ -f "/lib/modules/$kver/modules.dep" ]; then
    exit 0   # everything below is done for this kernel
fi

mkdir -p "$dest/deb"
deb=$(ls "$dest/deb/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
    log "downloading $pkg"
    rm -f "$dest/deb/"*.deb
    # -o APT::Sandbox::User=root: _apt cannot write into the checkout.
    ( cd "$dest/deb" && { apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null \
        || { apt_update; apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null; }; } )
    deb=$(ls "$dest/deb/${pkg}_"*.deb | head -n1)
fi

if [ ! -f "$dest/root/boot/vmlinuz-$kver" ]; then
    log "unpacking $(basename "$deb")"
    rm -rf "$dest/root.new" "$dest/root"
    dpkg -x "$deb" "$dest/root.new"
    mv "$dest/root.new" "$dest/root"
fi

# 5. Modules reachable as /lib/modules/<version> (virtme-ng's --mods auto looks
#    there); leave a real directory alone (that kernel is installed for real).
mods="$dest/root/lib/modules/$kver"
if [ -L "/lib/modules/$kver" ] || [ ! -e "/lib/modules/$kver" ]; then
    mkdir -p /lib/modules
    ln -sfn "$mods" "/lib/modules/$kver"
fi
# Links left by an older kernel of this lane point into $dest/root: drop them.
for link in /lib/modules/*; do
    [ -L "$link" ] && [ ! -e "$link" ] && case "$(readlink "$link")" in "$dest"/*) rm -f "$link";; esac
done
if [ ! -f "/lib/modules/$kver/modules.dep" ]; then
    log "depmod $kver"
    depmod "$kver"
fi

# 6. Record what the lane boots (written last: its presence means "set up").
cat > "$dest/lane.env.new" <<EOF
LANE_KERNEL_PACKAGE=$pkg
LANE_KERNEL_VERSION=$kver
LANE_KERNEL_IMAGE=$dest/root/boot/vmlinuz-$kver
EOF
mv "$dest/lane.env.new" "$dest/lane.env"
log "ready: $pkg"
