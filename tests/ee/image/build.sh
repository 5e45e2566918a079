#!/usr/bin/env bash
# Build an execution environment (EE) image with this collection, offline, with podman,
# and prove that the collection, pyvmomi and the SSH client are in it.
#
# No container registry is needed: the base image is a Debian bookworm minbase made
# with debootstrap on the host and imported into podman; every pip install inside the
# build is served from wheels downloaded on the host (mounted read-only at /wheels);
# every container, build steps included, runs with `--network none`.
#
# Needs: root; apt packages `podman runc debootstrap`
#   (apt-get install -y --no-install-recommends podman runc debootstrap);
#   the checkout's .venv with ansible-core and ansible-builder (3.x);
#   the Debian mirror (debootstrap) and a pip index (pip download) reachable from the host.
#
# Writes only under $EE_IMAGE_WORKDIR (default <checkout>/.tmp/ee-image) and podman's
# storage. Cached there between runs: the base rootfs tarball and the wheels.
#
# Usage: tests/ee/image/build.sh [--clean]
#   --clean   at the end, remove the EE image, its build-stage images and the base image
#             from podman's storage (the tarball and wheels cache stays in the work dir)
#
# Environment (all optional):
#   EE_IMAGE_WORKDIR  work/cache directory            (<checkout>/.tmp/ee-image)
#   EE_IMAGE_TAG      tag of the EE image              (localhost/netsafe-hypervisor-ee:test)
#   EE_BASE_TAG       tag of the imported base image   (localhost/netsafe-ee-base:bookworm)
#   DEBIAN_MIRROR     debootstrap mirror               (http://deb.debian.org/debian)
#   PODMAN_RUNTIME    OCI runtime                      (runc; crun fails on cgroups v1/hybrid)
#   PODMAN_ULIMITS    --ulimit flags (needed where the runtime may not raise rlimits)
#   ANSIBLE_CORE_VERSION / ANSIBLE_RUNNER_VERSION  (2.19.14 / 2.4.3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
WORK="${EE_IMAGE_WORKDIR:-$ROOT/.tmp/ee-image}"
IMAGE="${EE_IMAGE_TAG:-localhost/netsafe-hypervisor-ee:test}"
BASE="${EE_BASE_TAG:-localhost/netsafe-ee-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RUNTIME="${PODMAN_RUNTIME:-runc}"
read -r -a ULIMITS <<<"${PODMAN_ULIMITS:---ulimit nofile=20000:20000 --ulimit nproc=32768:32768}"
CORE="${ANSIBLE_CORE_VERSION:-2.19.14}"
RUNNER="${ANSIBLE_RUNNER_VERSION:-2.4.3}"
SUITE=bookworm
BASE_PACKAGES=python3,python3-pip,python3-venv,openssh-client
DUMB_INIT=dumb-init==1.2.5   # ansible-builder 3's default options.container_init

CLEAN=0
for arg in "$@"; do
  case "$arg" in
    --clean) CLEAN=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

BIN="$ROOT/.venv/bin"
[ -x "$BIN/ansible-builder" ] || BIN="$(dirname "$(command -v ansible-builder)")"
[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (debootstrap, rootful podman)" >&2; exit 1; }
for cmd in podman "$RUNTIME" debootstrap; do
  command -v "$cmd" >/dev/null || {
    echo "build.sh: $cmd missing: apt-get install -y --no-install-recommends podman runc debootstrap" >&2; exit 1; }
done

# shellcheck source=../../setup/rootfs.sh
. "$ROOT/tests/setup/rootfs.sh"
log() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
mkdir -p "$WORK"

# --- 1. base image: debootstrap minbase + python3/pip/venv + ssh client, cached as a tarball
key="$(printf '%s\n' "$SUITE" "$BASE_PACKAGES" | sha256sum | cut -c1-12)"
tarball="$WORK/base-$SUITE-$key.tar"
if [ ! -s "$tarball" ]; then
  log "debootstrap $SUITE"
  rootfs_tarball "$SUITE" "$BASE_PACKAGES" "$tarball" "$MIRROR"
fi
if ! podman image exists "$BASE"; then
  log "podman import $BASE"
  podman import --change 'CMD ["bash"]' "$tarball" "$BASE" >/dev/null
fi

# --- 2. wheels for everything pip installs inside the build (Python 3.11, manylinux x86_64)
reqs=("ansible-core==$CORE" "ansible-runner==$RUNNER" bindep pyyaml packaging "$DUMB_INIT")
while read -r line; do
  line="${line%%#*}"; line="${line//[[:space:]]/}"
  [ -n "$line" ] && reqs+=("$line")
done <"$ROOT/meta/ee-requirements.txt"
wkey="$(printf '%s\n' "${reqs[@]}" | sha256sum | cut -c1-12)"
wheels="$WORK/wheels-$wkey"
if [ ! -e "$wheels/.complete" ]; then
  log "pip download ${reqs[*]}"
  rm -rf "$wheels"
  "$BIN/python" -m pip download --quiet --disable-pip-version-check -d "$wheels" \
    --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64 \
    "${reqs[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  touch "$wheels/.complete"
fi

# --- 3. collection tarball, EE definition (schema v3), build context
log "ansible-galaxy collection build + ansible-builder create"
ee="$WORK/ee"
rm -rf "$ee"; mkdir -p "$ee"
"$BIN/ansible-galaxy" collection build --output-path "$ee" "$ROOT" >/dev/null
collection="$(cd "$ee" && ls netsafe-hypervisor-*.tar.gz)"
cat >"$ee/execution-environment.yml" <<EOF
---
version: 3
images:
  base_image:
    name: $BASE
dependencies:
  ansible_core:
    package_pip: ansible-core==$CORE
  ansible_runner:
    package_pip: ansible-runner==$RUNNER
  galaxy:
    collections:
      - name: /build/collections/$collection
        type: file
additional_build_files:
  - src: $collection
    dest: collections
additional_build_steps:
  prepend_base:
    # offline: every pip install of the build reads the wheels podman mounts at /wheels
    - RUN printf '[global]\\nno-index = true\\nfind-links = /wheels\\n' > /etc/pip.conf
  append_final:
    - RUN rm -f /etc/pip.conf
options:
  package_manager_path: /usr/bin/apt-get   # bindep's system packages (openssh-client) on Debian
  skip_pip_install: true                   # Debian's python3-pip is in the base
EOF
"$BIN/ansible-builder" create -f "$ee/execution-environment.yml" -c "$ee/context" >/dev/null

# --- 4. build, with no network
log "podman build $IMAGE"
before="$(podman images -q --filter dangling=true | sort -u)"
podman build --pull=never --layers=false --runtime "$RUNTIME" --network none "${ULIMITS[@]}" \
  --volume "$wheels:/wheels:ro" \
  -f "$ee/context/Containerfile" -t "$IMAGE" "$ee/context"
stages="$(comm -13 <(printf '%s\n' "$before") <(podman images -q --filter dangling=true | sort -u) | grep . || true)"

# --- 5. prove what is in it
log "check $IMAGE"
run() { podman run --rm --runtime "$RUNTIME" --network none "${ULIMITS[@]}" "$IMAGE" "$@"; }
run ansible-galaxy collection list netsafe.hypervisor | grep -E '^netsafe\.hypervisor +[0-9]'
run ansible-doc -l netsafe.hypervisor | grep -q '^netsafe.hypervisor.vcenter_retry_connect '
run python3 -c 'import pyVmomi, ansible_runner; print("pyVmomi", pyVmomi.__file__)'
run ssh -V
run ansible --version | head -1
podman image inspect "$IMAGE" --format "$IMAGE {{.Size}} bytes"

if [ "$CLEAN" = 1 ]; then
  log "clean"
  podman rmi "$IMAGE" >/dev/null
  # shellcheck disable=SC2086
  [ -z "$stages" ] || podman rmi $stages >/dev/null 2>&1 || true
  podman rmi "$BASE" >/dev/null 2>&1 || true
fi
log "done"
