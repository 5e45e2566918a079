"""The real network stacks' own parsers, run from unpacked Debian packages (never installed here).

Each runner gives a stack's own reading of a file we wrote, so tests compare
what the real parser understood with what we meant. Set up by tests/setup.d/.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# -- NetworkManager (tests/setup.d/31-networkmanager.sh) ------------------------------------------

NM_ROOT = ROOT / ".tmp" / "networkmanager" / "root"
NMCLI = NM_ROOT / "usr" / "bin" / "nmcli"


class NmcliRefused(Exception):
    """nmcli's keyfile reader or libnm's verify() refused the profile; the message is nmcli's."""


def nmcli_available() -> bool:
    return NMCLI.is_file()


def nmcli_offline(keyfile_text: str, *args: str, timeout: float = 30) -> str:
    """NetworkManager's normalised keyfile for `keyfile_text`, as its own reader understood it.

    Runs Debian's `nmcli --offline connection modify` (NetworkManager 1.42.4)
    with the profile on stdin: nmcli reads it through libnm's keyfile reader
    (nm_keyfile_read), normalises and verifies it (nm_connection_normalize)
    and prints the keyfile libnm would write. No daemon, no D-Bus, nothing
    written. `args` are the property changes to make (`setting.property value`
    pairs); by default the profile's own connection.id is set again, a no-op.

    Careful (notes/lab.md): the reader silently drops values it cannot use
    (a bad `stp=` or an out-of-range number vanishes, exit code 0). Never trust
    the exit code alone: compare the printed profile with what was meant.
    Raises NmcliRefused when nmcli fails (verify() errors do fail).
    """
    if not args:
        match = re.search(r"^\s*id\s*=\s*(.*)$", keyfile_text, re.M)
        args = ("connection.id", match.group(1).strip() if match else "netsafe-test")
    env = dict(os.environ, LD_LIBRARY_PATH=str(NM_ROOT / "usr" / "lib" / "x86_64-linux-gnu"), LC_ALL="C")
    proc = subprocess.run([str(NMCLI), "--offline", "connection", "modify", *args], input=keyfile_text,
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise NmcliRefused(f"nmcli --offline exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout
