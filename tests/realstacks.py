"""The real network stacks, run on files we wrote, inside a throwaway network namespace.

Nothing here touches this machine's network or its configuration: each run is
`ip netns exec NS unshare -m ...`, so every mount is private to a mount
namespace that disappears with its last process, and the daemons only see
the namespace's links.

networkd(ns, files, names): Debian's systemd-networkd (252) configures `ns`
from `files` the way it would at boot, then stops. How it runs without udev or
systemd as PID 1 (checked against systemd 252's source):

- /sys is mounted read-only in the private mount namespace: networkd's
  udev_available() (src/shared/udev-util.c) then says "no udev" (the rule for
  containers), so links are not left "pending udev initialization";
- /etc/systemd/network is a private tmpfs holding only `files` (an overlay on
  /etc where that directory does not exist); /run is a private tmpfs with
  /run/systemd/netif/ for networkd's state files, so no D-Bus, no journal
  and nothing of the host's /run is seen (D-Bus and journal warnings are
  expected and not about our files);
- the systemd-network user: the host's, or one added to a private copy of
  /etc/passwd and /etc/group when the host has none (a machine without systemd).

It waits until every name in `names` is "configured" in networkd's own link
state files (or failed, or `timeout` seconds), stops networkd (which leaves
the configuration in the kernel) and returns its log and those states.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORKD_UNPACKED = ROOT / ".tmp" / "networkd" / "root"   # tests/setup.d/32-networkd.sh, where systemd is not installed
NETWORKD_DIR = "/etc/systemd/network"

# Lines of networkd's log that say it did not take something in a file as written.
PARSER_COMPLAINTS = re.compile(r"Unknown key|Unknown section|Failed to parse|[Ii]nvalid|ignoring|[Cc]annot|[Dd]isabling|"
                               r"conflicts|not supported|Failed")


def networkd_binary() -> str | None:
    """The systemd-networkd to run: the installed one, else the one tests/setup.d/32-networkd.sh unpacked."""
    if os.environ.get("NETSAFE_NETWORKD"):    # a given binary, e.g. the unpacked one on a machine that has systemd
        return os.environ["NETSAFE_NETWORKD"]
    for candidate in ("/lib/systemd/systemd-networkd", str(NETWORKD_UNPACKED / "lib/systemd/systemd-networkd"),
                      str(NETWORKD_UNPACKED / "usr/lib/systemd/systemd-networkd")):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class NetworkdRun:
    log: str
    states: dict                       # link name -> networkd's ADMIN_STATE (missing: the link never appeared)
    timed_out: bool
    files: dict = field(default_factory=dict)

    def complaints(self) -> list:
        """Log lines about our files that say networkd ignored or refused something in them."""
        ours = tuple(f"{NETWORKD_DIR}/{name}" for name in self.files)
        names = set(self.states)
        found = []
        for line in self.log.splitlines():
            about_file = any(p in line for p in ours)
            about_link = any(line.startswith(f"{n}: ") for n in names)
            if (about_file or about_link) and PARSER_COMPLAINTS.search(line):
                found.append(line)
        return found

    def not_configured(self) -> dict:
        return {name: state for name, state in self.states.items() if state != "configured"}


_SCRIPT = r"""
set -eu
work=$1; binary=$2; timeout=$3; shift 3
mount --make-rprivate /
if [ -d /etc/systemd/network ]; then
    mount -t tmpfs -o mode=0755 netsafe-networkd /etc/systemd/network
else
    mkdir -p "$work/etc-upper" "$work/etc-work"
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/etc-upper,workdir=$work/etc-work" /etc
    mkdir -p /etc/systemd/network
fi
cp "$work"/files/* /etc/systemd/network/ 2>/dev/null || true
if ! getent passwd systemd-network >/dev/null; then
    cp /etc/passwd "$work/passwd"; cp /etc/group "$work/group"
    echo 'systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin' >> "$work/passwd"
    echo 'systemd-network:x:998:' >> "$work/group"
    mount --bind "$work/passwd" /etc/passwd; mount --bind "$work/group" /etc/group
fi
mount -t tmpfs -o mode=0755 netsafe-run /run
mkdir -p /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
chown -R systemd-network:systemd-network /run/systemd/netif
# networkd treats udev as absent when /sys is read-only (udev_available(), systemd 252)
mount -o remount,ro /sys 2>/dev/null || mount -t sysfs -o ro sysfs /sys
SYSTEMD_LOG_LEVEL=info SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=0 "$binary" >"$work/log" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' EXIT   # stopped whatever way this script ends
# Builtins only in the loop (but sleep): a process start costs up to a second under emulation (the lane).
state_of() {   # $1: link name -> networkd's ADMIN_STATE, or "absent"
    local idx="" key value
    state=absent
    { read -r idx < "/sys/class/net/$1/ifindex"; } 2>/dev/null || return 0
    [ -f "/run/systemd/netif/links/$idx" ] || return 0
    while IFS='=' read -r key value; do
        [ "$key" = ADMIN_STATE ] && state=$value
    done < "/run/systemd/netif/links/$idx"
    return 0
}
timed_out=1
while [ "$SECONDS" -lt "$timeout" ]; do
    kill -0 "$pid" 2>/dev/null || { timed_out=0; break; }
    pending=0
    for name in "$@"; do
        state_of "$name"
        case "$state" in configured|failed|unmanaged) ;; *) pending=1; break ;; esac
    done
    [ "$pending" -eq 0 ] && { timed_out=0; break; }
    sleep 0.3
done
for name in "$@"; do
    state_of "$name"
    echo "$name $state" >> "$work/states"
done
echo "$timed_out" > "$work/timed_out"
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" || true
"""


def networkd(ns: str, files: dict, names, timeout: int = 300) -> NetworkdRun:
    """Run systemd-networkd in namespace `ns` on `files` ({file name: text}) until every link in `names` is configured.

    Leaves nothing behind but what networkd did to the namespace's links: the
    mounts die with the private mount namespace, the scratch directory is
    removed, and networkd is stopped (killed with its process group if the
    script itself overruns).
    """
    binary = networkd_binary()
    if binary is None:
        raise RuntimeError("systemd-networkd is not here; run bash tests/setup.d/32-networkd.sh")
    work = Path(tempfile.mkdtemp(prefix="netsafe-networkd-"))
    proc = None
    try:
        (work / "files").mkdir()
        for name, text in files.items():
            (work / "files" / name).write_text(text)
        env = dict(os.environ)
        if not binary.startswith("/lib/"):
            env["LD_LIBRARY_PATH"] = f"{NETWORKD_UNPACKED}/usr/lib/x86_64-linux-gnu/systemd"
        cmd = ["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private", "bash", "-c", _SCRIPT, "networkd",
               str(work), binary, str(timeout), *names]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True)
        try:
            out = proc.communicate(timeout=timeout + 30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out = proc.communicate()[0]
            log = (work / "log").read_text() if (work / "log").exists() else ""
            raise RuntimeError(f"networkd run in {ns} did not end: {out}\n{log}") from None
        if proc.returncode != 0:
            raise RuntimeError(f"networkd run in {ns} failed (rc {proc.returncode}): {out}\n"
                               f"{' '.join(shlex.quote(c) for c in cmd[:9])} ...")
        log = (work / "log").read_text() if (work / "log").exists() else ""
        states = {}
        for line in (work / "states").read_text().splitlines() if (work / "states").exists() else []:
            name, _sep, state = line.partition(" ")
            states[name] = state
        timed_out = (work / "timed_out").read_text().strip() == "1" if (work / "timed_out").exists() else True
        return NetworkdRun(log=log, states=states, timed_out=timed_out, files=dict(files))
    finally:
        # networkd shares the script's process group: nothing of the run outlives it, whatever went wrong.
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(work, ignore_errors=True)
