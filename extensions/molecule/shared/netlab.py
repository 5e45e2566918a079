"""The molecule scenarios' lab: a small hypervisor in throwaway network namespaces, and its removal.

Run by shared/create.yml and shared/destroy.yml (molecule's create and destroy steps), as root:

    python netlab.py create --scenario NAME --ephemeral DIR
    python netlab.py destroy --ephemeral DIR

`create` builds two namespaces, <prefix>mol-<scenario>-<random>-hv and -sw (the prefix comes from
$NETSAFE_LAB_PREFIX, empty by default), so parallel runs and leftovers never collide:

    sw: swbr 192.0.2.1/24, 2001:db8::1/64 (switch and gateway), ports sw1 sw2 sw3
    hv: eno1 (to sw1) on vmbr0 192.0.2.10/24, 2001:db8::10/64, default routes via the switch
        eno2 (to sw2) on vmbr1, no address;  eno3 (to sw3) on no bridge
        guests: tap100i0 and veth101i0 (container side ct101) on vmbr0, tap102i0 on vmbr1

and a scratch directory DIR/netsafe-lab-<random>/ for everything the roles write (its root/ stands
for the host's "/"). Before it makes anything it writes DIR/inventory/netsafe_lab.json: host hv1 in
group lab, ansible_connection local, the lab's names in the host variable `netsafe_lab`, whose
`python_in_namespace` is an interpreter that runs a module inside the hypervisor's namespace.
molecule passes DIR/inventory to every later ansible-playbook run; `destroy` finds the lab there.

`destroy` removes whatever exists of the lab (after a failed create or converge too): it kills every
process that runs in the lab's namespaces or names its scratch directory on its command line (a
checkpoint watchdog, a tap_guard watcher), deletes the namespaces, their network lock files
(/run/netsafe/lock/netns-<name>.lock) and the scratch directory, removes /run/netsafe/lock and
/run/netsafe if `create` made them and they are empty, and last the inventory file. Without an
inventory file it does nothing. Every iproute2 command runs with `-n <lab namespace>` or is
`ip netns add/del/pids <lab namespace>`: nothing here touches the root namespace's network.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ansible import constants

INVENTORY = Path("inventory") / "netsafe_lab.json"
LOCK_DIR = Path("/run/netsafe/lock")
RUN_DIRS = (LOCK_DIR, LOCK_DIR.parent)   # deepest first
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")

SWITCH = [
    "link set lo up",
    "link add swbr type bridge stp_state 0 forward_delay 0",
    "link set sw1 master swbr",
    "link set sw2 up",
    "link set sw3 master swbr",
    "link set sw1 up",
    "link set sw3 up",
    # A switch that carries jumbo frames: the change_window scenario takes vmbr0 to 9000 and proves it.
    "link set sw1 mtu 9000",
    "link set sw3 mtu 9000",
    "link set swbr mtu 9000",
    "link set swbr up",
    "address add 192.0.2.1/24 dev swbr",
    "address add 2001:db8::1/64 dev swbr nodad",
]

HYPERVISOR = [
    "link set lo up",
    "link add vmbr0 type bridge stp_state 0 forward_delay 0",
    "link set eno1 master vmbr0",
    "link set eno1 up",
    "link set vmbr0 up",
    "address add 192.0.2.10/24 dev vmbr0",
    "address add 2001:db8::10/64 dev vmbr0 nodad",
    "route replace default via 192.0.2.1 dev vmbr0",
    "route replace default via 2001:db8::1 dev vmbr0",
    "link add vmbr1 type bridge stp_state 0 forward_delay 0",
    "link set eno2 master vmbr1",
    "link set eno2 up",
    "link set vmbr1 up",
    "tuntap add tap100i0 mode tap",
    "link set tap100i0 address 52:54:00:bb:00:01",
    "link set tap100i0 master vmbr0",
    "link set tap100i0 up",
    "link add veth101i0 address 52:54:00:bb:00:02 type veth peer name ct101 address 52:54:00:bb:00:03",
    "link set ct101 up",
    "link set veth101i0 master vmbr0",
    "link set veth101i0 up",
    "tuntap add tap102i0 mode tap",
    "link set tap102i0 address 52:54:00:bb:00:04",
    "link set tap102i0 master vmbr1",
    "link set tap102i0 up",
]


def run(cmd: list, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {proc.returncode}): {(proc.stdout + proc.stderr).strip()}")
    return proc


def in_namespace(ns: str, lines: list) -> None:
    """iproute2 commands inside `ns` only (ip -n NS -batch): never the root namespace."""
    if not NAME.match(ns):
        raise ValueError(f"not a lab namespace name: {ns!r}")
    run(["ip", "-n", ns, "-batch", "-"], stdin="\n".join(lines) + "\n")


def inventory_path(ephemeral: Path) -> Path:
    return ephemeral / INVENTORY


def load(ephemeral: Path) -> dict | None:
    try:
        data = json.loads(inventory_path(ephemeral).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data["lab"]["hosts"]["hv1"]["netsafe_lab"]


def collection_in_use() -> Path | None:
    """Where Ansible (with molecule's settings, from the environment) finds netsafe.hypervisor."""
    for base in constants.COLLECTIONS_PATHS:
        candidate = Path(base, "ansible_collections", "netsafe", "hypervisor")
        if candidate.is_dir():
            return candidate.resolve()
    return None


def create(scenario: str, ephemeral: Path) -> dict:
    project = os.environ.get("MOLECULE_PROJECT_DIRECTORY")
    in_use = collection_in_use()
    if project and in_use != Path(project).resolve():
        raise RuntimeError(f"Ansible would run netsafe.hypervisor from {in_use}, not from {project}: set "
                           "ANSIBLE_COLLECTIONS_PATH to a directory whose ansible_collections/netsafe/hypervisor "
                           "is this checkout")
    if load(ephemeral) is not None:
        destroy(ephemeral)   # a lab left by an earlier run of this scenario
    lab_id = secrets.token_hex(3)
    base = f"{os.environ.get('NETSAFE_LAB_PREFIX', '')}mol-{scenario.replace('_', '')}-{lab_id}"
    lab = {
        "id": lab_id,
        "scenario": scenario,
        "namespace": f"{base}-hv",
        "switch": f"{base}-sw",
        "dir": str(ephemeral / f"netsafe-lab-{lab_id}"),
        "python": sys.executable,
        "ip": shutil.which("ip") or "/usr/sbin/ip",
        "python_in_namespace": str(ephemeral / f"netsafe-lab-{lab_id}" / "bin" / "python"),
        "run_dirs_made": [str(path) for path in RUN_DIRS if not path.exists()],
    }
    for ns in (lab["namespace"], lab["switch"]):
        if not NAME.match(ns):
            raise ValueError(f"{ns!r} is not a usable namespace name (check NETSAFE_LAB_PREFIX)")
    inventory = {"lab": {"hosts": {"hv1": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "netsafe_lab": lab,
    }}}}
    path = inventory_path(ephemeral)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(inventory, indent=2) + "\n", encoding="utf-8")   # before anything exists
    Path(lab["dir"]).mkdir(mode=0o700)
    (Path(lab["dir"]) / "root").mkdir()
    write_wrapper(Path(lab["python_in_namespace"]), lab["ip"], lab["namespace"], lab["python"])
    hv, sw = lab["namespace"], lab["switch"]
    for ns in (sw, hv):
        run(["ip", "netns", "add", ns])
    in_namespace(hv, [f"link add eno{n} address 52:54:00:aa:00:0{n} type veth peer name sw{n} netns {sw}"
                      for n in (1, 2, 3)])
    in_namespace(sw, SWITCH)
    in_namespace(hv, HYPERVISOR)
    return lab


def write_wrapper(path: Path, ip: str, ns: str, python: str) -> None:
    """An interpreter for Ansible that runs the module inside `ns` (the lab host's own network)."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!/bin/sh\nexec {ip} netns exec {ns} {python} \"$@\"\n", encoding="utf-8")
    path.chmod(0o755)


def ancestors() -> set:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def lab_processes(lab: dict) -> set:
    """Processes in the lab's namespaces, and processes naming its scratch directory on their command line."""
    pids = set()
    for ns in (lab["namespace"], lab["switch"]):
        if Path("/run/netns", ns).exists():
            pids.update(int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split())
    marker = os.fsencode(lab["dir"])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            pids.add(int(entry.name))
    return pids - ancestors()


def kill(pids: set) -> list:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    give_up = time.monotonic() + 10
    alive = set(pids)
    while alive and time.monotonic() < give_up:
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists() and not zombie(pid)}
        time.sleep(0.05)
    return sorted(alive)


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def destroy(ephemeral: Path) -> dict:
    lab = load(ephemeral)
    if lab is None:
        return {"destroyed": None}
    killed = lab_processes(lab)
    survivors = kill(killed)
    if survivors:
        raise RuntimeError(f"processes of the lab did not die: {survivors}")
    for ns in (lab["namespace"], lab["switch"]):
        if not NAME.match(ns):
            raise ValueError(f"not a lab namespace name: {ns!r}")
        if Path("/run/netns", ns).exists():
            run(["ip", "netns", "del", ns])
        (LOCK_DIR / f"netns-{ns}.lock").unlink(missing_ok=True)
    shutil.rmtree(lab["dir"], ignore_errors=True)
    for made in lab.get("run_dirs_made", []):
        try:
            Path(made).rmdir()
        except OSError:
            pass   # not empty: another writer uses it
    inventory_path(ephemeral).unlink(missing_ok=True)
    return {"destroyed": lab, "killed": sorted(killed)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["create", "destroy"])
    parser.add_argument("--ephemeral", required=True, type=Path, help="the scenario's ephemeral directory")
    parser.add_argument("--scenario", help="the scenario's name (create)")
    args = parser.parse_args(argv)
    if not args.ephemeral.is_absolute():
        parser.error("--ephemeral must be an absolute path")
    if args.action == "create":
        if not args.scenario or not NAME.match(args.scenario):
            parser.error("create needs --scenario NAME")
        result = create(args.scenario, args.ephemeral)
    else:
        result = destroy(args.ephemeral)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
