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
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import files as fileops
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError

HELD = "/run/netsafe/networkmanager-held.json"
RUNTIME_PROFILES = "/run/NetworkManager/system-connections/"
# nmcli gives up on a NetworkManager that does not answer D-Bus after 25 s, printing nothing and exiting 0:
# a shorter wait of ours tells such a NetworkManager apart (a healthy one answers in milliseconds).
NMCLI_TIMEOUT = 10


class NetworkManagerRefused(NetsafeError):
    """NetworkManager refused, or did not answer: a change is not made (it would be undone)."""


def running(namespace=None) -> bool:
    """NetworkManager runs for the host's own network and nmcli is there.

    A process named NetworkManager in this network namespace is looked for: started by systemd it writes no pid
    file (Debian 12, checked on the systemd test host), and a guest container's runs in a namespace of its own.
    """
    if namespace is not None or shutil.which("nmcli") is None:
        return False
    try:
        own = os.readlink("/proc/self/ns/net")
    except OSError:
        own = None
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="utf-8", errors="replace") as handle:
                    if handle.read().strip() != "NetworkManager":
                        continue
                # A container's NetworkManager (its own network namespace) is not the host's.
                if own is None or os.readlink(f"/proc/{entry}/ns/net") == own:
                    return True
            except OSError:
                continue
    return False


def _nmcli(*args: str) -> subprocess.CompletedProcess:
    """nmcli with `args`; NetworkManagerRefused when it does not finish within NMCLI_TIMEOUT s."""
    try:
        return subprocess.run(["nmcli", *args], capture_output=True, text=True, timeout=NMCLI_TIMEOUT, check=False,
                              env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        raise NetworkManagerRefused(f"NetworkManager did not answer within {NMCLI_TIMEOUT} s "
                                    f"(nmcli {' '.join(args[:4])})") from None
    except OSError as exc:
        raise NetworkManagerRefused(f"nmcli could not run: {exc}") from None


def _terse_fields(line: str, count: int) -> list:
    """The first `count` fields of a line of `nmcli -t` (':' separates, '\\' escapes ':' and itself)."""
    fields, current, chars = [], [], iter(line)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":" and len(fields) < count - 1:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields + [""] * (count - len(fields))


NMCLI_NOT_RUNNING = 8   # nmcli's exit status: "NetworkManager is not running"


def _answering() -> bool:
    """True when NetworkManager answers; False when nmcli says it does not run (a process of that name that is
    not it); NetworkManagerRefused when it does not answer (a frozen one makes nmcli print nothing, exit 0)."""
    proc = _nmcli("-t", "-f", "RUNNING", "general")
    if proc.returncode == NMCLI_NOT_RUNNING:
        return False
    if proc.returncode != 0 or proc.stdout.strip() != "running":
        raise NetworkManagerRefused(f"NetworkManager runs but does not answer (nmcli general: "
                                    f"{(proc.stderr or proc.stdout).strip() or 'no answer'})")
    return True


def _listing(fields: str) -> list:
    """`nmcli -t -f FIELDS connection show`, each line split into its fields."""
    proc = _nmcli("-t", "-f", fields, "connection", "show")
    if proc.returncode != 0:
        raise NetworkManagerRefused(f"nmcli connection show failed (rc {proc.returncode}): {proc.stderr.strip()}")
    count = fields.count(",") + 1
    return [_terse_fields(line, count) for line in proc.stdout.splitlines() if line]


def _filenames() -> dict:
    """uuid -> the file NetworkManager has each profile from now."""
    return dict(_listing("UUID,FILENAME"))


def _profiles() -> list:
    """NetworkManager's profiles: [{uuid, filename, autoconnect, interface, master}] (nmcli, terse)."""
    found = []
    for uuid, autoconnect, filename in _listing("UUID,AUTOCONNECT,FILENAME"):
        if not uuid:
            continue
        detail = _nmcli("-g", "connection.interface-name,connection.master", "connection", "show", uuid)
        interface, _sep, master = detail.stdout.rstrip("\n").partition("\n")
        found.append({"uuid": uuid, "autoconnect": autoconnect == "yes", "filename": filename,
                      "interface": interface.strip(), "master": master.strip()})
    return found


def held() -> list:
    """The profiles netsafe stopped from auto-activating and has not given back: [{uuid, filename, interface...}]."""
    try:
        with open(HELD, encoding="utf-8") as handle:
            entries = json.load(handle).get("profiles", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("uuid"), str) and e["uuid"]
            and isinstance(e.get("filename", ""), str) and isinstance(e.get("temporary", ""), str)]


def _write_held(profiles) -> None:
    os.makedirs(os.path.dirname(HELD), mode=0o700, exist_ok=True)
    data = json.dumps({"profiles": sorted(profiles, key=lambda p: p["uuid"])}).encode("utf-8")
    fileops.write_atomic(HELD, data, mode=0o600)


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
    """Stop the auto-activating profiles of `devices` (as their interface, or their master by name or by its
    profile's uuid) from activating; returns them ({uuid, filename, interface}).

    Each profile is noted before it is changed, so none is ever changed and noted nowhere. NetworkManagerRefused
    when NetworkManager does not answer or refuses, or the note cannot be written: the change is not made, and the
    profiles this call held are given back first.
    """
    if not (running(namespace) and _answering()):
        return []
    devices = set(devices)
    profiles = _profiles()
    masters = devices | {p["uuid"] for p in profiles if p["interface"] in devices}
    wanted = [p for p in profiles if p["autoconnect"] and (p["interface"] in devices or p["master"] in masters)]
    if not wanted:
        return []
    taken = {p["uuid"]: p for p in held()}
    mine = []
    try:
        for profile in wanted:
            entry = {"uuid": profile["uuid"], "filename": profile["filename"],
                     "interface": profile["interface"] or profile["master"], "at": _boottime()}
            taken[profile["uuid"]] = entry
            mine.append(entry)
            try:
                _write_held(list(taken.values()))
            except OSError as exc:
                raise NetworkManagerRefused(f"cannot note the profiles held for the change in {HELD} ({exc})") from None
            proc = _nmcli("connection", "modify", "--temporary", profile["uuid"], "connection.autoconnect", "no")
            if proc.returncode != 0:
                raise NetworkManagerRefused(
                    f"NetworkManager refused to stop profile {profile['uuid']} ({entry['interface']}) from "
                    f"auto-activating (nmcli connection modify --temporary: {proc.stderr.strip() or proc.returncode})")
    except NetworkManagerRefused as exc:
        warnings = give_back(namespace, only=mine)
        raise NetworkManagerRefused(f"{exc}; nothing was changed: NetworkManager would undo the change"
                                    + "".join(f"; {w}" for w in warnings)) from None
    try:   # where NetworkManager keeps each copy now: what give_back removes should it no longer run then
        now = _filenames()
        for entry in mine:
            temporary = _temporary(entry, now)
            if temporary:
                entry["temporary"] = temporary
        _write_held(list(taken.values()))
    except (NetworkManagerRefused, OSError):
        pass   # give_back looks again; the profiles are noted either way
    return mine


def interfaces(profiles) -> list:
    """The devices `profiles` (as hold returns them) are for, for messages."""
    return sorted({p.get("interface") or p.get("uuid", "?") for p in profiles})


def _temporary(profile: dict, now: dict) -> str:
    """The /run copy a temporary change made of `profile` (its file now, else as noted), or ""."""
    for candidate in (now.get(profile["uuid"], ""), profile.get("temporary", "")):
        if candidate.startswith(RUNTIME_PROFILES) and "/../" not in candidate and candidate != profile["filename"]:
            return candidate
    return ""


def _boottime() -> float:
    """Seconds since boot, counting suspend: the clock checkpoints keep their deadlines on (no clock step moves it)."""
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


def give_back(namespace=None, load=(), only=None, scope=None, since=None) -> list:
    """Load the profile files `load` (written or removed), and give back the held profiles: all, or those of
    `only` (profiles as hold returned them), of the devices in `scope`, or held at or after `since` (_boottime);
    returns warnings. The others stay held: a profile held for an earlier change that was confirmed without its
    files would undo that change once it auto-activates again.

    A profile from a file in /etc: its /run copy (the temporary change) is removed and both paths are loaded, so
    NetworkManager has the file's profile again. A profile whose own file is under /run (netplan's generated
    profiles), which the temporary change rewrote: auto-activation is set back the same way it was taken, unless
    that file is in `load` (netplan generated it again).
    With NetworkManager stopped, the /run copies are removed: it reads the files when it starts. Never raises:
    the change is made and kept either way; a profile that could not be given back stays noted, and a warning
    names it.
    """
    if namespace is not None:
        return []
    chosen = None if only is None else {p["uuid"] for p in only}

    def wanted(profile: dict) -> bool:
        if chosen is not None and profile["uuid"] not in chosen:
            return False
        if scope is not None and profile.get("interface") not in scope:
            return False
        at = profile.get("at")
        return since is None or not isinstance(at, (int, float)) or at >= since

    every = held()
    profiles = [p for p in every if wanted(p)]
    rest = [p for p in every if not wanted(p)]
    if not profiles and not load:
        return []
    warnings, kept = [], []
    try:
        alive = running(namespace) and _answering()
        now = _filenames() if alive and profiles else {}
        files = set(load)
        for profile in profiles:
            if profile["filename"].startswith(RUNTIME_PROFILES) and profile["filename"] not in files:
                if alive:
                    proc = _nmcli("connection", "modify", "--temporary", profile["uuid"], "connection.autoconnect",
                                  "yes")
                    if proc.returncode != 0:
                        kept.append(profile)
                        warnings.append(f"NetworkManager did not let profile {profile['uuid']} "
                                        f"({profile.get('interface', '?')}) auto-activate again: "
                                        f"{proc.stderr.strip() or proc.returncode}")
                continue
            temporary = _temporary(profile, now)
            if temporary:
                try:
                    os.unlink(temporary)   # loaded below while gone: NetworkManager drops it, the file in /etc counts
                except FileNotFoundError:
                    pass
                files.add(temporary)
            if profile["filename"]:
                files.add(profile["filename"])
        if alive and files:
            proc = _nmcli("connection", "load", *sorted(files))
            if proc.returncode != 0:
                raise NetworkManagerRefused(f"nmcli connection load: {proc.stderr.strip() or proc.returncode}")
    except (NetworkManagerRefused, OSError) as exc:
        names = ", ".join(interfaces(profiles)) or "the saved devices"
        _note(rest + profiles)
        return [f"NetworkManager: the profiles of {names} could not be given back ({exc}); they stay without "
                f"auto-activation until a reboot, or until `nmcli connection reload` once it answers"]
    _note(rest + kept)
    return warnings


def _note(profiles) -> None:
    """The note holds exactly `profiles` (removed when none); best effort."""
    try:
        if profiles:
            _write_held(profiles)
        else:
            os.unlink(HELD)
    except OSError:
        pass


def held_warning(namespace=None) -> list:
    """After a confirmation (and its save, if any): the profiles still held, as a warning saying how to end it."""
    names = interfaces(held()) if namespace is None else []
    if not names:
        return []
    return [f"NetworkManager: the profiles of {', '.join(names)} stay without auto-activation, so that it does not "
            f"undo the confirmed change, until their keyfiles are saved (persist with format networkmanager, or "
            f"net_persist); a reboot boots what the files say"]
