# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The confirmation of a checkpoint, then the network files for the network as confirmed.

Shared by net_checkpoint (state=confirmed) and net_state (checkpoint.confirm),
so that a window can confirm with the module it applied with: one module
payload built per play. The files are written only once the confirmation
succeeded; a save that fails then cannot undo it, and says so.
"""
from __future__ import annotations

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError, ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.files import FileWriteError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import GuestMatcher
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import spec as persist_spec
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import checkpoint as cp
from ansible_collections.netsafe.hypervisor.plugins.module_utils._safety import window


def check_persist_first(persist, root: str, secrets: set, place: str = "persist") -> None:
    """Bad `persist` options fail before the confirmation: nothing confirmed, nothing written."""
    if persist is None:
        return
    try:
        persist_spec.check_options(persist, root, secrets, place)
    except ValidationError as exc:
        raise ValidationError(exc.problems + ["nothing was confirmed and no file was written"]) from None


def confirm(store: cp.Store, checkpoint_id: str, check_mode: bool, by: str) -> dict:
    """Disarm `checkpoint_id` (the change stays). Again for one already confirmed: nothing to do. For one whose
    rollback failed: the network is kept as it is and the window closed."""
    last = store.last()
    if store.load() is None and last and last.get("id") == checkpoint_id:
        if last["outcome"] == cp.CONFIRMED:
            return {"changed": False, "armed": False, "last": last}
        if last["outcome"] == cp.ROLLBACK_FAILED:
            result = window.accept_failed(store, last, check_mode, by)
            result.update(armed=False, last=store.last())
            return warn_not_written(result)
    result = window.confirm(store, checkpoint_id, check_mode, by)
    result.update(armed=check_mode, last=store.last())
    return warn_not_written(result)


def save_confirmed(result: dict, persist: dict, root: str, namespace, guests: GuestMatcher, check_mode: bool,
                   secrets: set, checkpoint_id: str, place: str = "persist") -> None:
    """net_persist's state=saved into `result`, run once the confirmation succeeded (in check mode, both checked)."""
    try:
        saved = persist_spec.save_files(persist, root, namespace, guests, check_mode, secrets)
    except Exception as exc:   # pylint: disable=broad-exception-caught  # whatever it was, the operator must know
        # An outcome neither last.json nor its copy took (both disks full): the last outcome on disk is another
        # checkpoint's, and no later run finds this one.
        lost = (result.get("last") or {}).get("id") != checkpoint_id
        raise _not_saved(exc, persist, root, namespace, check_mode, checkpoint_id, place, lost) from None
    result["warnings"] = result.get("warnings", []) + [f"{place}: {w}" for w in saved.pop("warnings", [])]
    result.update(persist=saved, diff=saved["diff"], changed=result["changed"] or saved["changed"])


def _not_saved(exc: Exception, persist: dict, root: str, namespace, check_mode: bool, checkpoint_id: str,
               place: str, lost: bool = False) -> persist_spec.FilesNotWritten:
    why = str(exc) if isinstance(exc, NetsafeError) else f"{type(exc).__name__}: {exc}"
    if check_mode:
        error = persist_spec.FilesNotWritten(
            f"{place}: check mode: checkpoint {checkpoint_id} would be confirmed, but the network files could not be "
            f"saved: {why}. Nothing was confirmed or written")
        error.host_changed = False
        return error
    some = "NOT all written" if isinstance(exc, FileWriteError) else "NOT written"
    return persist_spec.FilesNotWritten(
        f"{place}: checkpoint {checkpoint_id} IS confirmed: the network change is kept and will not be rolled back. "
        f"The network files were {some}: {why}. Until they are, the host boots into its previous network "
        f"configuration. Fix the cause, then write them with {persist_spec.retry_hint(persist, root, namespace)} "
        f"({'not with this task again: its confirmation could not be recorded' if lost else 'or run this task again with the same id'})")


def warn_not_written(result: dict) -> dict:
    """A task whose outcome could not all be written (a full disk) says so; the host's network is as reported."""
    lines = (result.get("outcome") or {}).get("not_written") or []
    if lines:
        result["warnings"] = result.get("warnings", []) + [f"could not write: {line}" for line in lines]
    return result
