#!/usr/bin/env bash
# Runs inside the full-kernel VM (started by tests/fullkernel/lane.py) and
# turns it into a host the tests reach over ssh, like a real hypervisor:
# ansible-playbook runs on the host, only the modules run under emulation.
#
# The guest sees the host's filesystem read-only; $1 is the one directory
# shared read-write (virtme-ng's --rwdir). Inputs there: ssh/sshd_config,
# ssh/host_key, ssh/authorized_keys (written by lane.py). Outputs: started,
# ready (sshd is running), sshd.log, ps.txt, kernel, and stopped (written
# last). The VM powers off when /run/lane/stop exists (lane.py touches it).
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
for mod in tun overlay virtio_net; do modprobe "$mod" 2>/dev/null || true; done
# The root filesystem comes over 9p without any caching (virtme-ng's
# choice): every stat and read is a round trip to the host, which under
# emulation costs milliseconds, and one Python start-up makes hundreds.
# lane.py exports / a second time, read-only, as "netsafe_root"; mounted
# with cache=loose the guest keeps what it has looked up. /usr, the Python
# the venv runs on and the checkout are read from it: none of them changes
# while the VM runs (the guest's outputs go through /run/lane/out, the
# host's inputs arrive over ssh).
# Without that export (an older lane.py) the uncached root serves them.
fast=/run/lane/fast
mkdir -p "$fast"
if mount -t 9p -o trans=virtio,version=9p2000.L,cache=loose,ro,msize=512000,access=any netsafe_root "$fast"; then
    # virtme-ng's module tree is a mount under /usr: carry it over.
    mkdir -p /run/lane/modules
    mount --bind /usr/lib/modules /run/lane/modules
    mount --bind "$fast/usr" /usr
    mount --bind /run/lane/modules /usr/lib/modules
    # The Python installation the venv was made from (its stdlib): on these
    # machines it lives under /root/.pyenv, not under /usr.
    base=$(sed -n 's/^home *= *//p' "$root/.venv/pyvenv.cfg" 2>/dev/null)
    base=${base%/bin}
    case "$base" in
        ""|/usr|/usr/*) ;;
        *) [ -d "$fast$base" ] && mount --bind "$fast$base" "$base" ;;
    esac
    checkout_from="$fast$root"
else
    echo "guest.sh: no cached export of /; the uncached root serves /usr and the checkout" >&2
    checkout_from=$root
fi
# The checkout is bound from there; one that lives under /tmp (CI may clone
# there) must also stay visible through the tmpfs laid over /tmp, so it is
# moved aside first and bound back.
mkdir -p /run/lane/checkout
mount --bind "$checkout_from" /run/lane/checkout
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p "$root"
mount --bind /run/lane/checkout "$root"
mkdir -p /run/netns

# Accounts, seen only by the guest: root gets an empty writable home (the
# host's /root holds shell start-up files that cost seconds per login under
# emulation) and /bin/sh as its shell; key logins need an unlocked root
# entry; sshd needs its privilege-separation user.
mkdir -p /run/lane/home /run/sshd
chmod 0700 /run/lane/home
sed 's|^root:.*|root:x:0:0:root:/run/lane/home:/bin/sh|' /etc/passwd > /run/lane/passwd
grep -q '^sshd:' /run/lane/passwd || echo 'sshd:x:65500:65534::/run/sshd:/usr/sbin/nologin' >> /run/lane/passwd
sed 's/^root:[^:]*:/root:key-only:/' /etc/shadow > /run/lane/shadow
chmod 0600 /run/lane/shadow
mount --bind /run/lane/passwd /etc/passwd
mount --bind /run/lane/shadow /etc/shadow

# What a test command run over ssh needs (lane.py sources this file).
cat > /run/lane/env <<EOF
export HOME=/run/lane/home TMPDIR=/tmp PYTHONDONTWRITEBYTECODE=1
export HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis
export NETSAFE_FULLKERNEL_LANE=1
export PYTHONPATH="$root/tests${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$root/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
cd "$root"
EOF
uname -r > "$out/kernel"

# The guest's only link: qemu's user-mode network (restricted: it reaches
# nothing outside), with the host's forwarded port arriving on 22.
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
sshd_root="$root/.tmp/fullkernel/sshd"
LD_LIBRARY_PATH="$sshd_root/usr/lib/x86_64-linux-gnu" \
    "$sshd_root/usr/sbin/sshd" -D -e -f "$out/ssh/sshd_config" > "$out/sshd.log" 2>&1 &
: > "$out/ready"

# What is running, every 20 s: shows where a run that timed out was stuck.
( while sleep 20; do ps -eo pid,etime,time,args > "$out/ps.new" 2>&1 && mv "$out/ps.new" "$out/ps.txt"; done ) &

while [ ! -e /run/lane/stop ]; do sleep 1; done
: > "$out/stopped"
sync
