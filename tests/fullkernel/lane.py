"""Boot Debian's kernel under qemu once and use it as a host for the lane's tests.

The host kernel lacks bonding, 802.1Q, dummy and bridge vlan filtering, so
the tests that need them run against a VM: virtme-ng boots the kernel that
tests/setup.d/20-fullkernel.sh unpacked and shares the host's filesystem
read-only (the project's .venv works unchanged); guest.sh starts an sshd
there. Over ssh the host then runs pytest inside the guest (tests marked
`fullkernel`) and ansible-playbook against it (tests using the `lane_vm`
fixture), so only the modules run under emulation. Files come back through
one shared directory (--rwdir): virtme's own stdout channel needs udev,
which these machines lack.

Debugging from a shell (see docs/testing.md):
    .venv/bin/python tests/fullkernel/lane.py pytest tests/fullkernel/test_lane_smoke.py -x
    .venv/bin/python tests/fullkernel/lane.py sh 'lsmod; ip -V'
    .venv/bin/python tests/fullkernel/lane.py serve     # prints ssh and inventory, waits for Ctrl-C
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".tmp" / "fullkernel"
LANE_ENV = STATE / "lane.env"
GUEST_SH = Path(__file__).resolve().with_name("guest.sh")
SETUP_HOOK = "tests/setup.d/20-fullkernel.sh"
VENV_PY = ROOT / ".venv" / "bin" / "python"
SSHD = STATE / "sshd" / "usr" / "sbin" / "sshd"

TIMEOUT = float(os.environ.get("NETSAFE_LANE_TIMEOUT", "1800"))          # the in-guest pytest run
BOOT_TIMEOUT = float(os.environ.get("NETSAFE_LANE_BOOT_TIMEOUT", "300"))   # qemu start -> sshd answers
MEMORY_MIB = int(os.environ.get("NETSAFE_LANE_MEMORY", "1024"))
CPUS = int(os.environ.get("NETSAFE_LANE_CPUS", "2"))
# Software emulation: KVM is present but unusable on these machines (lab.md).
# A plain CPU model is markedly faster under TCG than virtme's `-cpu max`.
QEMU_CPU = os.environ.get("NETSAFE_LANE_QEMU_CPU", "qemu64")


class LaneSetupMissing(RuntimeError):
    """The lane cannot boot: its setup hook has not run (or did not finish)."""


@dataclass
class LaneSetup:
    kernel_image: Path
    kernel_version: str
    kernel_package: str
    virtme_run: Path


def load_setup() -> LaneSetup:
    """What the setup hook recorded, checked piece by piece."""
    problems = []
    values: dict[str, str] = {}
    if LANE_ENV.is_file():
        for line in LANE_ENV.read_text().splitlines():
            key, _sep, value = line.partition("=")
            values[key] = value
    else:
        problems.append(f"{LANE_ENV.relative_to(ROOT)} does not exist")
    image = Path(values.get("LANE_KERNEL_IMAGE", "/nonexistent"))
    version = values.get("LANE_KERNEL_VERSION", "")
    if values and not image.is_file():
        problems.append(f"kernel image {image} is missing")
    if version and not Path(f"/lib/modules/{version}/modules.dep").is_file():
        problems.append(f"/lib/modules/{version}/modules.dep is missing")
    virtme = ROOT / ".venv" / "bin" / "virtme-run"
    if not virtme.exists():
        problems.append("virtme-ng is not installed in .venv")
    if shutil.which("qemu-system-x86_64") is None:
        problems.append("qemu-system-x86_64 is not installed")
    if shutil.which("busybox") is None:
        problems.append("busybox (busybox-static) is not installed")
    if not SSHD.is_file():
        problems.append(f"the guest's sshd ({SSHD.relative_to(ROOT)}) is not unpacked")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        problems.append("ssh and ssh-keygen (openssh-client) are not installed")
    if problems:
        raise LaneSetupMissing(
            "the full-kernel lane is not set up: " + "; ".join(problems)
            + f". Run `bash tests/setup/bootstrap.sh` (its hook {SETUP_HOOK} installs qemu, "
            "virtme-ng and openssh-client and unpacks Debian's kernel and sshd), or "
            "`./tests/run-all.sh`, which runs it.")
    return LaneSetup(image, version, values.get("LANE_KERNEL_PACKAGE", ""), virtme)


def select_test_files() -> list[str]:
    """Files holding tests marked `fullkernel`, collected on the host (fast) not in the VM."""
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as listing:
        env = dict(os.environ, NETSAFE_LANE_COLLECT_TO=listing.name,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")])))
        env.pop("NETSAFE_FULLKERNEL_LANE", None)
        proc = subprocess.run(
            [str(VENV_PY), "-m", "pytest", "--collect-only", "-q", "-m", "fullkernel",
             "-p", "fullkernel.plugin", "-p", "no:cacheprovider", str(ROOT / "tests")],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if proc.returncode == 5:   # pytest: no tests collected
            return []
        if proc.returncode != 0:
            raise RuntimeError(f"collecting the lane's tests on the host failed (rc {proc.returncode}):\n"
                               f"{_tail(proc.stdout + proc.stderr, 4000)}")
        return [line for line in Path(listing.name).read_text().splitlines() if line]


def default_pytest_args() -> list[str]:
    """`-m "fullkernel and not sweep" <files>`, or NETSAFE_LANE_ARGS when set (for debugging). The kill sweeps
    (marker `sweep`) have a lane of their own: sweep_pytest_args."""
    override = os.environ.get("NETSAFE_LANE_ARGS")
    if override:
        return shlex.split(override)
    files = select_test_files()
    return ["-m", "fullkernel and not sweep", *[os.path.relpath(f, ROOT) for f in files]] if files else []


def sweep_pytest_args() -> list[str]:
    """`-m "fullkernel and sweep" <files>`: the sweep lane's tests (tests/fullkernel/test_sweep_lane.py)."""
    files = select_test_files()
    return ["-m", "fullkernel and sweep", *[os.path.relpath(f, ROOT) for f in files]] if files else []


@dataclass
class Counts:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


@dataclass
class LaneResult:
    outdir: Path
    rc: int | None = None          # the guest's pytest exit code; None if the VM was lost
    timed_out: bool = False
    boot_s: float | None = None    # qemu started -> guest's sshd answers
    test_s: float | None = None    # the in-guest pytest run
    total_s: float = 0.0           # qemu started -> pytest run ended
    counts: Counts | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)  # (test id, report)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (test id, reason): lost tests

    def summary(self) -> str:
        def sec(v):
            return "?" if v is None else f"{v:.0f} s"
        c = self.counts
        counts = (f"{c.tests} tests: {c.passed} passed, {c.failures} failed, {c.errors} errors, "
                  f"{c.skipped} skipped" if c else "no JUnit report")
        return (f"full-kernel lane, in-guest pytest: boot {sec(self.boot_s)}, tests {sec(self.test_s)}, "
                f"VM up {sec(self.total_s)}; {counts}; guest rc {self.rc}; logs in {self.outdir}")


def parse_junit(path: Path) -> tuple[Counts, list[tuple[str, str]], list[tuple[str, str]]]:
    """(counts, failed, skipped) from pytest's JUnit XML; failed and skipped are (test id, text) pairs.

    A skipped test's text is its reason (`<skipped message=...>`); an xfail is
    recorded as skipped too (type pytest.xfail) and is listed as such.
    """
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = Counts()
    failed = []
    skipped = []
    for suite in suites:
        counts.tests += int(suite.get("tests", 0))
        counts.failures += int(suite.get("failures", 0))
        counts.errors += int(suite.get("errors", 0))
        counts.skipped += int(suite.get("skipped", 0))
        for case in suite.iter("testcase"):
            for bad in list(case.findall("failure")) + list(case.findall("error")):
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                text = (bad.get("message", "") + "\n" + (bad.text or "")).strip()
                failed.append((f"{name} ({bad.tag})", text))
            for skip in case.findall("skipped"):
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                if skip.get("type") == "pytest.xfail":
                    name += " (xfail)"
                reason = skip.get("message") or (skip.text or "").strip() or "no reason given"
                skipped.append((name, reason))
    return counts, failed, skipped


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


class LaneBootError(RuntimeError):
    """The VM did not come up as a host reachable over ssh."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SSHD_CONFIG = """\
# Written by tests/fullkernel/lane.py for the full-kernel VM (guest paths).
Port 22
ListenAddress 0.0.0.0
HostKey /run/lane/out/ssh/host_key
AuthorizedKeysFile /run/lane/out/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PidFile /run/sshd.pid
LogLevel INFO
"""


class LaneVM:
    """Debian's kernel under qemu, reachable over ssh like a real hypervisor.

    qemu's user-mode network (restricted: the guest reaches nothing) forwards a
    free port on the host's 127.0.0.1 to the guest's sshd, which guest.sh
    starts from the openssh-server package the setup hook unpacked. The host's
    own network is not touched. Commands run over one ssh master connection;
    `inventory()` writes an Ansible inventory that shares it, so
    ansible-playbook runs here and only the modules run under emulation.
    """

    def __init__(self, setup: LaneSetup, outdir: Path):
        self.setup = setup
        self.outdir = outdir
        self.keys = outdir / "ssh"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.boot_s: float | None = None
        self.stopped = False
        # ssh's ControlPath must fit a unix socket name (108 bytes): keep it short.
        self._control_dir = Path(tempfile.mkdtemp(prefix="lane-ssh-"))
        self.control_path = self._control_dir / "cm"

    # -- start and stop -------------------------------------------------
    def start(self, boot_timeout: float = BOOT_TIMEOUT) -> "LaneVM":
        self.outdir.mkdir(parents=True, exist_ok=True)
        self._write_keys()
        for attempt in range(3):
            self.port = _free_port()
            (self.keys / "known_hosts").write_text(
                f"[127.0.0.1]:{self.port} " + (self.keys / "host_key.pub").read_text())
            self._boot()
            try:
                self._wait_for_ssh(boot_timeout)
                return self
            except LaneBootError:
                console = self.console_tail(4000)
                self.stop()
                if "Could not set up host forwarding" in console and attempt < 2:
                    continue   # another process took the port in between: pick a new one
                raise
        raise AssertionError("unreachable")

    def _write_keys(self) -> None:
        if self.keys.exists():
            shutil.rmtree(self.keys)
        self.keys.mkdir(parents=True)
        for name, comment in (("host_key", "netsafe-lane-host"), ("id_lane", "netsafe-lane-client")):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                            "-f", str(self.keys / name)], check=True, capture_output=True)
        shutil.copy(self.keys / "id_lane.pub", self.keys / "authorized_keys")
        (self.keys / "sshd_config").write_text(SSHD_CONFIG)

    def _boot(self) -> None:
        for name in ("started", "ready", "stopped", "sshd.log", "ps.txt", "kernel"):
            (self.outdir / name).unlink(missing_ok=True)
        netdev = f"user,id=lane0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22"
        cmd = [str(self.setup.virtme_run), "--kimg", str(self.setup.kernel_image), "--mods", "auto",
               "--disable-kvm", "--memory", str(MEMORY_MIB), "--cpus", str(CPUS),
               "--rwdir", str(self.outdir), "--show-boot-console",
               "--script-sh", f"bash {shlex.quote(str(GUEST_SH))} {shlex.quote(str(self.outdir))}",
               "--qemu-opts", "-cpu", QEMU_CPU,
               # / once more, read-only, for guest.sh to mount with caching (see there).
               "-fsdev", "local,id=netsafe_root,path=/,security_model=none,readonly=on,multidevs=remap",
               "-device", "virtio-9p-pci,fsdev=netsafe_root,mount_tag=netsafe_root",
               "-netdev", netdev, "-device", "virtio-net-pci,netdev=lane0"]
        self.started_at = time.monotonic()
        self.stopped = False
        with open(self.outdir / "console.log", "wb") as console:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=console,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_for_ssh(self, timeout: float) -> None:
        """Until the guest's sshd answers; the VM's death or the deadline ends it."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LaneBootError(f"the VM exited (rc {self.proc.returncode}) before its sshd answered")
            if (self.outdir / "ready").exists():
                probe = self.run("true", timeout=60, env=False)
                if probe.returncode == 0:
                    self.boot_s = time.monotonic() - self.started_at
                    return
            time.sleep(1)
        raise LaneBootError(f"the VM's sshd did not answer within {timeout:.0f} s "
                            "(NETSAFE_LANE_BOOT_TIMEOUT)")

    def stop(self) -> None:
        """Power the guest off (guest.sh ends when /run/lane/stop exists); kill it if it hangs."""
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            try:   # a guest that does not answer is killed below, never left running
                self.run("touch /run/lane/stop", timeout=30, env=False)
                self.proc.wait(60)
            except (TimeoutError, subprocess.TimeoutExpired):
                pass
        _stop(self.proc)
        subprocess.run(["ssh", "-o", f"ControlPath={self.control_path}", "-O", "exit", "lane"],
                       capture_output=True, check=False)
        shutil.rmtree(self._control_dir, ignore_errors=True)

    def __enter__(self) -> "LaneVM":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def up_s(self) -> float:
        return time.monotonic() - self.started_at

    def console_tail(self, limit: int = 6000) -> str:
        parts = []
        for name in ("console.log", "sshd.log"):
            path = self.outdir / name
            if path.exists():
                parts.append(f"--- {name} (tail) ---\n{_tail(path.read_text(errors='replace'), limit)}")
        return "\n".join(parts)

    # -- talking to the guest --------------------------------------------
    def ssh_options(self) -> list[str]:
        """Options for any ssh client (and Ansible) that talks to this guest."""
        return ["-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={self.keys / 'id_lane'}",
                "-o", f"UserKnownHostsFile={self.keys / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=12",
                # Key exchange is costly under emulation: one master connection
                # for everything, with a classic (cheaper) key exchange.
                "-o", "KexAlgorithms=curve25519-sha256",
                "-o", "ControlMaster=auto", "-o", "ControlPersist=yes"]

    def ssh_command(self) -> list[str]:
        """`ssh ... root@guest` over the shared master connection; append a command to run one."""
        return ["ssh", *self.ssh_options(), "-o", f"ControlPath={self.control_path}",
                "-p", str(self.port), "root@127.0.0.1"]

    def run(self, command: str, timeout: float = 600, check: bool = False, env: bool = True,
            stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
        """Run a shell command in the guest (as root, with the lane's environment when `env`)."""
        if env:
            command = f". /run/lane/env && {command}"
        cmd = [*self.ssh_command(), command]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"`{command}` did not finish within {timeout:.0f} s in the VM") from exc
        if check and proc.returncode != 0:
            raise RuntimeError(f"`{command}` failed in the VM (rc {proc.returncode}):\n{_tail(proc.stdout or '', 4000)}")
        return proc

    def inventory(self, path: Path, host: str = "lane") -> Path:
        """An inventory with one host (`lane`, in group `fullkernel`), this VM, over the shared ssh master."""
        ssh_args = " ".join(shlex.quote(o) for o in self.ssh_options())
        path.write_text(
            "[fullkernel]\n"
            f"{host} ansible_host=127.0.0.1 ansible_port={self.port} ansible_user=root "
            f"ansible_python_interpreter=/usr/bin/python3 ansible_pipelining=true "
            f"ansible_control_path={shlex.quote(str(self.control_path))} "
            f"ansible_ssh_args={shlex.quote(ssh_args)}\n")
        return path

    def pytest(self, pytest_args: list[str], timeout: float = TIMEOUT) -> LaneResult:
        """Run pytest inside the guest; output to pytest.log, JUnit report back through --rwdir."""
        result = LaneResult(self.outdir, boot_s=self.boot_s)
        (self.outdir / "junit.xml").unlink(missing_ok=True)
        args = " ".join(shlex.quote(a) for a in pytest_args)
        start = time.monotonic()
        with open(self.outdir / "pytest.log", "w") as log:
            try:
                proc = self.run("python -m pytest -p fullkernel.plugin -p no:cacheprovider "
                                f"--junitxml=/run/lane/out/junit.xml {args}", timeout=timeout, stdout=log)
                result.rc = proc.returncode
            except TimeoutError:
                result.timed_out = True
        result.test_s = time.monotonic() - start
        result.total_s = self.up_s
        if result.rc == 255 and self.proc.poll() is not None:
            result.rc = None   # ssh lost the VM: report it as a guest crash
        junit = self.outdir / "junit.xml"
        if junit.exists():
            try:
                result.counts, result.failed, result.skipped = parse_junit(junit)
            except ET.ParseError:
                result.counts = None
        return result


def _stop(proc: subprocess.Popen) -> None:
    """Stop virtme-run and the qemu it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def failure_report(result: LaneResult, limit_each: int = 3000, limit_total: int = 20000) -> str | None:
    """None when the lane passed; otherwise what went wrong, with the guest's output."""
    log = result.outdir / "pytest.log"
    log_text = log.read_text(errors="replace") if log.exists() else ""
    console = result.outdir / "console.log"
    console_text = console.read_text(errors="replace") if console.exists() else ""
    if result.timed_out:
        return (f"the in-guest pytest run did not finish within {TIMEOUT:.0f} s (NETSAFE_LANE_TIMEOUT) "
                f"and was stopped.\n--- guest pytest output (tail) ---\n{_tail(log_text, 6000)}"
                f"\n--- console (tail) ---\n{_tail(console_text, 3000)}")
    if result.rc is None:
        return ("the full-kernel VM went away during the in-guest pytest run (guest crash or qemu killed)."
                f"\n--- console (tail) ---\n{_tail(console_text, 6000)}"
                f"\n--- guest pytest output (tail) ---\n{_tail(log_text, 3000)}")
    if result.counts is None:
        return (f"the guest's pytest exited with {result.rc} and wrote no JUnit report."
                f"\n--- guest pytest output (tail) ---\n{_tail(log_text, 8000)}")
    if result.counts.tests == 0:
        return ("the guest's pytest ran zero tests: the lane would pass without testing anything."
                f"\n--- guest pytest output (tail) ---\n{_tail(log_text, 6000)}")
    c = result.counts
    if result.rc == 0 and not result.failed and not result.skipped and not c.skipped and c.passed > 0:
        return None
    parts = []
    if c.passed <= 0:
        parts.append(f"no test passed in the full-kernel lane ({c.tests} tests: {c.failures} failed, "
                     f"{c.errors} errors, {c.skipped} skipped): the lane would pass without testing anything.")
    if result.skipped or c.skipped:
        parts.append(f"{max(len(result.skipped), c.skipped)} test(s) skipped in the full-kernel lane, which "
                     "must never skip (a skip there is a lost test):")
        parts += [f"  {name}: {reason}" for name, reason in result.skipped]
    if result.failed or result.rc != 0:
        parts.append(f"{len(result.failed)} test(s) failed in the full-kernel lane (guest pytest rc {result.rc}):")
        parts += [f"  {name}" for name, _output in result.failed]
    used = 0
    for name, text in result.failed:
        if used > limit_total:
            parts.append(f"[... more failures in {log}]")
            break
        chunk = _tail(text, limit_each)
        used += len(chunk)
        parts.append(f"\n___ {name} ___\n{chunk}")
    if not result.failed:
        parts.append(f"--- guest pytest output (tail) ---\n{_tail(log_text, 6000)}")
    parts.append(f"\nfull guest output: {log}")
    return "\n".join(parts)


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """Debugging entry point: `lane.py pytest ARGS...`, `lane.py sh 'COMMAND'` or `lane.py serve`."""
    if len(argv) < 1 or argv[0] not in ("pytest", "sh", "serve"):
        print(__doc__)
        return 2
    setup = load_setup()
    (STATE / "debug").mkdir(parents=True, exist_ok=True)
    outdir = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=STATE / "debug"))
    with LaneVM(setup, outdir) as vm:
        print(f"VM up after {vm.boot_s:.0f} s; files in {outdir}", flush=True)
        if argv[0] == "sh":
            proc = vm.run(" ".join(argv[1:]), timeout=TIMEOUT, stdout=None)
            return proc.returncode
        if argv[0] == "serve":
            inventory = vm.inventory(outdir / "inventory.ini")
            ssh = shlex.join(vm.ssh_command())
            print(f"ssh:       {ssh}\ninventory: {inventory}\n"
                  "(the guest's environment for tests: `. /run/lane/env`); Ctrl-C stops the VM", flush=True)
            # Ctrl-C, or SIGTERM/SIGINT from a script (a background job ignores SIGINT by default).
            signal.signal(signal.SIGINT, _interrupt)
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                while vm.proc.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
            return 0
        result = vm.pytest(argv[1:] or default_pytest_args())
    sys.stdout.write((outdir / "pytest.log").read_text(errors="replace"))
    print(result.summary())
    report = failure_report(result)
    if report:
        print(report)
    return result.rc if result.rc is not None else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    sys.exit(main(sys.argv[1:]))
