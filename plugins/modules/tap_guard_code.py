#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: install the tap_guard watcher's code on the host, in one task and one transfer."""
from __future__ import annotations

DOCUMENTATION = r"""
module: tap_guard_code
short_description: Install the tap_guard watcher's code on the host in one task
version_added: 0.1.0
description:
  - Writes the code of the tap_guard watcher under O(dest), the directory its systemd unit puts on C(PYTHONPATH).
    The C(netsafe.hypervisor.tap_guard) role uses it; it is rarely useful on its own.
  - What is written is the watcher and every module of the collection it imports, found by following its imports
    (the same exporter gives the checkpoint watchdog its code), laid out as
    C(ansible_collections/netsafe/hypervisor/plugins/module_utils/...) with each package's C(__init__.py), so
    O(dest) alone on C(sys.path) runs it with nothing else installed (no Ansible, no pyroute2).
  - The code travels with the module itself (one transfer, the controller's copy of the collection); only files
    that differ are replaced, each atomically (0644, directories 0755), and C(.py) files under O(dest)'s
    C(ansible_collections) tree that the watcher no longer uses are removed. Nothing else under O(dest) is touched.
author:
  - netsafe.hypervisor team (@netsafe-hypervisor)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports the files it would write and remove, and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: One line per file (path, first 16 hex digits of its SHA-256, mode) before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
options:
  dest:
    description:
      - Directory that receives the code (created, with missing parents, 0755).
      - An absolute path.
    type: path
    required: true
notes:
  - The watcher needs Python 3.8 or later on the host and only its standard library.
seealso:
  - module: netsafe.hypervisor.tap_reenslave
"""

EXAMPLES = r"""
- name: Install the watcher's code where the unit looks for it
  netsafe.hypervisor.tap_guard_code:
    dest: /usr/local/lib/netsafe-tap-guard
  notify: Restart tap_guard
"""

RETURN = r"""
dest:
  description: The directory the code is in.
  returned: always
  type: str
  sample: /usr/local/lib/netsafe-tap-guard
files:
  description: Every file of the watcher's code, relative to O(dest).
  returned: always
  type: list
  elements: str
  sample: ["ansible_collections/netsafe/hypervisor/plugins/module_utils/_guests/watcher.py"]
written:
  description: The files that were written (in check mode, would be), relative to O(dest).
  returned: always
  type: list
  elements: str
removed:
  description: The files removed because the watcher no longer imports them (in check mode, would be).
  returned: always
  type: list
  elements: str
"""

import hashlib
import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common import export
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
# Imported so that Ansible ships the watcher and everything it imports with this module: that is the code written.
from ansible_collections.netsafe.hypervisor.plugins.module_utils._guests import watcher

ARGUMENT_SPEC = dict(dest=dict(type="path", required=True))


def listing(dest: str, paths, files=None) -> str:
    """One line per path: its SHA-256 prefix and mode, from `files` (what will be) or from disk (what is)."""
    lines = []
    for path in sorted(paths):
        if files is not None:
            text = files.get(path)
            data, mode = (None, None) if text is None else (text.encode("utf-8"), export.FILE_MODE)
        else:
            data, mode = _on_disk(os.path.join(dest, path))
        lines.append(f"{path} {'absent' if data is None else hashlib.sha256(data).hexdigest()[:16]}"
                     f"{'' if mode is None else f' {mode:04o}'}\n")
    return "".join(lines)


def _on_disk(path: str):
    try:
        st = os.lstat(path)
        with open(path, "rb") as handle:
            return handle.read(), stat.S_IMODE(st.st_mode)
    except OSError:
        return None, None


def run(module) -> dict:
    dest = module.params["dest"]
    if not os.path.isabs(dest):
        raise NetsafeError(f"dest: {dest!r} is not an absolute path; give the directory the unit puts on PYTHONPATH")
    files = export.closure(watcher.__name__)
    changes = export.plan_sync(files, dest)
    touched = changes["write"] + changes["remove"]
    before = listing(dest, touched) if touched else None   # Ansible shows it with --diff only
    if touched and not module.check_mode:
        changes = export.sync(files, dest)
    result = dict(changed=bool(touched), dest=dest, files=sorted(files), written=changes["write"],
                  removed=changes["remove"])
    if before is not None:
        result["diff"] = {"before_header": dest, "after_header": dest, "before": before,
                          "after": listing(dest, touched, files)}
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module)
    except NetsafeError as exc:
        module.fail_json(msg=str(exc), changed=False)
    except OSError as exc:
        module.fail_json(msg=f"dest: cannot write the watcher's code under {module.params['dest']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
