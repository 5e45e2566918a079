# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""The collection's own errors, and how an exception's type is named in results."""
from __future__ import annotations


class NetsafeError(Exception):
    """Base of the collection's own errors; a module's edge turns it into fail_json.

    `host_changed` tells that edge whether the host was left changed (a failed
    change whose undo did not complete), which the task reports as `changed`.
    """

    host_changed = False
    details: dict = {}   # more of the result a failed task returns (a window's probes and rollback)


class ValidationError(NetsafeError):
    """Input refused before any change; one line per problem, each naming its parameter."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def qualname(exc: BaseException) -> str:
    """A readable class name: builtins bare, pyVmomi types by their VMODL name, others dotted."""
    cls = type(exc)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    if module.startswith("pyVmomi"):
        return cls.__name__  # e.g. vim.fault.InvalidLogin
    return f"{module}.{cls.__qualname__}"
