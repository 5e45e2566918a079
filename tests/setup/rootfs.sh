# Sourced by the image builds (tests/ee/image/build.sh, tests/systemdhost/build.sh): a Debian
# rootfs made with debootstrap on this machine, packed as a tarball for `podman import`, because no
# container registry is reachable here. Defines one function.
#
# rootfs_tarball SUITE PACKAGES TARBALL MIRROR [CUSTOMIZE]
#   debootstrap --variant=minbase --include=PACKAGES SUITE into a scratch directory next to TARBALL,
#   run CUSTOMIZE (a shell command, given the rootfs path as $1) if any, drop caches and docs, write
#   TARBALL atomically. Nothing is done when TARBALL exists (the cache). debootstrap's own mounts
#   inside the scratch rootfs are unmounted before anything is removed, also on failure.

rootfs_tarball() {
  local suite=$1 packages=$2 tarball=$3 mirror=$4 customize=${5:-}
  [ -s "$tarball" ] && return 0
  local rootfs="$tarball.rootfs"
  _rootfs_unmount() {
    local m
    for m in $(findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r || true); do umount -l "$m" || true; done
  }
  trap _rootfs_unmount EXIT
  _rootfs_unmount
  rm -rf --one-file-system "$rootfs"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror"
  if [ -n "$customize" ]; then
    $customize "$rootfs"
  fi
  _rootfs_unmount
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
         "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
  mkdir -p "$rootfs/var/lib/apt/lists/partial"
  tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf --one-file-system "$rootfs"
  trap - EXIT
}
