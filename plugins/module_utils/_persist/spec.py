# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""How the network files are saved, as options every module that saves them shares.

`PERSIST_SPEC` is net_persist's options that decide what a save writes and
how (format, devices, path, backup_dir, backup_keep, pending_changes). The
modules build from it, so they cannot drift: net_persist's own argument spec
(with `state`, `root` and the network options), net_checkpoint's `persist`
and net_state's `checkpoint.persist` (suboptions). `root` is the module's own.

`save_files` is `state: saved` from those options, `preflight_files` the same
checks for the state a change will leave, writing nothing. Both open the
format and hand every secret value the files hold to the caller's no_log set
(an error quoting a line of a file never shows one).
"""
from __future__ import annotations

import contextlib

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher, HostNetwork
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine

PERSIST_SPEC = {
    "format": {"type": "str", "choices": ["auto", "ifupdown2", "networkmanager", "networkd", "netplan"], "default": "auto"},
    "devices": {"type": "list", "elements": "str"},
    "path": {"type": "path"},
    "backup_dir": {"type": "path", "default": engine.DEFAULT_BACKUP_DIR},
    "backup_keep": {"type": "int", "default": engine.DEFAULT_BACKUP_KEEP},
    "pending_changes": {"type": "str", "choices": list(engine.PENDING_CHOICES), "default": "refuse"},
}


class FilesNotWritten(NetsafeError):
    """The network change is confirmed and kept, but the files describing it could not be saved."""

    host_changed = True


@contextlib.contextmanager
def opened(options: dict, root: str, secrets: set):
    """(format object, how it was chosen) for `options` under `root`; on leaving, the secret values of every
    file read through it are added to `secrets` (the module's no_log_values), whatever happened."""
    fmt, detected = engine.open_format(options["format"], options["path"], root)
    try:
        yield fmt, detected
    finally:
        secrets.update(engine.masked_secrets(fmt))


def save_files(options: dict, root: str, namespace, guests: GuestMatcher, check_mode: bool, secrets: set) -> dict:
    """net_persist's `state: saved` from PERSIST_SPEC's `options`: the kernel's devices in scope written into the
    files (in check mode, what would be). The result is net_persist's: changed, files, diff, backups, devices,
    removed_devices, pruned_backups, warnings, format, detected. Raises what net_persist fails with."""
    with opened(options, root, secrets) as (fmt, detected):
        result = engine.saved(fmt, namespace, options["devices"], guests, check_mode, options["backup_dir"],
                              options["backup_keep"], options["pending_changes"])
    result.update(format=fmt.NAME, detected=detected)
    return result


def preflight_files(options: dict, root: str, host: HostNetwork, guests: GuestMatcher, secrets: set,
                    gateway_mtus: dict | None = None) -> dict:
    """What `save_files` would do if the kernel were `host` (a plan's predicted state: plan.predict(snapshot.host)),
    writing nothing: engine.preflight with PERSIST_SPEC's `options`. Raises the ValidationError a save would
    (a stanza the format cannot write, staged changes per pending_changes, a path out of root). `gateway_mtus`
    (read.Snapshot's): the default routes' own MTUs, which the save will warn the files do not keep."""
    with opened(options, root, secrets) as (fmt, detected):
        result = engine.preflight(fmt, host, options["devices"], guests, options["pending_changes"],
                                  options["backup_dir"], options["backup_keep"])
    result["warnings"] += engine.route_mtu_warnings(gateway_mtus or {}, result["devices"])
    result.update(format=fmt.NAME, detected=detected)
    return result


def written_files(options: dict, root: str, secrets: set) -> HostNetwork:
    """What the files PERSIST_SPEC's `options` name say now (engine.written)."""
    with opened(options, root, secrets) as (fmt, _detected):
        return engine.written(fmt)


def check_options(options: dict, root: str, secrets: set, option: str = "persist") -> None:
    """The options a save would refuse before reading any file (format, path, root, backup_dir, backup_keep), judged
    now: a ValidationError whose every problem names `option` (the module's option holding PERSIST_SPEC)."""
    try:
        with opened(options, root, secrets) as (fmt, _detected):
            engine.check_backup_options(fmt, options["backup_dir"], options["backup_keep"])
    except ValidationError as exc:
        raise ValidationError([f"{option}: {problem}" for problem in exc.problems]) from None


def retry_hint(options: dict, root: str, namespace) -> str:
    """The net_persist task that writes the files these options describe (for a message after a failed save)."""
    args = {"state": "saved", **{k: v for k, v in options.items() if v is not None and v != PERSIST_SPEC[k].get("default")}}
    if root not in (None, "/"):
        args["root"] = root
    if namespace:
        args["namespace"] = namespace
    shown = (f"{k}=[{', '.join(v)}]" if isinstance(v, list) else f"{k}={v}" for k, v in args.items())
    return "netsafe.hypervisor.net_persist with " + ", ".join(shown)
