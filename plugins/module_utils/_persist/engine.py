# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""net_persist's three jobs: saved, rendered, restored.

saved: the kernel's devices in scope (scope.persisted) are rendered into the
format's files; only files whose meaning changes are written, each with a
backup of its previous content and an atomic replace (_common/files.py).
rendered: the same, returned instead of written. restored: the files parsed
into a model and planned onto the kernel through the core's one pipeline
(runner.converge: plan, apply, verify, undo on failure; guest ports kept).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import files as fileops
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import nm_hands
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import converge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import (
    bond_view, bridge_view, device_view, vlan_view,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import scope as scopes
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.base import refuse
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.detect import detect
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import BRIDGE_OPTIONS

DEFAULT_BACKUP_DIR = "/var/lib/netsafe/backups"
DEFAULT_BACKUP_KEEP = 10
PENDING_CHOICES = ("refuse", "discard", "keep")
# Shorter secret values are not masked in results by value (they would mask unrelated numbers); redact() still hides them.
MIN_MASKED_SECRET = 4


def open_format(name: str, path, root: str):
    """(format object, how it was chosen) for the `format`, `path` and `root` options."""
    if not root or not os.path.isabs(root) or not os.path.isdir(root):
        raise ValidationError([f"root: {root!r} is not an existing directory given by its absolute path"])
    detected = []
    if name == "auto":
        name, detected = detect(root)
    cls = FORMATS.get(name)
    if cls is None:
        raise ValidationError([f"format: {name!r} is not supported; allowed auto, {', '.join(sorted(FORMATS))}"])
    path = path or cls.DEFAULT_PATH
    if not os.path.isabs(path):
        raise ValidationError([f"path: {path!r} must be an absolute path (as the host sees it, inside root)"])
    fmt = cls(path, root)
    fmt.check_path()
    fmt.seen_secrets = set()
    return fmt, detected


def masked_secrets(fmt) -> set:
    """The secret values of every file read through `fmt` (and its staged copy), for Ansible's no_log masking."""
    return {v for v in getattr(fmt, "seen_secrets", ()) if len(v) >= MIN_MASKED_SECRET}


def _read_files(fmt, secrets_of=None) -> dict:
    try:
        files = fmt.read()
    except OSError as exc:
        raise ValidationError([f"path: cannot read {exc.filename or fmt.path}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:   # a Latin-1 comment, a file another tool half wrote: never a traceback
        raise ValidationError([f"path: {fmt.path} (or a file it includes) is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                               f"at offset {exc.start}); fix or remove that byte, nothing was changed"]) from None
    seen = getattr(secrets_of or fmt, "seen_secrets", None)
    if seen is not None:
        for text in files.values():
            seen.update(fmt.secret_values(text))
    return files


def _file_diff(fmt, path: str, old, new) -> dict:
    shown = fmt.host_path(path)
    return {"before_header": shown if old is not None else f"{shown} (absent)", "before": fmt.redact(old) or "",
            "after_header": shown if new is not None else f"{shown} (removed)", "after": fmt.redact(new) or ""}


def _device_views(host: HostNetwork, names, guests: GuestMatcher) -> dict:
    views = {}
    for name in sorted(names):
        dev = host.get(name)
        if isinstance(dev, Bridge):
            views[name] = bridge_view(host, name, guests)
        elif isinstance(dev, Bond):
            views[name] = bond_view(host, name)
        elif isinstance(dev, Vlan):
            views[name] = vlan_view(host, name)
        else:
            views[name] = device_view(host, name, type(dev) if dev is not None else Bridge)
    return views


def kernel(namespace, guests: GuestMatcher) -> HostNetwork:
    """The running devices of the host (or namespace), as one netlink dump reads them."""
    return _kernel_read(namespace, guests).host


def _kernel_read(namespace, guests: GuestMatcher):
    with Netlink(namespace) as netlink:
        return read_host(netlink, guests)


def route_mtu_warnings(gateway_mtus: dict, names) -> list:
    """A default route with an MTU of its own (`default via GW mtu 1500`, the router at 1500 under a jumbo LAN)
    through a device the files describe: the formats' gateway has no MTU, so say it rather than lose it."""
    return [f"{name}: the default route via {gateway} has its own mtu {mtu}, which the files do not keep (a gateway "
            f"in them has no MTU): after a reboot packets to {gateway} leave at {name}'s MTU. Add the route's MTU to "
            f"the files by hand (ifupdown2: post-up ip route replace default via {gateway} dev {name} mtu {mtu})"
            for name, found in sorted(gateway_mtus.items()) if name in names
            for gateway, mtu in sorted(found.items())]


def written(fmt) -> HostNetwork:
    """What the files say now (what the host boots into), read leniently: a stanza the format cannot read is left
    out, as the save that follows would refuse it anyway."""
    return fmt.parse_lenient(_read_files(fmt))[0]


def plan_files(fmt, host: HostNetwork, names, guests, files=None) -> dict:
    """What saving `host` (the kernel, read or given) would do: the files as they are, the changes, warnings."""
    files = _read_files(fmt) if files is None else files
    have, _problems = fmt.parse_lenient(files)   # the renderer refuses what concerns the devices it writes
    masters = {n for n, d in have.devices.items() if isinstance(d, (Bridge, Bond))}
    want, missing = scopes.persisted(host, names, guests, fmt.reserved(files), masters)
    _unknown_as_described(host, have, want)
    warnings = []
    remove = [name for name in missing if name in have.devices]
    for name in missing:
        if name not in have.devices:
            warnings.append(f"devices: {name} is neither in the kernel nor in the files; nothing to save or remove")
    if names is None:
        stale = sorted(n for n, d in have.devices.items() if isinstance(d, (Bridge, Bond, Vlan)) and host.get(n) is None)
        if stale:
            warnings.append(f"the files describe {', '.join(stale)}, which the kernel does not have; they are kept. "
                            f"Name them in devices to remove them from the files")
    _follow_ties(host, have, want, remove, guests, warnings)
    fmt.refuse_competing(files, HostNetwork(devices={n: host.devices[n] for n in want.devices if n in host.devices}))
    changes = fmt.render(files, want, remove)
    return {"files": files, "changes": changes, "devices": sorted(want.devices), "removed_devices": remove,
            "warnings": warnings, "route_drift": scopes.route_drift(
                HostNetwork(devices={n: fmt.as_written(d) for n, d in want.devices.items()}), have)}


def _unknown_as_described(host: HostNetwork, have: HostNetwork, want: HostNetwork) -> None:
    """A bridge option the kernel read could not tell (the ageing time during an STP topology change,
    kinds/bridge.py stp_ageing_time) keeps what the files say, not the default scope.persisted gave it."""
    for name, dev in want.devices.items():
        running, described = host.get(name), have.get(name)
        if not isinstance(running, Bridge) or not isinstance(described, Bridge):
            continue
        for attr in BRIDGE_OPTIONS:
            if getattr(running, attr.name) is None:
                setattr(dev, attr.name, getattr(described, attr.name))


def _tied(dev, named: set) -> bool:
    """Whether a device's description in the files ties it to one of `named`: its master, or a VLAN's parent."""
    return dev.master in named or (isinstance(dev, Vlan) and dev.parent in named)


def _follow_ties(host: HostNetwork, have: HostNetwork, want: HostNetwork, remove: list, guests, warnings) -> None:
    """Every device the files tie to one written or removed is described again as the kernel has it.

    The files must describe the kernel for every device in scope and for every
    port they say belongs to one: an uplink swapped in the kernel (eth0 out,
    eth1 in) that the files still list would join the bridge again at boot,
    next to the new one, and loop. So a port the files give to a device in
    scope is written as it runs (no longer a port; or a port of the master the
    kernel gives it, where the files describe that master), and one the kernel
    does not have at all leaves the files. In NetworkManager and networkd a
    port's own file names its bridge or bond: removing the bridge must not
    leave its old ports pointing at it either. A VLAN whose parent is gone is
    gone from the kernel too, and from the files.
    """
    todo = True
    while todo:
        todo = False
        named = set(want.devices) | set(remove)
        for dev in list(have.devices.values()):
            if dev.name in named or not _tied(dev, named):
                continue
            running = host.get(dev.name)
            guest = guests.is_guest(dev.name, "") or (running is not None and guests.is_guest_device(running))
            if guest and dev.master in want.devices:
                continue   # a guest port the files list (its guest running or not): not ours to write or drop
            if running is None or guest or scopes.is_plumbing(host, running):
                remove.append(dev.name)
                if dev.master in want.devices:
                    warnings.append(f"{dev.name}: the files make it a port of {dev.master}, but the kernel has no "
                                    f"such device; it is removed from the files, or it would join {dev.master} at boot")
            else:
                # Where the files describe its kernel master, it is said to belong there.
                masters = {n for n, d in have.devices.items() if isinstance(d, (Bridge, Bond))}
                want.add(scopes.persisted_device(host, dev.name, set(want.devices) | {dev.name} | masters))
            todo = True


def _result_files(fmt, before: dict, changes: dict) -> list:
    return [{"path": fmt.host_path(p), "action": _action(before, p, t)} for p, t in sorted(changes.items())]


def rendered(fmt, namespace, names, guests) -> dict:
    job = plan_files(fmt, kernel(namespace, guests), names, guests)
    after = dict(job["files"])
    for path, text in job["changes"].items():
        if text is None:
            after.pop(path, None)
        else:
            after[path] = text
    # Only what describes the scope, secrets redacted: other files (a Wi-Fi profile, a WireGuard
    # key) are none of this task's business and must not reach the job's output.
    shown = fmt.describing(after, set(job["devices"]) | set(job["removed_devices"])) | set(job["changes"])
    warnings = job["warnings"] + job["route_drift"] + _staged_warning(fmt, "state=rendered ignores them")
    return {"changed": False, "drift": bool(job["changes"]), "devices": job["devices"],
            "rendered": {fmt.host_path(p): fmt.redact(t) for p, t in sorted(after.items()) if p in shown},
            "files": _result_files(fmt, job["files"], job["changes"]),
            "warnings": warnings}


def _action(before: dict, path: str, text) -> str:
    if text is None:
        return "removed"
    return "updated" if path in before else "created"


def _staged_warning(fmt, what: str) -> list:
    staged = fmt.staged()
    if staged is None:
        return []
    return [f"{staged.path} holds changes staged but not applied (Proxmox VE's web UI); {what}"]


def _stages_nothing(fmt, staged, job: dict) -> bool:
    """The staged copy is the main file byte for byte: it stages no change (a warning says so).

    It is still Proxmox VE's to move over the main file on Apply Configuration or at boot, so a save that
    writes the main file writes the staged copy too (as pending_changes=keep would): the two stay identical,
    and neither moment can undo the save.
    """
    main = job["files"].get(fmt.path)
    if main is None or _read_files(staged, fmt).get(staged.path) != main:
        return False
    job["warnings"].append(f"pending_changes: {fmt.host_path(staged.path)} is identical to {fmt.host_path(fmt.path)}: "
                           f"it stages no change, so it does not stop the save; "
                           + ("it gets the same change, so that Apply Configuration or a boot, which move it over "
                              f"{fmt.path}, keep it" if fmt.path in job["changes"] else "it is left as it is"))
    return True


def _staged_changes(fmt, host, names, guests, job: dict, pending: str) -> tuple:
    """What to do with the staged copy of the files (`pending_changes`): ({path: text or None}, {path: old text}).

    Proxmox VE's web UI stages network edits in /etc/network/interfaces.new and
    moves that file over interfaces on "Apply Configuration" (or at boot).
    Writing interfaces alone would be lost at that moment, and deleting the
    staged file would drop the operator's edits: neither happens silently.
    """
    staged = fmt.staged()
    if staged is None:
        return {}, {}
    if pending not in PENDING_CHOICES:
        raise ValidationError([f"pending_changes: {pending!r} is not one of {', '.join(PENDING_CHOICES)}"])
    if pending == "refuse" and _stages_nothing(fmt, staged, job):
        pending = "keep"
    if pending == "refuse":
        raise ValidationError([f"pending_changes: {fmt.host_path(staged.path)} holds network changes staged but not "
                               f"applied (Proxmox VE's web UI writes them there, and moves that file over "
                               f"{fmt.path} on Apply Configuration or at boot). Nothing was written. Apply or revert "
                               f"them in the web UI first, or set pending_changes to 'discard' (back them up and "
                               f"remove them) or 'keep' (write this change into both files)"])
    staged_files = _read_files(staged, fmt)
    if pending == "discard":
        return {staged.path: None}, {staged.path: staged_files[staged.path]}
    named = set(job["devices"]) | set(job["removed_devices"])
    current, _p = fmt.parse_lenient(job["files"])
    staged_now, _p = staged.parse_lenient(staged_files)
    differ = sorted(n for n in named if (current.get(n) is None) != (staged_now.get(n) is None)
                    or (current.get(n) is not None and current.get(n).to_dict() != staged_now.get(n).to_dict()))
    if differ:
        raise ValidationError([f"pending_changes: {fmt.host_path(staged.path)} stages changes of {', '.join(differ)}, "
                               f"which this save writes too; 'keep' cannot keep both. Apply or revert them in the web "
                               f"UI first, or set pending_changes to 'discard'"])
    plan = plan_files(staged, host, names, guests, staged_files)
    out = {}
    for path, text in plan["changes"].items():
        if path in job["changes"] and job["changes"][path] != text:
            raise ValidationError([f"pending_changes: {path} would need different contents for {fmt.path} and "
                                   f"{staged.path}; set pending_changes to 'discard', or apply the staged changes first"])
        out[path] = text
    return out, staged_files


def check_backup_options(fmt, backup_dir: str, backup_keep: int) -> str:
    """backup_keep judged and backup_dir resolved under root (refused naming it): before anything is read."""
    if isinstance(backup_keep, bool) or not isinstance(backup_keep, int) or backup_keep < 0:
        raise ValidationError([f"backup_keep: {backup_keep!r} must be a whole number, 0 (keep every backup) or more"])
    return fmt.host_path(backup_dir, "backup_dir")


def _plan_save(fmt, host: HostNetwork, names, guests, pending: str) -> tuple:
    """(result as check mode reports it, {path: new text or None}, {path: text before}) of saving `host`."""
    job = plan_files(fmt, host, names, guests)
    staged_changes, staged_files = _staged_changes(fmt, host, names, guests, job, pending)
    changes = {**job["changes"], **staged_changes}
    before = {**staged_files, **job["files"]}
    result = {"changed": bool(changes), "devices": job["devices"], "removed_devices": job["removed_devices"],
              "files": _result_files(fmt, before, changes), "backups": [], "warnings": job["warnings"],
              "diff": [_file_diff(fmt, p, before.get(p), t) for p, t in sorted(changes.items())]}
    return result, changes, before, job["route_drift"]


def preflight(fmt, host: HostNetwork, names, guests, pending: str = "refuse", backup_dir: str = DEFAULT_BACKUP_DIR,
              backup_keep: int = DEFAULT_BACKUP_KEEP) -> dict:
    """What `saved` would write if the kernel were `host` (a change's predicted state), writing nothing.

    The same checks as `saved` in check mode, on a given HostNetwork instead of
    a kernel dump: the backup options, the files read and parsed, every stanza
    or profile of a device in scope that the format cannot write (a DHCP
    stanza, a '\\' continuation, a value the format has no word for) and the
    staged copy per `pending` (Proxmox VE's interfaces.new) each refused with
    the ValidationError `saved` raises. Returns what check mode returns:
    changed, devices, removed_devices, files, diff, warnings (route drift
    included). So a change window can refuse a file the format cannot take
    before it changes the kernel.
    """
    check_backup_options(fmt, backup_dir, backup_keep)
    result, _changes, _before, route_drift = _plan_save(fmt, host, names, guests, pending)
    result["warnings"] = result["warnings"] + route_drift
    return result


def saved(fmt, namespace, names, guests, check_mode: bool, backup_dir: str = DEFAULT_BACKUP_DIR,
          backup_keep: int = DEFAULT_BACKUP_KEEP, pending: str = "refuse") -> dict:
    backup_root = check_backup_options(fmt, backup_dir, backup_keep)   # refused before anything is read
    snapshot = _kernel_read(namespace, guests)
    if check_mode:
        result = preflight(fmt, snapshot.host, names, guests, pending, backup_dir, backup_keep)
        result["warnings"] += route_mtu_warnings(snapshot.gateway_mtus, result["devices"])
        return result
    result, changes, before, _drift = _plan_save(fmt, snapshot.host, names, guests, pending)
    result["warnings"] += route_mtu_warnings(snapshot.gateway_mtus, result["devices"])
    if not changes:
        result["warnings"] += _networkmanager_agrees(fmt, namespace, result)
        return result
    result["files"] = []
    for path in changes:
        fmt.host_path(path)   # a path a symlink leads out of root is refused before the first write
    backups = fileops.BackupRun(backup_root, backup_keep, top=fileops.netsafe_top(backup_root, fmt.root))
    # Created and updated files first, removals last: a crash part-way leaves
    # every device described at least once, never a device with no description.
    for path, text in sorted(changes.items(), key=lambda item: (item[1] is None, item[0])):
        real = fmt.host_path(path)
        action = _action(before, path, text)
        try:
            directory = os.path.dirname(real)
            if text is not None and not os.path.isdir(directory):
                os.makedirs(directory, mode=0o755)
            fileops.remove_stale_temporaries(directory)
            if os.path.exists(real):
                st = os.stat(real)
                with open(real, "rb") as handle:
                    old = handle.read()
                result["backups"].append(backups.save(path, old, st.st_mode))
            if text is None:
                fileops.remove_durably(real)
            else:
                fileops.write_atomic(real, text.encode("utf-8"), mode=fmt.new_file_mode(path))
        except OSError as exc:
            done = ", ".join(f"{f['path']} ({f['action']})" for f in result["files"]) or "none"
            raise fileops.FileWriteError(
                f"could not write {real}: {exc.strerror or exc}; files already written: {done}; "
                f"backups: {', '.join(result['backups']) or 'none'}") from None
        result["files"].append({"path": real, "action": action})
    try:
        result["pruned_backups"] = backups.prune()
    except OSError as exc:
        result["pruned_backups"] = []
        result["warnings"].append(f"backup_keep: could not remove old backups under {backups.root}: {exc}")
    result["warnings"] += _networkmanager_agrees(fmt, namespace, result)
    return result


def _networkmanager_agrees(fmt, namespace, result: dict) -> list:
    """Files saved for the host's own network: a running NetworkManager loads them and gets back the profiles
    netsafe held (nm_hands); returns warnings.

    Keyfiles are loaded as written. netplan's files are turned into NetworkManager's profiles by `netplan
    generate` (what the boot runs) first, where netplan renders for NetworkManager: its profiles are the ones it
    generates under /run.
    """
    if os.path.realpath(fmt.root) != "/" or namespace is not None:
        return []
    scope = set(result["devices"]) | set(result["removed_devices"])   # what the files now describe as it runs
    if fmt.NAME == "networkmanager":
        return nm_hands.give_back(namespace, load=[f["path"] for f in result.get("files") or []], scope=scope)
    if fmt.NAME != "netplan" or not nm_hands.held():
        return []
    netplan = shutil.which("netplan")
    proc = subprocess.run([netplan, "generate"], capture_output=True, text=True, timeout=60, check=False) if netplan \
        else None
    if proc is None or proc.returncode != 0:
        why = "netplan is not installed" if proc is None else (proc.stderr or proc.stdout).strip() or proc.returncode
        return [f"NetworkManager: netplan generate failed ({why}); " + " ".join(nm_hands.held_warning(namespace))]
    generated = sorted(glob.glob(nm_hands.RUNTIME_PROFILES + "netplan-*.nmconnection"))
    return nm_hands.give_back(namespace, load=generated, scope=scope)


def restore_scope(described: HostNetwork, names, guests: GuestMatcher, reserved=None) -> HostNetwork:
    """The described devices `names` (None: all but `reserved` ones) stand for, with what they stand on."""
    reserved = reserved or {}
    if names is None:
        return HostNetwork({n: d for n, d in described.devices.items() if n not in reserved})
    unknown = [n for n in names if n not in described.devices and n not in reserved]
    if unknown:
        raise ValidationError([f"devices: {', '.join(unknown)} not described in the files; "
                               f"described: {', '.join(sorted(described.devices)) or 'none'}"])
    in_scope, _missing = scopes.scope(described, names, guests, reserved)
    out = HostNetwork()
    for name in in_scope:
        out.add(described.get(name))
    return out


def restored(fmt, namespace, names, guests: GuestMatcher, check_mode: bool, writer: Writer = Writer()) -> dict:
    files = _read_files(fmt)
    described, problems = fmt.parse_lenient(files)
    desired = restore_scope(described, names, guests, fmt.reserved(files))
    refuse(problems, None if names is None else desired.devices)
    if not desired.devices:
        raise ValidationError([f"path: {fmt.path} describes no device to restore"])
    result = converge(namespace, guests, lambda snapshot: plan_host(snapshot.host, desired, guests),
                      lambda host: _device_views(host, desired.devices, guests), check_mode, writer)
    result["devices"] = sorted(desired.devices)
    result.setdefault("warnings", []).extend(_staged_warning(fmt, "state=restored reads only the applied files"))
    return result
