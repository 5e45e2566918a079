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

import os
import time

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import files as fileops
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.hostlock import Writer
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bond, Bridge, GuestMatcher, HostNetwork, Vlan,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.netlink import Netlink
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.plan_host import plan_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.read import read_host
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.runner import converge
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.views import (
    bond_view, bridge_view, device_view, vlan_view,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import scope as scopes
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.detect import detect
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS

DEFAULT_BACKUP_DIR = "/var/lib/netsafe/backups"


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
    return fmt, detected


def _read_files(fmt) -> dict:
    try:
        return fmt.read()
    except OSError as exc:
        raise ValidationError([f"path: cannot read {exc.filename or fmt.path}: {exc.strerror or exc}"]) from None


def _file_diff(fmt, path: str, old, new) -> dict:
    shown = fmt.host_path(path)
    return {"before_header": shown if old is not None else f"{shown} (absent)", "before": old or "",
            "after_header": shown if new is not None else f"{shown} (removed)", "after": new or ""}


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


def plan_files(fmt, namespace, names, guests: GuestMatcher) -> dict:
    """What saving would do: the files as they are, the changes, devices in scope, warnings."""
    files = _read_files(fmt)
    have = fmt.parse(files)
    with Netlink(namespace) as netlink:
        host = read_host(netlink, guests).host
    want, missing = scopes.persisted(host, names, guests)
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
    _follow_removals(host, have, want, remove, guests)
    _follow_released(host, have, want, guests)
    changes = fmt.render(files, want, remove)
    return {"files": files, "changes": changes, "devices": sorted(want.devices), "removed_devices": remove,
            "warnings": warnings}


def _follow_removals(host: HostNetwork, have: HostNetwork, want: HostNetwork, remove: list, guests) -> None:
    """Devices the files tie to a removed one (its ports, VLANs on it) are described again as they run now.

    In NetworkManager and networkd a port's own file names its bridge or bond:
    removing the bridge must not leave its old ports pointing at it. A VLAN
    whose parent is gone is gone from the kernel too, and from the files.
    """
    todo = list(remove)
    while todo:
        gone = todo.pop()
        for dev in list(have.devices.values()):
            tied = dev.master == gone or (isinstance(dev, Vlan) and dev.parent == gone)
            if not tied or dev.name in want.devices or dev.name in remove:
                continue
            if host.get(dev.name) is None or guests.is_guest_device(host.get(dev.name)):
                remove.append(dev.name)
                todo.append(dev.name)
            else:
                want.add(scopes.persisted_device(host, dev.name, set(want.devices) | {dev.name}))


def _follow_released(host: HostNetwork, have: HostNetwork, want: HostNetwork, guests) -> None:
    """Devices the files put on a bridge or bond in scope, which the kernel no longer has there, described as they run.

    `devices: [vmbr0]` after vmbr0 lost a port must not leave that port in
    ifupdown2's bridge-ports of vmbr0, nor its own NetworkManager or networkd
    file pointing at vmbr0: the next boot would put it back. Found by the
    power-cut test (issue 24).
    """
    for dev in list(have.devices.values()):
        if dev.name in want.devices or not isinstance(want.get(dev.master or ""), (Bridge, Bond)):
            continue
        now = host.get(dev.name)
        if now is not None and not guests.is_guest_device(now) and now.master != dev.master:
            want.add(scopes.persisted_device(host, dev.name, set(want.devices) | {dev.name}))


def rendered(fmt, namespace, names, guests) -> dict:
    job = plan_files(fmt, namespace, names, guests)
    after = dict(job["files"])
    for path, text in job["changes"].items():
        if text is None:
            after.pop(path, None)
        else:
            after[path] = text
    return {"changed": False, "drift": bool(job["changes"]), "devices": job["devices"],
            "rendered": {fmt.host_path(p): t for p, t in sorted(after.items())},
            "files": [{"path": fmt.host_path(p), "action": _action(job["files"], p, t)} for p, t in sorted(job["changes"].items())],
            "warnings": job["warnings"]}


def _action(before: dict, path: str, text) -> str:
    if text is None:
        return "removed"
    return "updated" if path in before else "created"


def saved(fmt, namespace, names, guests, check_mode: bool, backup_dir: str = DEFAULT_BACKUP_DIR) -> dict:
    job = plan_files(fmt, namespace, names, guests)
    changes, before = job["changes"], job["files"]
    result = {"changed": bool(changes), "devices": job["devices"], "removed_devices": job["removed_devices"],
              "files": [], "backups": [], "warnings": job["warnings"],
              "diff": [_file_diff(fmt, p, before.get(p), t) for p, t in sorted(changes.items())]}
    if check_mode or not changes:
        result["files"] = [{"path": fmt.host_path(p), "action": _action(before, p, t)} for p, t in sorted(changes.items())]
        return result
    stamp = time.time()
    backup_root = fmt.host_path(backup_dir)
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
                backup = fileops.backup_path(backup_root, path, stamp)
                fileops.write_backup(backup, old, st.st_mode)
                result["backups"].append(backup)
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
    return result


def restore_scope(described: HostNetwork, names, guests: GuestMatcher) -> HostNetwork:
    """The described devices `names` (None: all) stand for, with what they stand on."""
    if names is None:
        return described
    unknown = [n for n in names if n not in described.devices]
    if unknown:
        raise ValidationError([f"devices: {', '.join(unknown)} not described in the files; "
                               f"described: {', '.join(sorted(described.devices)) or 'none'}"])
    in_scope, _missing = scopes.scope(described, names, guests)
    out = HostNetwork()
    for name in in_scope:
        out.add(described.get(name))
    return out


def restored(fmt, namespace, names, guests: GuestMatcher, check_mode: bool, writer: Writer = Writer()) -> dict:
    described = fmt.parse(_read_files(fmt))
    desired = restore_scope(described, names, guests)
    if not desired.devices:
        raise ValidationError([f"path: {fmt.path} describes no device to restore"])
    result = converge(namespace, guests, lambda snapshot: plan_host(snapshot.host, desired, guests),
                      lambda host: _device_views(host, desired.devices, guests), check_mode, writer)
    result["devices"] = sorted(desired.devices)
    return result
