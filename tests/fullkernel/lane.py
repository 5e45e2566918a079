"""Boot Debian's kernel under qemu once and run the lane's tests inside it.

The host kernel lacks bonding, 802.1Q, dummy and bridge vlan filtering, so
the tests marked `fullkernel` run in a VM: virtme-ng boots the kernel that
tests/setup.d/20-fullkernel.sh unpacked, shares the host's filesystem
read-only (the project's .venv works unchanged), and guest.sh runs pytest
there. Results come back through one shared directory (--rwdir): the guest's
own stdout channel needs udev, which these machines lack.

Debugging from a shell (see docs/testing.md):
    .venv/bin/python tests/fullkernel/lane.py pytest tests/fullkernel/test_lane_smoke.py -x
    .venv/bin/python tests/fullkernel/lane.py sh 'lsmod; ip -V'
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
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

TIMEOUT = float(os.environ.get("NETSAFE_LANE_TIMEOUT", "1800"))
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
    if problems:
        raise LaneSetupMissing(
            "the full-kernel lane is not set up: " + "; ".join(problems)
            + f". Run `bash tests/setup/bootstrap.sh` (its hook {SETUP_HOOK} installs qemu "
            "and virtme-ng and unpacks Debian's kernel), or `./tests/run-all.sh`, which runs it.")
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
    """`-m fullkernel <files>`, or NETSAFE_LANE_ARGS when set (for debugging)."""
    override = os.environ.get("NETSAFE_LANE_ARGS")
    if override:
        return shlex.split(override)
    files = select_test_files()
    return ["-m", "fullkernel", *[os.path.relpath(f, ROOT) for f in files]] if files else []


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
    rc: int | None = None          # the guest's pytest exit code; None if it never reported
    timed_out: bool = False
    boot_s: float | None = None    # qemu started -> guest script running
    test_s: float | None = None    # guest script running -> exit code written
    total_s: float = 0.0
    counts: Counts | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)  # (test id, report)

    def summary(self) -> str:
        def sec(v):
            return "?" if v is None else f"{v:.0f} s"
        c = self.counts
        counts = (f"{c.tests} tests: {c.passed} passed, {c.failures} failed, {c.errors} errors, "
                  f"{c.skipped} skipped" if c else "no JUnit report")
        return (f"full-kernel lane: boot {sec(self.boot_s)}, tests {sec(self.test_s)}, "
                f"total {sec(self.total_s)}; {counts}; guest rc {self.rc}; logs in {self.outdir}")


def parse_junit(path: Path) -> tuple[Counts, list[tuple[str, str]]]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = Counts()
    failed = []
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
    return counts, failed


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def boot(setup: LaneSetup, outdir: Path, *, pytest_args: list[str] | None = None,
         shell_cmd: str | None = None, timeout: float = TIMEOUT) -> LaneResult:
    """One VM boot that runs pytest (or a shell command) and reports back through `outdir`."""
    outdir.mkdir(parents=True, exist_ok=True)
    for name in ("started", "rc", "junit.xml", "pytest.log", "args", "cmd"):
        (outdir / name).unlink(missing_ok=True)
    if shell_cmd is not None:
        (outdir / "cmd").write_text(shell_cmd)
    else:
        (outdir / "args").write_text("".join(a + "\n" for a in pytest_args or []))
    cmd = [str(setup.virtme_run), "--kimg", str(setup.kernel_image), "--mods", "auto",
           "--disable-kvm", "--memory", str(MEMORY_MIB), "--cpus", str(CPUS),
           "--rwdir", str(outdir), "--show-boot-console",
           # Inputs travel as files: the script itself goes on the kernel command line.
           "--script-sh", f"bash {shlex.quote(str(GUEST_SH))} {shlex.quote(str(outdir))}",
           "--qemu-opts", "-cpu", QEMU_CPU]
    result = LaneResult(outdir)
    start = time.monotonic()
    with open(outdir / "console.log", "wb") as console:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=console,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while proc.poll() is None:
                now = time.monotonic() - start
                if result.boot_s is None and (outdir / "started").exists():
                    result.boot_s = now
                if result.test_s is None and result.boot_s is not None and (outdir / "rc").exists():
                    result.test_s = now - result.boot_s
                if now > timeout:
                    result.timed_out = True
                    _stop(proc)
                    break
                time.sleep(0.25)
        finally:
            if proc.poll() is None:
                _stop(proc)
    result.total_s = time.monotonic() - start
    if result.boot_s is None and (outdir / "started").exists():
        result.boot_s = result.total_s
    rc_file = outdir / "rc"
    if rc_file.exists() and rc_file.read_text().strip().lstrip("-").isdigit():
        result.rc = int(rc_file.read_text())
        if result.test_s is None and result.boot_s is not None:
            result.test_s = result.total_s - result.boot_s
    junit = outdir / "junit.xml"
    if junit.exists():
        try:
            result.counts, result.failed = parse_junit(junit)
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
        return (f"the full-kernel VM did not finish within {TIMEOUT:.0f} s (NETSAFE_LANE_TIMEOUT) "
                f"and was stopped.\n--- guest pytest output (tail) ---\n{_tail(log_text, 6000)}"
                f"\n--- console (tail) ---\n{_tail(console_text, 3000)}")
    if result.rc is None:
        return ("the full-kernel VM ended without reporting an exit code (boot failure or guest crash)."
                f"\n--- console (tail) ---\n{_tail(console_text, 6000)}"
                f"\n--- guest pytest output (tail) ---\n{_tail(log_text, 3000)}")
    if result.counts is None:
        return (f"the guest's pytest exited with {result.rc} and wrote no JUnit report."
                f"\n--- guest pytest output (tail) ---\n{_tail(log_text, 8000)}")
    if result.counts.tests == 0:
        return ("the guest's pytest ran zero tests: the lane would pass without testing anything."
                f"\n--- guest pytest output (tail) ---\n{_tail(log_text, 6000)}")
    if result.rc == 0 and not result.failed:
        return None
    parts = [f"{len(result.failed)} test(s) failed in the full-kernel lane (guest pytest rc {result.rc}):"]
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


def main(argv: list[str]) -> int:
    """Debugging entry point: `lane.py pytest ARGS...` or `lane.py sh 'COMMAND'`."""
    if len(argv) < 1 or argv[0] not in ("pytest", "sh"):
        print(__doc__)
        return 2
    setup = load_setup()
    (STATE / "debug").mkdir(parents=True, exist_ok=True)
    outdir = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=STATE / "debug"))
    if argv[0] == "sh":
        result = boot(setup, outdir, shell_cmd=" ".join(argv[1:]))
    else:
        result = boot(setup, outdir, pytest_args=argv[1:] or default_pytest_args())
    log = outdir / "pytest.log"
    if log.exists():
        sys.stdout.write(log.read_text(errors="replace"))
    print(result.summary())
    report = failure_report(result) if argv[0] == "pytest" else None
    if report:
        print(report)
    return result.rc if result.rc is not None else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    sys.exit(main(sys.argv[1:]))
