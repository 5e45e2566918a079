# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""A running NetworkManager: keep it from undoing a change, and let it follow once its profiles agree.

NetworkManager acts on what happens to the devices it manages: a port taken
out of a bridge has its bridge-port profile auto-activated again within
milliseconds (seen on Debian 12's 1.42 on the systemd test host), which
undoes the change. Taking the device from it (`nmcli device set DEV managed
no`) is no cure: NetworkManager then detaches a port from its bridge itself,
and removes the addresses of a bridge it gets back.

So NetworkManager keeps its devices, and the profiles of the devices a change
touches stop auto-activating for the window: `nmcli connection modify
--temporary UUID connection.autoconnect no`, in NetworkManager's memory
only (the files are not changed; a reboot forgets it), noted in HELD. They
are loaded from their files again (`nmcli connection load`, which drops the
temporary setting) once the files describe the kernel:
- after the keyfiles of the network as it runs were saved (net_persist, or a
  confirmation with persist, format networkmanager): the files written and
  removed are loaded with them, so the new profiles are what it knows;
- after a rollback: the files were never changed and the kernel is back to
  what they describe.
A change that is never saved keeps its profiles held: auto-activating them
would undo it. A reboot boots what the files say.

Only the host's own network: NetworkManager does not run in the network
namespaces labs use, and nothing here runs for them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError

HELD = "/run/netsafe/networkmanager-held.json"
RUNTIME_PROFILES = "/run/NetworkManager/system-connections/"
NMCLI_TIMEOUT = 30


class NetworkManagerRefused(NetsafeError):
    """nmcli could not take a device out of NetworkManager's hands: the change is not made."""


def running(namespace=None) -> bool:
    """NetworkManager runs for the host's own network and nmcli is there.

    A process named NetworkManager is looked for: started by systemd it writes no pid file (Debian 12, checked on
    the systemd test host).
    """
    if namespace is not None or shutil.which("nmcli") is None:
        return False
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="utf-8", errors="replace") as handle:
                    if handle.read().strip() == "NetworkManager":
                        return True
            except OSError:
                continue
    return False


def _nmcli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nmcli", *args], capture_output=True, text=True, timeout=NMCLI_TIMEOUT, check=False,
                          env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LC_ALL": "C"})


def _profiles() -> list:
    """NetworkManager's profiles: [{uuid, filename, autoconnect, interface, master}] (nmcli, terse)."""
    proc = _nmcli("-t", "-f", "UUID,AUTOCONNECT,FILENAME", "connection", "show")
    if proc.returncode != 0:
        raise NetworkManagerRefused(f"nmcli connection show failed (rc {proc.returncode}): {proc.stderr.strip()}")
    found = []
    for line in proc.stdout.splitlines():
        uuid, _sep, rest = line.partition(":")
        autoconnect, _sep, filename = rest.partition(":")
        if not uuid:
            continue
        detail = _nmcli("-g", "connection.interface-name,connection.master", "connection", "show", uuid)
        interface, _sep, master = detail.stdout.rstrip("\n").partition("\n")
        found.append({"uuid": uuid, "autoconnect": autoconnect == "yes", "filename": filename.replace("\\:", ":"),
                      "interface": interface.strip(), "master": master.strip()})
    return found


def held() -> list:
    """The profiles netsafe stopped from auto-activating and has not loaded again: [{uuid, filename}]."""
    try:
        with open(HELD, encoding="utf-8") as handle:
            return list(json.load(handle).get("profiles", []))
    except (OSError, ValueError, AttributeError):
        return []


def _write_held(profiles) -> None:
    os.makedirs(os.path.dirname(HELD), mode=0o700, exist_ok=True)
    temporary = f"{HELD}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"profiles": sorted(profiles, key=lambda p: p["uuid"])}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, HELD)


def touched_devices(operations) -> set:
    """Every device a plan's operations change or name as a master."""
    names = set()
    for op in operations:
        names.add(op.device)
        master = op.params.get("master")
        if master:
            names.add(master)
    return names


def hold(devices, namespace=None) -> list:
    """Stop the auto-activating profiles of `devices` (as their interface or their master) from activating; returns
    them ({uuid, filename, interface}). NetworkManagerRefused when nmcli refuses one: the change is not made (those
    held before it stay held and noted, loaded again by the next save or rollback)."""
    if not running(namespace):
        return []
    devices = set(devices)
    wanted = [p for p in _profiles() if p["autoconnect"] and (p["interface"] in devices or p["master"] in devices)]
    if not wanted:
        return []
    taken = {p["uuid"]: p for p in held()}
    try:
        for profile in wanted:
            proc = _nmcli("connection", "modify", "--temporary", profile["uuid"], "connection.autoconnect", "no")
            if proc.returncode != 0:
                raise NetworkManagerRefused(
                    f"NetworkManager refused to stop profile {profile['uuid']} ({profile['interface']}) from "
                    f"auto-activating (nmcli connection modify --temporary: {proc.stderr.strip() or proc.returncode}); "
                    f"nothing was changed: NetworkManager would undo the change")
            taken[profile["uuid"]] = {"uuid": profile["uuid"], "filename": profile["filename"],
                                      "interface": profile["interface"] or profile["master"]}
    finally:
        # A temporary change makes NetworkManager keep the profile in a file of its own under /run, which
        # shadows the one in /etc until it is removed: noted, so that give_back removes it.
        listed = _nmcli("-t", "-f", "UUID,FILENAME", "connection", "show")
        for line in listed.stdout.splitlines():
            uuid, _sep, filename = line.partition(":")
            filename = filename.replace("\\:", ":")
            if uuid in taken and filename.startswith(RUNTIME_PROFILES) and filename != taken[uuid]["filename"]:
                taken[uuid]["temporary"] = filename
        _write_held(list(taken.values()))
    return [taken[p["uuid"]] for p in wanted]


def interfaces(profiles) -> list:
    """The devices `profiles` (as hold returns them) are for, for messages."""
    return sorted({p.get("interface") or p.get("uuid", "?") for p in profiles})


def give_back(namespace=None, load=(), only=None) -> list:
    """Load the profile files `load` (written or removed) and those of every held profile (or of `only`, profiles
    as hold returned them) from disk again; returns warnings.

    Never raises: the change is made and kept either way; what could not be loaded is named in a warning.
    """
    if namespace is not None or not running(namespace):
        return []
    chosen = None if only is None else {p["uuid"] for p in only}
    profiles = [p for p in held() if chosen is None or p["uuid"] in chosen]
    rest = [p for p in held() if chosen is not None and p["uuid"] not in chosen]
    files = set(load) | {p["filename"] for p in profiles if p.get("filename")}
    for profile in profiles:
        temporary = profile.get("temporary") or ""
        if temporary.startswith(RUNTIME_PROFILES) and "/../" not in temporary:
            try:
                os.unlink(temporary)   # loaded below while gone: NetworkManager drops it, the file in /etc counts
            except FileNotFoundError:
                pass
            except OSError as exc:
                return [f"NetworkManager: could not remove the temporary profile {temporary} ({exc}); the profile "
                        f"{profile['uuid']} stays without auto-activation until a reboot"]
            files.add(temporary)
    files = sorted(files)
    if not files:
        return []
    proc = _nmcli("connection", "load", *files)
    if proc.returncode != 0:
        return [f"NetworkManager did not load {', '.join(files)} (nmcli connection load: "
                f"{proc.stderr.strip() or proc.returncode}); profiles of "
                f"{', '.join(sorted({p.get('interface', '?') for p in profiles})) or 'the saved devices'} may stay "
                f"without auto-activation until a reboot: run nmcli connection reload"]
    try:
        if rest:
            _write_held(rest)
        else:
            os.unlink(HELD)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return [f"{HELD}: {exc}"]
    return []


def held_warning(namespace=None) -> list:
    """After a confirmation (and its save, if any): the profiles still held, as a warning saying how to end it."""
    names = interfaces(held()) if namespace is None else []
    if not names:
        return []
    return [f"NetworkManager: the profiles of {', '.join(names)} stay without auto-activation, so that it does not "
            f"undo the confirmed change, until their keyfiles are saved (persist with format networkmanager, or "
            f"net_persist); a reboot boots what the files say"]
