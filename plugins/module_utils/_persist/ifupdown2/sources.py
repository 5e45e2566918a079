# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Which files a `source` or `source-directory` line brings in, as ifupdown2 opens them."""
from __future__ import annotations

import fnmatch
import posixpath
import re


_SOURCE_DIRECTORY_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")   # run-parts names, as ifupdown reads a source-directory


def _glob_match(pattern: str, path: str) -> bool:
    """glob(3) on one path: per component, and a wildcard matches no leading dot."""
    pat_parts, path_parts = pattern.split("/"), path.split("/")
    if len(pat_parts) != len(path_parts):
        return False
    for pat, part in zip(pat_parts, path_parts):
        if part.startswith(".") and not pat.startswith("."):
            return False
        if not fnmatch.fnmatchcase(part, pat):
            return False
    return True


def absolute(argument: str) -> str:
    """A `source` path as ifupdown2 opens it: relative to its working directory, / when started at boot."""
    return posixpath.normpath(argument if argument.startswith("/") else "/" + argument)


def sourced(word: str, argument: str, candidates) -> list:
    """The files a `source`/`source-directory` line names, among `candidates` (host paths), sorted."""
    target = absolute(argument)
    if word == "source":
        return sorted(p for p in candidates if _glob_match(target, p))
    return sorted(p for p in candidates
                  if posixpath.dirname(p) == target and _SOURCE_DIRECTORY_NAME.match(posixpath.basename(p)))
