"""The real network stacks' own tools, run against files we wrote, without touching this machine.

Each is unpacked from Debian's packages by a hook in tests/setup.d/ (never installed) and runs inside
a throwaway network namespace with a private mount namespace, so that every mount disappears with its
last process and the tools only see the namespace's links. One section per stack.

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

netplan (tests/setup.d/34-netplan.sh): `netplan_generate(files)` runs Debian's
netplan generator on netplan files in a scratch root and returns what it wrote
(the networkd or NetworkManager files netplan makes of them), so tests parse
those and compare with what we meant. No network is touched.

NetworkManager (tests/setup.d/31-networkmanager.sh): `nmcli_offline(text)`
gives NetworkManager's own reading of a keyfile (its keyfile reader, no
daemon, no D-Bus), normalised, so tests compare what it understood with what
we meant. It silently drops invalid values: compare, never trust its exit code.

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

import json
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


IFUPDOWN2_ROOT = ROOT / ".tmp" / "ifupdown2" / "root"
IFUPDOWN2_MAIN = IFUPDOWN2_ROOT / "usr" / "share" / "ifupdown2" / "__main__.py"
SETUP_HOOK = "tests/setup.d/30-ifupdown2.sh"
IFUPDOWN2_PROGRAMS = ("ifquery", "ifup", "ifdown", "ifreload")

# Runs as `sh -c SCRIPT sh SCRATCH PKG FILES PROGRAM ARGS...` in the private mount namespace.
_IFUPDOWN2_SCRIPT = r"""
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
if [ -n "${NETSAFE_IFUPDOWN2_DRIVER:-}" ]; then
    PYTHONPATH="$pkg/usr/share" exec python3 "$NETSAFE_IFUPDOWN2_DRIVER" "$scratch/bin/$prog" "$@"
fi
PYTHONPATH="$pkg/usr/share" exec python3 "$scratch/bin/$prog" "$@"
"""


class Ifupdown2Missing(RuntimeError):
    """The unpacked ifupdown2 is not there: its setup hook has not run."""


def ifupdown2_root() -> Path:
    """The unpacked package, or Ifupdown2Missing naming the hook that makes it."""
    if not IFUPDOWN2_MAIN.is_file():
        raise Ifupdown2Missing(f"{IFUPDOWN2_MAIN.relative_to(ROOT)} is missing: run {SETUP_HOOK} (or tests/run-all.sh)")
    return IFUPDOWN2_ROOT


def ifupdown2(ns: str, args, files_root, *, check: bool = False, timeout: float = 600,
              driver: str | None = None) -> subprocess.CompletedProcess:
    """Run ifupdown2's `args[0]` (ifquery, ifup, ifdown, ifreload) with `args[1:]` inside namespace `ns`.

    `files_root`: a directory holding the host's network files at their host
    paths (files_root/etc/network/interfaces, ...). `check`: raise on a
    non-zero exit, with ifupdown2's output in the message. `driver`: a Python
    file run instead, in the same place, as `driver PROGRAM ARGS...` (PROGRAM:
    the path ifupdown2 is started by, which decides what it does).
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
               "sh", "-c", _IFUPDOWN2_SCRIPT, "sh", scratch, str(pkg), str(files_root), program, *rest]
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        if driver:
            env["NETSAFE_IFUPDOWN2_DRIVER"] = driver
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
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


# Imports ifupdown2 once, then forks one `ifup -a --syntax-check -i FILE` per file: the start-up (imports,
# about 0.3 s a run) is paid once for a whole corpus. Each child is a fresh copy of the parent.
_SYNTAX_DRIVER = r"""
import json, os, sys
program, out, *paths = sys.argv[1:]
import ifupdown2.__main__ as entry
import ifupdown2.ifupdown.main as ifmain
from ifupdown2.ifupdown.ifupdownmain import ifupdownMain
from ifupdown2.lib.nlcache import NetlinkListenerWithCache

# Loading the addons (importing them and making each one, which runs a few commands) is most of a run: done
# once, by the first run, then every forked child starts with them made.
_load, _made = ifupdownMain.load_addon_modules, {}


def load_once(self, modules_dir_list):
    if not _made:
        _load(self, modules_dir_list)
        _made.update(modules=self.modules, ops=self.module_ops, attrs=self.module_attrs,
                     scripts=self.overridden_ifupdown_scripts)
        return
    self.modules.update(_made["modules"])
    self.module_ops.update(_made["ops"])
    self.module_attrs.update(_made["attrs"])
    self.overridden_ifupdown_scripts.extend(_made["scripts"])


ifupdownMain.load_addon_modules = load_once


def check(path):
    sys.argv = [program, "-a", "--syntax-check", "-i", path]
    try:
        return entry.main()
    except SystemExit as exc:
        return exc.code


def logged(log, run):
    # run() with stdout and stderr (the file descriptors) going to `log`; its exit code.
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    kept = os.dup(1), os.dup(2)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        code = run()
    except BaseException:
        code = 99
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(kept[0], 1)
        os.dup2(kept[1], 2)
        os.close(fd)
    return code if isinstance(code, int) else 1


warm = out + ".warm"
with open(warm, "w") as handle:
    handle.write("auto lo\niface lo inet loopback\n")
logged(out + ".log", lambda: check(warm))   # in this process: the addons are made here, once
results = {}
for path in paths:
    pid = os.fork()
    if pid == 0:
        ifmain.lockfile += f".{os.getpid()}"   # the first run's lock is still held (by this process's parent)
        # Stopping the netlink listener thread waits for its poll timeout; the child ends with os._exit anyway.
        NetlinkListenerWithCache.cleanup = lambda self: None
        os._exit(logged(out + ".log", lambda: check(path)))
    _pid, status = os.waitpid(pid, 0)
    with open(out + ".log") as handle:
        results[path] = [os.waitstatus_to_exitcode(status), handle.read()]
with open(out, "w") as handle:
    json.dump(results, handle)
"""


def ifupdown2_syntax_checks(ns: str, paths, files_root) -> dict:
    """{path: (passed, output)}: Debian's `ifup -a --syntax-check -i PATH` for each path (absolute, on this
    machine), in one sandbox and one ifupdown2 start. Passed means exit status 0, which ifupdown2 gives when
    it found neither an error nor a warning."""
    scratch = tempfile.mkdtemp(prefix="netsafe-ifsyntax-")
    try:
        driver, out = os.path.join(scratch, "driver.py"), os.path.join(scratch, "results.json")
        with open(driver, "w", encoding="utf-8") as handle:
            handle.write(_SYNTAX_DRIVER)
        proc = ifupdown2(ns, ["ifup", out, *map(str, paths)], files_root, driver=driver)
        if not os.path.exists(out):
            raise RuntimeError(f"the syntax-check driver wrote no results (rc {proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}")
        with open(out, encoding="utf-8") as handle:
            return {path: (code == 0, text) for path, (code, text) in json.load(handle).items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- NetworkManager (tests/setup.d/31-networkmanager.sh) ------------------------------------------

NM_ROOT = ROOT / ".tmp" / "networkmanager" / "root"
NMCLI = NM_ROOT / "usr" / "bin" / "nmcli"


class NmcliRefused(Exception):
    """nmcli's keyfile reader or libnm's verify() refused the profile; the message is nmcli's."""


def nmcli_available() -> bool:
    return NMCLI.is_file()


def nmcli_offline(keyfile_text: str, *args: str, timeout: float = 30) -> str:
    """NetworkManager's normalised keyfile for `keyfile_text`, as its own reader understood it.

    Runs Debian's `nmcli --offline connection modify` (NetworkManager 1.42.4)
    with the profile on stdin: nmcli reads it through libnm's keyfile reader
    (nm_keyfile_read), normalises and verifies it (nm_connection_normalize)
    and prints the keyfile libnm would write. No daemon, no D-Bus, nothing
    written. `args` are the property changes to make (`setting.property value`
    pairs); by default the profile's own connection.id is set again, a no-op.

    Careful (checked with NetworkManager 1.42.4): the reader silently drops values it cannot use
    (a bad `stp=` or an out-of-range number vanishes, exit code 0). Never trust
    the exit code alone: compare the printed profile with what was meant.
    Raises NmcliRefused when nmcli fails (verify() errors do fail).
    """
    if not args:
        match = re.search(r"^\s*id\s*=\s*(.*)$", keyfile_text, re.M)
        args = ("connection.id", match.group(1).strip() if match else "netsafe-test")
    env = dict(os.environ, LD_LIBRARY_PATH=str(NM_ROOT / "usr" / "lib" / "x86_64-linux-gnu"), LC_ALL="C")
    proc = subprocess.run([str(NMCLI), "--offline", "connection", "modify", *args], input=keyfile_text,
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise NmcliRefused(f"nmcli --offline exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


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


_NETWORKD_SCRIPT = r"""
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
        cmd = ["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private", "bash", "-c", _NETWORKD_SCRIPT, "networkd",
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


# -- netplan (tests/setup.d/34-netplan.sh) --------------------------------------------------------------

NETPLAN_ROOT = ROOT / ".tmp" / "netplan" / "root"
NETPLAN_GENERATE = NETPLAN_ROOT / "usr" / "libexec" / "netplan" / "generate"


def netplan_available() -> bool:
    return NETPLAN_GENERATE.is_file()


@dataclass
class NetplanRun:
    """What `generate` did: its exit code and messages, and every file it wrote ({path under the scratch /: text})."""

    returncode: int
    stderr: str
    generated: dict = field(default_factory=dict)

    def networkd_files(self) -> dict:
        """{/run/systemd/network/NAME: text} of the .netdev and .network files (the .link files left out)."""
        return {p: t for p, t in self.generated.items()
                if p.startswith("/run/systemd/network/") and p.endswith((".netdev", ".network"))}


def netplan_generate(files: dict, mode: int = 0o600, timeout: float = 60) -> NetplanRun:
    """Debian's netplan generator (netplan.io 0.106, C: libnetplan) run on `files` ({/etc/netplan/NAME: text}).

    The files go into a scratch root with `mode`; `generate --root-dir` reads its etc/netplan/*.yaml, merges
    them as on a host and writes run/systemd/network/10-netplan-* (networkd renderer) or
    run/NetworkManager/system-connections/netplan-* (NetworkManager renderer) there. Nothing outside the scratch
    directory is read or written, no network is touched, and the scratch is removed afterwards.
    """
    scratch = Path(tempfile.mkdtemp(prefix="netsafe-netplan-"))
    try:
        for path, text in files.items():
            real = scratch / path.lstrip("/")
            real.parent.mkdir(parents=True, exist_ok=True)
            real.write_text(text)
            real.chmod(mode)
        env = dict(os.environ, LD_LIBRARY_PATH=str(NETPLAN_ROOT / "usr" / "lib" / "x86_64-linux-gnu"), LC_ALL="C")
        proc = subprocess.run([str(NETPLAN_GENERATE), "--root-dir", str(scratch)], capture_output=True, text=True,
                              env=env, timeout=timeout, check=False)
        generated = {}
        for base, _dirs, names in os.walk(scratch / "run"):
            for name in names:
                full = Path(base) / name
                if not full.is_symlink():   # the .wants links point at /run/... as the host sees it
                    generated["/" + str(full.relative_to(scratch))] = full.read_text()
        return NetplanRun(proc.returncode, proc.stderr, generated)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
