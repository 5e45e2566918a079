#!/usr/bin/env bash
# Build the systemd test host's image (tests/systemdhost.py, docs/testing.md "The systemd host"):
# Debian 12 with systemd as PID 1, dbus, sshd, python3, and every network stack netsafe writes
# files for, all from Debian's packages: ifupdown2, NetworkManager, systemd-networkd (part of
# systemd) and netplan.io. Offline for podman: the rootfs is made with debootstrap on this machine
# and imported (no container registry is reachable here).
#
# Every stack is installed and none is enabled: a test enables the one it boots with
# (SystemdHost.use_stack). The image differs from a stock Debian host in three lab-only ways:
#   - /etc/NetworkManager/conf.d/90-netsafe-lab.conf: no-auto-default=* (NM would otherwise
#     DHCP every NIC the lab plugs in as "Wired connection N");
#   - netsafe-lab-procsys.service remounts /proc/sys/net read-write at boot (podman mounts
#     /proc/sys read-only; /proc/sys/net is per network namespace, so this reaches only the
#     container's own network, never the machine's);
#   - netsafe-lab-boot-id.service gives each boot its own boot id (bound over
#     /proc/sys/kernel/random/boot_id in the container only): the container shares this machine's
#     kernel, whose boot id a container restart would not change, and a reboot is what netsafe's
#     checkpoints and journalctl -b tell apart by it;
#   - timers and gettys that do nothing useful in a test host are off.
#
# Cached: the tarball under $SYSTEMD_HOST_WORKDIR (default <checkout>/.tmp/systemd-host) and the
# podman image, both named by a hash of this file. Prints the image's name as its last line.
# Needs root, podman, runc, debootstrap (tests/setup.d/50-ee-image.sh installs them) and the
# Debian mirror.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${SYSTEMD_HOST_WORKDIR:-$ROOT/.tmp/systemd-host}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
BASE_PACKAGES=systemd,systemd-sysv,dbus,iproute2,python3,openssh-server,iputils-ping,procps
STACK_PACKAGES="ifupdown2 network-manager netplan.io"
KEY="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
IMAGE="localhost/netsafe-systemd-host:$KEY"

[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (debootstrap, rootful podman)" >&2; exit 1; }
for cmd in podman runc debootstrap; do
  command -v "$cmd" >/dev/null || { echo "build.sh: $cmd missing: run tests/setup/bootstrap.sh" >&2; exit 1; }
done
# shellcheck source=../setup/rootfs.sh
. "$ROOT/tests/setup/rootfs.sh"
log() { printf '== %s (%ss)\n' "$*" "$SECONDS" >&2; }

customize() {
  local r=$1
  # Packages' maintainer scripts must not start daemons on this machine: policy-rc.d says no.
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 0755 "$r/usr/sbin/policy-rc.d"
  mount --bind /proc "$r/proc"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  chroot "$r" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends -o Dpkg::Use-Pty=0 $STACK_PACKAGES >/dev/null"
  umount "$r/proc"
  rm -f "$r/usr/sbin/policy-rc.d" "$r/etc/resolv.conf"
  chroot "$r" systemctl disable --quiet NetworkManager.service NetworkManager-wait-online.service \
      networking.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
      dpkg-db-backup.timer 2>/dev/null || true
  chroot "$r" systemctl mask --quiet getty@tty1.service console-getty.service e2scrub_reap.service
  printf '[main]\nno-auto-default=*\n' >"$r/etc/NetworkManager/conf.d/90-netsafe-lab.conf"
  cat >"$r/etc/systemd/system/netsafe-lab-procsys.service" <<'UNIT'
[Unit]
Description=netsafe lab: /proc/sys/net writable (podman mounts /proc/sys read-only)
DefaultDependencies=no
Before=sysinit.target network-pre.target systemd-networkd.service NetworkManager.service networking.service
ConditionPathIsReadWrite=!/proc/sys/net

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mount --bind /proc/sys/net /proc/sys/net
ExecStart=/bin/mount -o remount,bind,rw /proc/sys/net

[Install]
WantedBy=sysinit.target
UNIT
  cat >"$r/etc/systemd/system/netsafe-lab-boot-id.service" <<'UNIT'
[Unit]
Description=netsafe lab: a boot id of this boot (the container shares the machine's kernel and its boot id)
DefaultDependencies=no
Before=sysinit.target systemd-journald.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'cat /proc/sys/kernel/random/uuid > /run/netsafe-lab-boot-id && mount --bind /run/netsafe-lab-boot-id /proc/sys/kernel/random/boot_id'

[Install]
WantedBy=sysinit.target
UNIT
  chroot "$r" systemctl enable --quiet netsafe-lab-procsys.service netsafe-lab-boot-id.service
  printf 'UseDNS no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n' \
      >"$r/etc/ssh/sshd_config.d/90-netsafe-lab.conf"
  mkdir -p -m 0700 "$r/root/.ssh"
  echo "netsafe-systemd-host" >"$r/etc/hostname"
}

mkdir -p "$WORK"
exec 9>"$WORK/.build.lock"
flock 9   # one build at a time (two test sessions may start at once); the second finds the image
if podman image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi
tarball="$WORK/rootfs-$SUITE-$KEY.tar"
if [ ! -s "$tarball" ]; then
  log "debootstrap $SUITE with systemd, sshd and the network stacks"
  rm -f "$WORK"/rootfs-*.tar   # older builds of this file
  rootfs_tarball "$SUITE" "$BASE_PACKAGES" "$tarball" "$MIRROR" customize >&2
fi
log "podman import $IMAGE"
podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3' "$tarball" "$IMAGE" >/dev/null
for old in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/netsafe-systemd-host:' | grep -v ":$KEY\$" || true); do
  podman rmi "$old" >/dev/null 2>&1 || true
done
echo "$IMAGE"
