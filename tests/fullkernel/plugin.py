"""pytest plugin: the `fullkernel` marker and the skip logic behind it.

    @pytest.mark.fullkernel("bonding", "8021q")
    def test_bond_with_vlan(netns): ...

On a kernel that lacks a named feature the test is skipped with a reason that
names it ("host kernel lacks bonding; runs in the full-kernel lane"). Inside
the lane (NETSAFE_FULLKERNEL_LANE=1, set by tests/fullkernel/guest.sh) a
missing feature fails the test instead: the lane must never skip silently.
Features are probed for real (features.py), once per feature per session.
The lane selects its tests with `-m fullkernel`.

The `lane_vm` fixture is the VM itself (lane.LaneVM), booted once per
session on first use and powered off right after the last test that uses
it: host-side tests run commands in it over ssh and ansible-playbook
against it (`lane_vm.inventory(path)`).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fullkernel import lane
from fullkernel.features import PROBES, ProbeError, probe

IN_LANE_ENV = "NETSAFE_FULLKERNEL_LANE"
COLLECT_TO_ENV = "NETSAFE_LANE_COLLECT_TO"
_found: dict[str, tuple[bool, str]] = {}


def in_lane() -> bool:
    """True inside the full-kernel VM."""
    return os.environ.get(IN_LANE_ENV) == "1"


def missing_features(features) -> dict[str, str]:
    """{feature: why} for each feature this kernel lacks (probed once, then cached)."""
    missing = {}
    for feature in features:
        if feature not in _found:
            _found[feature] = probe(feature)
        present, detail = _found[feature]
        if not present:
            missing[feature] = detail
    return missing


def _features_of(item) -> list[str]:
    wanted: list[str] = []
    for mark in item.iter_markers("fullkernel"):
        wanted += [f for f in mark.args if f not in wanted]
    return wanted


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "fullkernel(*features): needs kernel features the host kernel may lack "
        f"({', '.join(sorted(PROBES))}); skipped where missing, runs in the full-kernel lane")


def pytest_collection_modifyitems(config, items):
    for item in items:
        unknown = [f for f in _features_of(item) if f not in PROBES]
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: unknown kernel feature(s) {', '.join(unknown)} in "
                f"@pytest.mark.fullkernel; known: {', '.join(sorted(PROBES))}")


def pytest_collection_finish(session):
    """Note the last test that needs the VM; for the lane's runner, write the files holding the selected tests."""
    global _last_vm_user
    users = [item for item in session.items if "lane_vm" in getattr(item, "fixturenames", ())]
    _last_vm_user = users[-1].nodeid if users else None
    target = os.environ.get(COLLECT_TO_ENV)
    if target:
        files = sorted({str(Path(item.path).resolve()) for item in session.items})
        Path(target).write_text("".join(f + "\n" for f in files))


def pytest_runtest_setup(item):
    if item.get_closest_marker("fullkernel") is None:
        return
    wanted = _features_of(item)
    try:
        missing = missing_features(wanted)
    except ProbeError as exc:
        if in_lane():
            pytest.fail(f"full-kernel lane: {exc}", pytrace=False)
        pytest.skip(f"{exc}; cannot tell whether the kernel has {', '.join(wanted)}")
    if not missing:
        return
    names = ", ".join(missing)
    if in_lane():
        details = "; ".join(f"{f}: {why}" for f, why in missing.items())
        pytest.fail(f"the full-kernel lane's kernel lacks {names} ({details})", pytrace=False)
    pytest.skip(f"host kernel lacks {names}; runs in the full-kernel lane")


# The lane's runner (test_lane.py) and the VM's teardown append one-line
# summaries here, so that every run shows the lane's cost, passed or failed.
lane_summaries: list[str] = []
_vm: lane.LaneVM | None = None
_last_vm_user: str | None = None


@pytest.fixture(scope="session")
def lane_vm(tmp_path_factory):
    """The full-kernel VM, reachable over ssh; a missing setup or failed boot fails (never skips)."""
    global _vm
    if in_lane():
        pytest.skip("already inside the full-kernel lane")
    try:
        setup = lane.load_setup()
    except lane.LaneSetupMissing as exc:
        pytest.fail(str(exc), pytrace=False)   # never skip: CI must not lose the lane quietly
    vm = lane.LaneVM(setup, tmp_path_factory.mktemp("lane", numbered=True))
    try:
        vm.start()
    except lane.LaneBootError as exc:
        pytest.fail(f"full-kernel VM: {exc}\n{vm.console_tail()}", pytrace=False)
    _vm = vm
    lane_summaries.append(f"full-kernel VM: up after {vm.boot_s:.0f} s [{setup.kernel_package}], files in {vm.outdir}")
    yield vm
    _stop_vm()


def _stop_vm():
    global _vm
    if _vm is not None:
        vm, _vm = _vm, None
        up = vm.up_s
        vm.stop()
        lane_summaries.append(f"full-kernel VM: powered off after {up:.0f} s up (boot {vm.boot_s:.0f} s)")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    """Power the VM off as soon as the last test that needs it is done, not at session end."""
    if item.nodeid == _last_vm_user:
        _stop_vm()


def pytest_terminal_summary(terminalreporter):
    for line in lane_summaries:
        terminalreporter.write_line(line)


def run_lane_tests(lane_vm, args: list, label: str = "") -> None:
    """Run pytest `args` in the lane's VM, record its summary, and fail with the guest's report unless it passed
    (the default lane, test_lane.py, and the sweep lane, test_sweep_lane.py)."""
    if not args:
        pytest.fail("no test is marked @pytest.mark.fullkernel: the lane has nothing to run", pytrace=False)
    result = lane_vm.pytest(args)
    summary = f"{label}{result.summary()} [{lane_vm.setup.kernel_package}]"
    lane_summaries.append(summary)
    print(summary)
    report = lane.failure_report(result)
    if report:
        pytest.fail(report, pytrace=False)
