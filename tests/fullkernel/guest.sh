#!/usr/bin/env bash
# Runs inside the full-kernel VM (started by tests/fullkernel/lane.py).
# The guest sees the host's filesystem read-only; $1 is the one directory
# shared read-write (virtme-ng's --rwdir). Inputs: $1/args (pytest arguments,
# one a line) or $1/cmd (a shell command, for debugging). Outputs: $1/started,
# $1/pytest.log, $1/junit.xml, $1/rc (exit code, written last).
set -u
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
: > "$out/started"

# Writable scratch space: /tmp is the host's, read-only. Keep the shared
# directory reachable first, in case it lives under /tmp.
mkdir -p /run/lane/out
mount --bind "$out" /run/lane/out
out=/run/lane/out
# No udev here: /dev/net/tun appears only once its module is loaded (on the
# host a static node triggers the load). `ip tuntap add` needs it. Modules
# load before /tmp is covered: a checkout under /tmp holds the kernel's modules.
modprobe tun 2>/dev/null || true
modprobe overlay 2>/dev/null || true
# A checkout that lives under /tmp (CI may clone there) must stay visible
# through the tmpfs laid over /tmp: move it aside and bind it back.
case "$root/" in
    /tmp/*) mkdir -p /run/lane/checkout; mount --bind "$root" /run/lane/checkout; checkout_in_tmp=1 ;;
    *) checkout_in_tmp=0 ;;
esac
mount -t tmpfs -o mode=1777 tmpfs /tmp
if [ "$checkout_in_tmp" = 1 ]; then
    mkdir -p "$root"
    mount --bind /run/lane/checkout "$root"
fi
mkdir -p /run/netns
# root's home, written by Ansible (~/.ansible/tmp, expanded from the password
# database, not $HOME): the host's /root with a throwaway layer on top.
mkdir -p /tmp/.home/upper /tmp/.home/work
mount -t overlay overlay -o lowerdir=/root,upperdir=/tmp/.home/upper,workdir=/tmp/.home/work /root \
    || mount -t tmpfs -o mode=0700 tmpfs /root

export HOME=/root TMPDIR=/tmp PYTHONDONTWRITEBYTECODE=1
export HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis
export NETSAFE_FULLKERNEL_LANE=1
export PYTHONPATH="$root/tests${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$root/.venv/bin:$PATH"
cd "$root"
uname -r > "$out/kernel"
# What is running, every 20 s: shows where a run that timed out was stuck.
( while sleep 20; do ps -eo pid,etime,time,args > "$out/ps.new" 2>&1 && mv "$out/ps.new" "$out/ps.txt"; done ) &

if [ -f "$out/cmd" ]; then
    bash -c "$(cat "$out/cmd")" 2>&1 | tee "$out/pytest.log"
    rc=${PIPESTATUS[0]}
else
    mapfile -t args < "$out/args"
    "$root/.venv/bin/python" -m pytest -p fullkernel.plugin -p no:cacheprovider \
        --junitxml="$out/junit.xml" "${args[@]}" 2>&1 | tee "$out/pytest.log"
    rc=${PIPESTATUS[0]}
fi
echo "$rc" > "$out/rc"
sync
