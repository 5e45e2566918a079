"""The real network stacks' own tools, run against files we wrote, without touching this machine.

ifupdown2 (Debian's, unpacked by tests/setup.d/30-ifupdown2.sh, never
installed): `ifupdown2(ns, ["ifquery", "-a"], files_root)` runs ifquery, ifup,
ifdown or ifreload inside network namespace `ns`, in a private mount
namespace where
- /etc is an overlay (writes vanish with the process) whose /etc/network holds
  the package's own /etc/network (ifupdown2.conf, addons.conf) and then every
  file under `files_root`/etc (the host's files as a scratch tree: `files_root`
  is what the format's `root` is);
- /run and /var/tmp are empty tmpfs (ifupdown2's lock, state and cache dirs:
  /run/network, /var/tmp/network), so nothing is left on this machine.
Works the same in the full-kernel VM (the host's filesystem is read-only
there; /tmp is a tmpfs). ifupdown2 keeps no state between two calls: each one
starts as on a freshly booted host.

`ifquery_parses(files_root)` is the parse-only check: (True, output) when
ifupdown2's parser read every file without an error or warning.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IFUPDOWN2_ROOT = ROOT / ".tmp" / "ifupdown2" / "root"
IFUPDOWN2_MAIN = IFUPDOWN2_ROOT / "usr" / "share" / "ifupdown2" / "__main__.py"
SETUP_HOOK = "tests/setup.d/30-ifupdown2.sh"
IFUPDOWN2_PROGRAMS = ("ifquery", "ifup", "ifdown", "ifreload")

# Runs as `sh -c SCRIPT sh SCRATCH PKG FILES PROGRAM ARGS...` in the private mount namespace.
_SCRIPT = r"""
set -e
scratch=$1 pkg=$2 files=$3 prog=$4
shift 4
mount -t tmpfs netsafe-ifupdown2 "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/bin"
mount -t overlay netsafe-etc -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc
rm -rf /etc/network
mkdir -p /etc/network
cp -a "$pkg/etc/network/." /etc/network/
if [ -d "$files/etc" ]; then cp -a "$files/etc/." /etc/; fi
mount -t tmpfs netsafe-run /run
mkdir -p /run/network
mount -t tmpfs netsafe-vartmp /var/tmp
ln -s "$pkg/usr/share/ifupdown2/__main__.py" "$scratch/bin/$prog"
cd /
PYTHONPATH="$pkg/usr/share" exec python3 "$scratch/bin/$prog" "$@"
"""


class Ifupdown2Missing(RuntimeError):
    """The unpacked ifupdown2 is not there: its setup hook has not run."""


def ifupdown2_root() -> Path:
    """The unpacked package, or Ifupdown2Missing naming the hook that makes it."""
    if not IFUPDOWN2_MAIN.is_file():
        raise Ifupdown2Missing(f"{IFUPDOWN2_MAIN.relative_to(ROOT)} is missing: run {SETUP_HOOK} (or tests/run-all.sh)")
    return IFUPDOWN2_ROOT


def ifupdown2(ns: str, args, files_root, *, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ifupdown2's `args[0]` (ifquery, ifup, ifdown, ifreload) with `args[1:]` inside namespace `ns`.

    `files_root`: a directory holding the host's network files at their host
    paths (files_root/etc/network/interfaces, ...). `check`: raise on a
    non-zero exit, with ifupdown2's output in the message.
    """
    if not ns:
        raise RuntimeError("refusing to run ifupdown2 outside a throwaway network namespace")
    program, *rest = list(args)
    if program not in IFUPDOWN2_PROGRAMS:
        raise ValueError(f"{program!r} is not one of {', '.join(IFUPDOWN2_PROGRAMS)}")
    pkg = ifupdown2_root()
    scratch = tempfile.mkdtemp(prefix="netsafe-ifupdown2-")
    try:
        cmd = ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
               "sh", "-c", _SCRIPT, "sh", scratch, str(pkg), str(files_root), program, *rest]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "LC_ALL": "C.UTF-8"})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{program} {shlex.join(rest)}` in {ns} failed (rc {proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc


def ifquery_parses(files_root, ns: str | None = None, interfaces: str = "/etc/network/interfaces") -> tuple:
    """(parsed cleanly, ifquery's output): `ifquery -a -i FILE` in a namespace made for it (or `ns`).

    ifupdown2 prints "error:" or "warning:" lines for what it cannot read and
    still goes on; either counts as "does not parse" here.
    """
    own = ns is None
    if own:
        ns = f"nsifq{os.getpid()}x{os.urandom(3).hex()}"
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        proc = ifupdown2(ns, ["ifquery", "-a", "-i", interfaces], files_root)
    finally:
        if own:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
    out = proc.stdout + proc.stderr
    bad = proc.returncode != 0 or any(line.lstrip().startswith(("error", "warning")) for line in out.splitlines())
    return not bad, out
