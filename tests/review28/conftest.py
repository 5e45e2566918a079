"""Fixtures of the issue-28 review tests: the systemd host's (tests/realhost/conftest.py, loaded under another name
since both files are called conftest), and tests/realhost's helpers (checkpoints.py) importable."""
from __future__ import annotations

import importlib.util
import os
import sys

REALHOST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "realhost")
if REALHOST not in sys.path:
    sys.path.insert(0, REALHOST)

_SPEC = importlib.util.spec_from_file_location("realhost_conftest", os.path.join(REALHOST, "conftest.py"))
_REALHOST = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_REALHOST)

systemd_host_factory = _REALHOST.systemd_host_factory
systemd_host = _REALHOST.systemd_host
