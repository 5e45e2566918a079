r"""A lab where the Ansible controller reaches the lab hypervisor over SSH through the network being changed.

Four throwaway network namespaces per lab, named `<prefix>-sw`, `<prefix>-ctl`, `<prefix>-hv` and
`<prefix>-dead` (interface names need no prefix: each lives in its own namespace):

    ctl (controller)           sw (switch + router)                 hv (hypervisor)
    eth0 10.77.0.10/24 ---- ctl0 \                          /- eno1 -- vmbr0 10.77.0.2/24, 2001:db8:77::2/64
         default via .1           br0 10.77.0.1/24 ------- hv1   |     (MAC 02:77:00:00:00:02, STP off, fd 0)
                                      2001:db8:77::1/64 -- hv2 --+- eno2   ports: eno1, tap100i0, tap101i0 ...
                                                                 eno3 ---- dead: eth0 (nothing behind it)

- `hv`'s vmbr0 starts with eno1 as its port; eno2 is a second good uplink; eno3 leads to a namespace with
  nothing in it, so a bridge moved there has no path to the gateway or the controller.
- vmbr0's MAC is fixed (02:77:00:00:00:02, as Proxmox VE does), so it does not follow its lowest port's
  MAC when the port changes (the controller's ARP entry stays right).
- hv answers ARP for its address only on vmbr0 (arp_ignore=1): with Linux's default its NICs outside the
  bridge answer too, with their own MACs, and traffic would enter hv around vmbr0.
- The switch learns MACs like a real one (`switch_ageing`, default 300 s): after vmbr0 moves from eno1 to
  eno2, frames for vmbr0 go on to eno1's switch port until hv sends something out of eno2 (or the entry
  ages out). Seen here: when vmbr0 loses carrier during the move (the lab's taps have no guest process,
  so they give no carrier) hv sends frames of its own as carrier returns and the switch relearns at
  once; when vmbr0 keeps carrier (another port up, as running guests do on a real host) SSH stays cut
  until hv sends something (test_sshlab.py::test_switch_keeps_a_stale_entry_while_vmbr0_keeps_carrier).
- Debian's sshd (unpacked by tests/setup.d/33-openssh.sh, never installed) runs in hv's network namespace
  and in its own private mount namespace (mounts propagate into it from the host, never out of it):
  /etc is an overlay (the `sshd` privilege-separation user is added there when the host has none),
  /run is a tmpfs (holding /run/sshd), /var/lib is an overlay, and the lab's own directories are bound
  over /run/netsafe (`lab.run_dir`) and /var/lib/netsafe (`lab.state_dir`). Every process sshd starts
  (modules, a watchdog detached with setsid) inherits the network and mount namespaces. Nothing is
  created on the real filesystem outside the lab's directory and /tmp/netsafe-sshlab/ (locks).
- Labs are numbered: the first free `sl<n>` whose lock (an flock on /tmp/netsafe-sshlab/sl<n>.lock,
  held for the lab's life) is not held by a live process. A lab left by a crashed run has a free lock:
  its namespaces, processes and directory are removed before the number is used again.

Usage:

    with SshLab(guests=2) as lab:
        proc, results = lab.playbook(text)
        assert lab.ssh("true").returncode == 0
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from nstools import kernel_state, settled_state

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".tmp" / "collections"
VENV_BIN = ROOT / ".venv" / "bin"
OPENSSH_ROOT = ROOT / ".tmp" / "openssh" / "root"
SSHD = OPENSSH_ROOT / "usr" / "sbin" / "sshd"
SETUP_HOOK = "tests/setup.d/33-openssh.sh"
LAB_BASE = ROOT / ".tmp" / "sshlab"
LOCK_DIR = Path("/tmp/netsafe-sshlab")
ROLES = ("sw", "ctl", "hv", "dead")

SUBNET4 = "10.77.0.0/24"
GATEWAY4 = "10.77.0.1"
GATEWAY6 = "2001:db8:77::1"
CONTROLLER4 = "10.77.0.10"
HV4 = "10.77.0.2"
HV6 = "2001:db8:77::2"
HV_BRIDGE_MAC = "02:77:00:00:00:02"
NIC_MACS = {"eno1": "02:77:00:00:01:01", "eno2": "02:77:00:00:01:02", "eno3": "02:77:00:00:01:03"}

SSH_COMMON_ARGS = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ServerAliveInterval=2 "
                   "-o ServerAliveCountMax=3 -o ConnectTimeout=5")

_LIVE: set = set()   # labs of this process, closed at exit whatever happened


class SshLabMissing(RuntimeError):
    """The unpacked sshd is not there: its setup hook has not run."""


# Runs as `sh -c SCRIPT sh LABDIR SSHD_ROOT` inside hv's network namespace, in a new mount namespace
# whose mounts are slaves of the host's: the host's unmounts (an `ip netns del`) reach it, its own
# mounts never reach the host. Ends by exec'ing sshd, so sshd is this process.
_SSHD_SCRIPT = r"""
set -eu
lab=$1 pkg=$2
scratch=$lab/mnt
mount -t tmpfs -o mode=0700 netsafe-sshlab "$scratch"
mkdir -p "$scratch/etc-upper" "$scratch/etc-work" "$scratch/varlib-upper" "$scratch/varlib-work"
mount -t overlay netsafe-etc -o "lowerdir=/etc,upperdir=$scratch/etc-upper,workdir=$scratch/etc-work" /etc
if ! grep -q '^sshd:' /etc/passwd; then
    echo 'sshd:x:65500:65534:sshd privilege separation (netsafe lab):/run/sshd:/usr/sbin/nologin' >> /etc/passwd
fi
mount -t overlay netsafe-varlib -o "lowerdir=/var/lib,upperdir=$scratch/varlib-upper,workdir=$scratch/varlib-work" /var/lib
mkdir -p /var/lib/netsafe
mount --bind "$lab/state" /var/lib/netsafe
mount -t tmpfs -o mode=0755 netsafe-run /run
mkdir -p -m 0755 /run/sshd /run/netsafe
mount --bind "$lab/run" /run/netsafe
cd /
export LD_LIBRARY_PATH="$pkg/usr/lib/x86_64-linux-gnu"
"$pkg/usr/sbin/sshd" -t -f "$lab/ssh/sshd_config"
exec "$pkg/usr/sbin/sshd" -D -f "$lab/ssh/sshd_config" -E "$lab/sshd.log"
"""


def _run(cmd, *, input=None, timeout=60, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{shlex.join(cmd)}` failed (rc {proc.returncode}): {(proc.stdout + proc.stderr).strip()}")
    return proc


def _namespaces() -> set:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()}


def _netns_pids(ns: str) -> list[int]:
    out = _run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _kill_namespace_processes(ns: str, rounds: int = 50) -> None:
    """SIGKILL every process whose network namespace is `ns`, until none is left (forks included)."""
    for _round in range(rounds):
        pids = [p for p in _netns_pids(ns) if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"processes in namespace {ns} survive SIGKILL: {_netns_pids(ns)}")


def _host_mounts_under(path: Path) -> list[str]:
    """Mount points of this process's mount namespace at or below `path`, deepest first."""
    found = []
    prefix = str(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_lab(prefix: str, lab_dir: Path | None = None) -> None:
    """Remove whatever a lab called `prefix` left: processes in its namespaces, the namespaces, mounts, its directory."""
    for role in ROLES:
        ns = f"{prefix}-{role}"
        if ns in _namespaces():
            _kill_namespace_processes(ns)
    for role in ROLES:
        ns = f"{prefix}-{role}"
        if ns in _namespaces():
            _run(["ip", "netns", "del", ns], check=False)
    for directory in {d for d in (lab_dir, LAB_BASE / prefix) if d is not None}:
        for point in _host_mounts_under(directory):
            _run(["umount", "-l", point], check=False)
        shutil.rmtree(directory, ignore_errors=True)


class SshLab:
    """The lab: build with start() (or `with`), tear down with close(). See the module docstring.

    Attributes: prefix; sw, ctl, hv, dead (namespace names); dir (the lab's directory), run_dir and
    state_dir (what hv's /run/netsafe and /var/lib/netsafe are), key (the controller's private key),
    inventory (INI file, host `hv1`), sshd_log, sshd_pid_file, taps (guest tap names), uplinks
    (eno1, eno2), dead_nic (eno3), address/address6/gateway/gateway6/controller (addresses), listen
    (sshd's ListenAddress: `address`, or `listen="0.0.0.0"` for an address a change gives hv later).
    """

    host = "hv1"
    address = HV4
    address6 = HV6
    gateway = GATEWAY4
    gateway6 = GATEWAY6
    controller = CONTROLLER4
    bridge = "vmbr0"
    bridge_mac = HV_BRIDGE_MAC
    uplinks = ("eno1", "eno2")
    dead_nic = "eno3"
    prefix_stem = "sl"

    def __init__(self, guests: int = 2, prefix: str | None = None, base_dir: Path | None = None,
                 switch_ageing: int = 300, ready_timeout: float = 20, listen: str = HV4):
        self._check_requirements()
        self.guests = guests
        self.taps = [f"tap{100 + i}i0" for i in range(guests)]
        self.switch_ageing = switch_ageing
        self.ready_timeout = ready_timeout
        self.listen = listen   # sshd's ListenAddress: hv's address, or 0.0.0.0 for one a change gives hv later
        self._base = Path(base_dir) if base_dir else LAB_BASE
        self._wanted_prefix = prefix
        self._lock = None
        self.prefix = ""
        self._sshd: subprocess.Popen | None = None
        self._runs = 0
        self.started = False

    def _check_requirements(self) -> None:
        if not (SSHD.is_file() and os.access(SSHD, os.X_OK)):
            raise SshLabMissing(f"{SSHD.relative_to(ROOT)} is missing: run {SETUP_HOOK} (or tests/run-all.sh)")
        if os.geteuid() != 0:
            raise PermissionError("the SSH lab needs root (network and mount namespaces)")

    # -- names and paths ------------------------------------------------------------------------
    def _set_prefix(self, prefix: str) -> None:
        self.prefix = prefix
        self.sw, self.ctl, self.hv, self.dead = (f"{prefix}-{role}" for role in ROLES)
        self.dir = self._base / prefix
        self.run_dir = self.dir / "run"
        self.state_dir = self.dir / "state"
        self.ssh_dir = self.dir / "ssh"
        self.key = self.ssh_dir / "id_ed25519"
        self.inventory = self.dir / "inventory.ini"
        self.sshd_log = self.dir / "sshd.log"
        self.sshd_pid_file = self.dir / "sshd.pid"
        self.control_path_dir = self.dir / "cp"
        self.remote_tmp = self.dir / "remote-tmp"

    def namespaces(self) -> list[str]:
        return [self.sw, self.ctl, self.hv, self.dead]

    def _claim(self) -> None:
        """Take the first free lab number (or the given prefix): hold its lock, remove what a dead owner left."""
        LOCK_DIR.mkdir(mode=0o755, exist_ok=True)
        candidates = [self._wanted_prefix] if self._wanted_prefix else [f"{self.prefix_stem}{n}" for n in range(100)]
        for prefix in candidates:
            if len(prefix) > 10 or not prefix.replace("_", "").isalnum():
                raise ValueError(f"lab prefix {prefix!r}: at most 10 letters, digits or _")
            handle = open(LOCK_DIR / f"{prefix}.lock", "a+", encoding="utf-8")  # noqa: SIM115 (held for the lab's life)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                if self._wanted_prefix:
                    raise RuntimeError(f"SSH lab {prefix} is in use by a live process") from None
                continue
            handle.seek(0)
            previous = handle.read().strip()
            old_dir = Path(previous.split(" ", 1)[1]) if " " in previous else None
            self._remove_leftovers(prefix, old_dir)   # a crashed run's (nothing when it was closed properly)
            self._set_prefix(prefix)
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {self.dir}\n")
            handle.flush()
            self._lock = handle
            return
        raise RuntimeError(f"no free SSH lab number ({self.prefix_stem}0..{self.prefix_stem}99 all held)")

    @staticmethod
    def _remove_leftovers(prefix: str, old_dir: Path | None) -> None:
        remove_lab(prefix, old_dir)

    # -- building -------------------------------------------------------------------------------
    def start(self) -> "SshLab":
        self._claim()
        _LIVE.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        self.started = True
        return self

    def __enter__(self) -> "SshLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _ns(self, ns: str, lines: list[str], program: str = "ip") -> None:
        proc = subprocess.run([program, "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True,
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{program} -n {ns} -batch failed: {(proc.stdout + proc.stderr).strip()}")

    def _build(self) -> None:
        for d in (self.dir, self.run_dir, self.state_dir, self.ssh_dir, self.control_path_dir, self.remote_tmp,
                  self.dir / "mnt", self.dir / "runs"):
            d.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        for ns in self.namespaces():
            _run(["ip", "netns", "add", ns])
        self._check_not_root_namespace()
        sw, ctl, hv, dead = self.namespaces()
        # sysctls: no IPv6 DAD delays and no router advertisements acted on; forwarding on the router.
        for ns in self.namespaces():
            _run(["ip", "netns", "exec", ns, "sh", "-c",
                  "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad;"
                  "echo 0 > /proc/sys/net/ipv6/conf/default/accept_ra"])
        # hv answers ARP for 10.77.0.2 only on vmbr0 (arp_ignore 1): with Linux's default (0) its NICs
        # outside the bridge (eno2, up, on the same switch) answer too, with their own MACs, and the
        # controller's traffic then enters hv through them whatever vmbr0's port is.
        _run(["ip", "netns", "exec", hv, "sh", "-c",
              "echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 1 > /proc/sys/net/ipv4/conf/default/arp_ignore"])
        _run(["ip", "netns", "exec", sw, "sh", "-c",
              "echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"])
        self._ns(sw, [
            "link set lo up",
            f"link add br0 type bridge stp_state 0 forward_delay 0 ageing_time {self.switch_ageing * 100}",
            "link set br0 up",
            f"addr add {GATEWAY4}/24 dev br0",
            f"addr add {GATEWAY6}/64 dev br0 nodad",
            f"link add ctl0 type veth peer name eth0 netns {ctl}",
            "link set ctl0 master br0", "link set ctl0 up",
        ])
        self._ns(dead, ["link set lo up"])
        self._plug_nics()
        self._ns(ctl, [
            "link set lo up", "link set eth0 up",
            f"addr add {CONTROLLER4}/24 dev eth0",
            "addr add 2001:db8:77::10/64 dev eth0 nodad",
            f"route add default via {GATEWAY4}",
            f"route add default via {GATEWAY6}",
        ])
        hv_lines = [
            "link set lo up",
            "link add vmbr0 type bridge stp_state 0 forward_delay 0",
            f"link set vmbr0 address {self.bridge_mac}",
            "link set eno1 master vmbr0",
            "link set eno1 up", "link set eno2 up", "link set eno3 up",
        ]
        for tap in self.taps:
            hv_lines += [f"tuntap add dev {tap} mode tap", f"link set {tap} master vmbr0", f"link set {tap} up"]
        hv_lines += [
            "link set vmbr0 up",
            f"addr add {HV4}/24 dev vmbr0",
            f"addr add {HV6}/64 dev vmbr0 nodad",
            f"route add default via {GATEWAY4}",
            f"route add default via {GATEWAY6}",
        ]
        self._ns(hv, hv_lines)
        self._keys_and_config()
        self._start_sshd()
        self.wait_ssh(self.ready_timeout)

    def _plug_nics(self) -> None:
        """hv's NICs: eno1 and eno2 on the switch, eno3 to the dead end (all down, as at power-on).

        Their MACs are fixed (02:77:00:00:01:0N), as hardware's are: plugged again after a power cut
        (SystemdHost.reboot) they are the same NICs to the switch and to the controller's ARP cache.
        """
        self._ns(self.sw, [f"link add hv1 type veth peer name eno1 address {NIC_MACS['eno1']} netns {self.hv}",
                           f"link add hv2 type veth peer name eno2 address {NIC_MACS['eno2']} netns {self.hv}",
                           "link set hv1 master br0", "link set hv2 master br0", "link set hv1 up", "link set hv2 up"])
        self._ns(self.dead, [f"link add eth0 type veth peer name eno3 address {NIC_MACS['eno3']} netns {self.hv}",
                             "link set eth0 up"])

    def _check_not_root_namespace(self) -> None:
        """Refuse to go on if a lab namespace is the root namespace (cheap insurance)."""
        root = os.readlink("/proc/self/ns/net")   # this process: the machine's own namespace (eth0)
        for ns in self.namespaces():
            inode = _run(["ip", "netns", "exec", ns, "readlink", "/proc/self/ns/net"]).stdout.strip()
            if not ns or inode == root:
                raise RuntimeError(f"refusing: lab namespace {ns!r} is the root network namespace")

    def _keys_and_config(self) -> None:
        for path in (self.key, self.ssh_dir / "host_ed25519"):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netsafe-{self.prefix}", "-f", str(path)])
        (self.ssh_dir / "authorized_keys").write_text((self.ssh_dir / "id_ed25519.pub").read_text())
        (self.ssh_dir / "sshd_config").write_text(textwrap.dedent(f"""\
            # netsafe SSH lab {self.prefix}: sshd in {self.hv}, key-only root login
            ListenAddress {self.listen}:22
            AddressFamily inet
            HostKey {self.ssh_dir / 'host_ed25519'}
            PidFile {self.sshd_pid_file}
            AuthorizedKeysFile {self.ssh_dir / 'authorized_keys'}
            PermitRootLogin prohibit-password
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            UseDNS no
            PrintMotd no
            X11Forwarding no
            LogLevel VERBOSE
            MaxStartups 100:30:200
            MaxSessions 100
            ClientAliveInterval 0
            """))
        python = VENV_BIN / "python"
        self.inventory.write_text(
            "[hypervisors]\n"
            f"{self.host} ansible_host={HV4} ansible_user=root ansible_ssh_private_key_file={self.key} "
            f"ansible_python_interpreter={python} ansible_ssh_common_args='{SSH_COMMON_ARGS}' "
            "ansible_ssh_pipelining=true ansible_ssh_transfer_method=piped "
            f"ansible_control_path_dir={self.control_path_dir} ansible_remote_tmp={self.remote_tmp}\n")

    def _start_sshd(self) -> None:
        log = open(self.dir / "sshd.stdout", "w", encoding="utf-8")  # noqa: SIM115
        try:
            self._sshd = subprocess.Popen(
                ["ip", "netns", "exec", self.hv, "unshare", "--mount", "--propagation", "slave",
                 "sh", "-c", _SSHD_SCRIPT, "sh", str(self.dir), str(OPENSSH_ROOT)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def wait_ssh(self, timeout: float = 20) -> None:
        """Wait until lab.ssh('true') works (sshd started and the path is there)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self._sshd is not None and self._sshd.poll() is not None:
                break
            last = self.ssh("true", timeout=5)
            if last.returncode == 0:
                return
            time.sleep(0.2)
        detail = (self.dir / "sshd.stdout").read_text() if (self.dir / "sshd.stdout").exists() else ""
        detail += self.sshd_log.read_text() if self.sshd_log.exists() else ""
        raise RuntimeError(f"sshd in {self.hv} did not answer within {timeout} s"
                           f" (sshd rc {self._sshd.poll() if self._sshd else None}):\n{detail[-3000:]}\n"
                           f"{(last.stderr if last else '')[-1000:]}")

    # -- using ------------------------------------------------------------------------------------
    def ssh_argv(self, command: str, connect_timeout: int = 5) -> list[str]:
        """argv of `ssh` from ctl to hv running `command` (a fresh connection, no control master)."""
        return ["ip", "netns", "exec", self.ctl, "ssh", "-i", str(self.key), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", f"ConnectTimeout={connect_timeout}", "-o", "ServerAliveInterval=2",
                "-o", "ServerAliveCountMax=3", "-o", "ControlMaster=no", "-o", "ControlPath=none",
                f"root@{HV4}", command]

    def ssh(self, command: str, timeout: float = 10) -> subprocess.CompletedProcess:
        """Run `command` on hv over SSH from ctl. On timeout: returncode 255 and 'timed out' in stderr."""
        argv = self.ssh_argv(command, connect_timeout=max(1, int(min(timeout, 5))))
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            return subprocess.CompletedProcess(argv, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return subprocess.CompletedProcess(argv, 255, out, (err or "") + f"\nssh timed out after {timeout} s")

    def exec(self, cmd, check: bool = False, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
        """Run `cmd` (a string for sh -c, or an argv list) directly in hv's network namespace (not over SSH).

        It runs in the host's mount namespace: hv's /run/netsafe is `lab.run_dir` here.
        """
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return _run(["ip", "netns", "exec", self.hv, *argv], input=input, timeout=timeout, check=check)

    def state(self, settled: bool = True) -> dict:
        """The complete kernel dump of hv (nstools.kernel_state; settled_state waits out STP changes)."""
        return settled_state(self.hv) if settled else kernel_state(self.hv)

    def _playbook_file(self, path_or_text, n: int) -> Path:
        text = str(path_or_text)
        if "\n" not in text and Path(text).is_file():
            return Path(text).resolve()
        book = self.dir / "runs" / f"play{n}.yml"
        book.write_text(textwrap.dedent(text))
        return book

    def playbook_env(self, record: Path, env: dict | None = None) -> dict:
        """The environment tests/playrun.py uses, plus the lab's own settings."""
        environ = dict(os.environ)
        environ.update({
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "tests" / "ansible" / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "record",
            "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "NETSAFE_RECORD": str(record),
            "PATH": f"{VENV_BIN}:{environ.get('PATH', '')}",
        })
        environ.update(env or {})
        return environ

    def playbook(self, path_or_text, extra_vars: dict | None = None, env: dict | None = None,
                 timeout: float | None = None, background: bool = False, args=()):
        """Run ansible-playbook in ctl against `lab.inventory`.

        `path_or_text`: a playbook file, or YAML text (written to the lab's runs/ directory).
        Returns (CompletedProcess, recorded results). With background=True returns the Popen at once
        (its own session: `os.killpg(proc.pid, signal.SIGKILL)` kills the controller and its ssh
        children, as a lost controller would); it has `.record`, `.stdout_path`; read the results
        afterwards with `lab.results(proc)`. On `timeout` the run is killed and returncode is -9.
        """
        n = self._runs
        self._runs += 1
        book = self._playbook_file(path_or_text, n)
        record = self.dir / "runs" / f"record{n}.jsonl"
        argv = ["ip", "netns", "exec", self.ctl, str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory)]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        argv += [str(a) for a in args] + [str(book)]
        environ = self.playbook_env(record, env)
        if background:
            out_path = self.dir / "runs" / f"out{n}.txt"
            with open(out_path, "w", encoding="utf-8") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=environ, cwd=self.dir, text=True, start_new_session=True)
            proc.record = record
            proc.stdout_path = out_path
            return proc
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=environ, cwd=self.dir, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        done.record = record
        return done, self.results(record)

    @staticmethod
    def results(proc_or_record) -> list[dict]:
        """The recorder's per-task results of a run (a Popen/CompletedProcess from playbook(), or the record path)."""
        record = Path(getattr(proc_or_record, "record", proc_or_record))
        if not record.exists():
            return []
        return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]

    def pids(self) -> dict:
        """{namespace: [pids]} of every process in the lab's namespaces."""
        return {ns: _netns_pids(ns) for ns in self.namespaces() if ns in _namespaces()}

    # -- tearing down ---------------------------------------------------------------------------
    def close(self) -> None:
        """Kill every process in the lab's namespaces, delete them, unmount, remove the lab directory."""
        _LIVE.discard(self)
        if not self.prefix:
            return
        try:
            if self._sshd is not None:
                try:
                    os.killpg(self._sshd.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            remove_lab(self.prefix, self.dir)
            if self._sshd is not None:
                self._sshd.wait(timeout=10)
        finally:
            if self._lock is not None:
                self._lock.seek(0)
                self._lock.truncate()
                self._lock.close()   # releases the flock
                self._lock = None
            self.started = False


@atexit.register
def _close_live_labs() -> None:
    for lab in list(_LIVE):
        try:
            lab.close()
        except Exception:  # noqa: BLE001 (best effort at exit)
            pass
