#!/usr/bin/env bash
# What tests/ee/image/build.sh needs to build the execution environment image
# (tests/ee/test_ee_image.py): podman with the runc runtime (crun fails on this
# machine kind's cgroup layout) and debootstrap for a local base image, as no
# container registry is reachable. Installing them creates no network: every
# container of the build runs with --network none.
# Idempotent: skipped when all three are there.
set -euo pipefail
log() { echo "50-ee-image.sh: $*"; }

command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null && exit 0

log "installing podman, runc, debootstrap"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 podman runc debootstrap >/dev/null
log "ready: $(podman --version), $(runc --version | head -1)"
