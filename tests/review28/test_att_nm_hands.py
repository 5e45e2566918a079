"""Review of issue 28 (attacker): nm_hands (a running NetworkManager's profiles held for a window) on a bad day.

NetworkManager itself is played by a fake `nmcli` on PATH: a small program keeping its profiles in a JSON state
file (which are auto-activating now, as `nmcli connection modify --temporary` and `connection load` change it),
answering the commands nm_hands runs in nmcli's terse format, and hanging on the commands a test names (a
NetworkManager stuck on D-Bus). Each test shows a defect and is xfail(strict): it passes once it is fixed.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network import nm_hands

FAKE = textwrap.dedent('''\
    #!/usr/bin/env python3
    import json, os, sys, time
    STATE = os.environ.get("FAKE_NMCLI_STATE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "state.json")
    with open(STATE) as f:
        state = json.load(f)
    args = sys.argv[1:]
    state["calls"].append(args)
    with open(STATE, "w") as f:
        json.dump(state, f)
    for word in state.get("hang", []):
        if word in " ".join(args):
            time.sleep(30)
    esc = lambda s: s.replace("\\\\", "\\\\\\\\").replace(":", "\\\\:")
    profiles = state["profiles"]
    if args == ["-t", "-f", "RUNNING", "general"]:
        print("running")
    elif args[:3] == ["-t", "-f", "UUID,AUTOCONNECT,FILENAME"]:
        for p in profiles:
            print(f"{p['uuid']}:{'yes' if p['autoconnect'] else 'no'}:{esc(p['runtime'] or p['filename'])}")
    elif args[:3] == ["-t", "-f", "UUID,FILENAME"]:
        for p in profiles:
            print(f"{p['uuid']}:{esc(p['runtime'] or p['filename'])}")
    elif args[:1] == ["-g"]:
        p = next(p for p in profiles if p["uuid"] == args[-1])
        print(p["interface"]); print(p["master"])
    elif args[:3] == ["connection", "modify", "--temporary"]:
        p = next(p for p in profiles if p["uuid"] == args[3])
        p["autoconnect"] = args[5] == "yes"
        p["runtime"] = state["runtime_dir"] + p["uuid"] + ".nmconnection"
        open(p["runtime"], "w").close()
    elif args[:2] == ["connection", "load"]:
        for name in args[2:]:
            if not os.path.exists(name) and not any(name in (p["filename"], p["runtime"]) for p in profiles):
                print(f"Error: failed to load connection: {name}", file=sys.stderr); sys.exit(1)
        for p in profiles:
            if p["filename"] in args[2:] and not (p["runtime"] and os.path.exists(p["runtime"])):
                p["autoconnect"], p["runtime"] = True, ""
    elif args[:2] == ["connection", "reload"]:
        for p in profiles:
            if not (p["runtime"] and os.path.exists(p["runtime"])):
                p["autoconnect"], p["runtime"] = True, ""
    else:
        print("fake nmcli: unknown " + repr(args), file=sys.stderr); sys.exit(2)
    state["calls"] = json.load(open(STATE))["calls"]
    with open(STATE, "w") as f:
        json.dump(state, f)
''')


class FakeNM:
    def __init__(self, tmp_path, monkeypatch):
        self.dir = tmp_path
        self.etc = tmp_path / "etc-nm"
        self.run = tmp_path / "run-nm" / "system-connections"
        self.etc.mkdir()
        self.run.mkdir(parents=True)
        bindir = tmp_path / "bin"
        bindir.mkdir()
        (bindir / "nmcli").write_text(FAKE)
        (bindir / "nmcli").chmod(0o755)
        self.state_file = bindir / "state.json"
        self.save({"profiles": [], "calls": [], "hang": [], "runtime_dir": str(self.run) + "/"})
        monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
        monkeypatch.setattr(nm_hands, "running", lambda namespace=None: namespace is None)
        monkeypatch.setattr(nm_hands, "HELD", str(tmp_path / "run-netsafe" / "networkmanager-held.json"))
        monkeypatch.setattr(nm_hands, "RUNTIME_PROFILES", str(self.run) + "/")
        monkeypatch.setattr(nm_hands, "NMCLI_TIMEOUT", 2)

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def save(self, state) -> None:
        self.state_file.write_text(json.dumps(state))

    def add(self, uuid, interface, master="", name=None) -> str:
        state = self.state()
        filename = str(self.etc / f"{name or interface}.nmconnection")
        with open(filename, "w", encoding="utf-8") as handle:
            handle.write(f"[connection]\nuuid={uuid}\n")
        state["profiles"].append({"uuid": uuid, "interface": interface, "master": master, "autoconnect": True,
                                  "filename": filename, "runtime": ""})
        self.save(state)
        return filename

    def bridge_with_port(self) -> None:
        """vmbr0's profile and its port eno2's, both auto-activating."""
        self.add(BR, "vmbr0")
        self.add(PORT, "eno2", master="vmbr0")

    def hang(self, *words) -> None:
        state = self.state()
        state["hang"] = list(words)
        self.save(state)

    def autoconnect(self) -> dict:
        return {p["uuid"]: p["autoconnect"] for p in self.state()["profiles"]}


BR = "11111111-1111-1111-1111-111111111111"
PORT = "22222222-2222-2222-2222-222222222222"
PORT2 = "33333333-3333-3333-3333-333333333333"


@pytest.fixture
def nm(tmp_path, monkeypatch):
    return FakeNM(tmp_path, monkeypatch)


def test_att_the_fake_holds_and_gives_back_as_nm_hands_expects(nm):
    """Not a defect: the fake NetworkManager plays the part nm_hands was written for (the tests below rely on it)."""
    nm.bridge_with_port()
    assert nm_hands.interfaces(nm_hands.hold({"vmbr0"})) == ["eno2", "vmbr0"]
    assert nm.autoconnect() == {BR: False, PORT: False}
    assert {p["uuid"] for p in nm_hands.held()} == {BR, PORT}
    assert nm_hands.give_back() == []
    assert nm.autoconnect() == {BR: True, PORT: True}
    assert nm_hands.held() == [] and not list(nm.run.iterdir())


def test_att_give_back_with_a_hung_networkmanager_warns_instead_of_raising(nm):
    nm.add(BR, "vmbr0")
    assert nm_hands.interfaces(nm_hands.hold({"vmbr0"})) == ["vmbr0"]
    nm.hang("connection load")
    try:
        warnings = nm_hands.give_back()
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"give_back raised {exc!r}")
    assert warnings and "vmbr0" in " ".join(warnings)


def test_att_hold_with_a_hung_networkmanager_is_a_clear_refusal(nm):
    nm.bridge_with_port()
    nm.hang(f"--temporary {PORT}")
    with pytest.raises(NetsafeError, match="NetworkManager"):
        nm_hands.hold({"vmbr0", "eno2"})


def test_att_hold_that_cannot_note_gives_back_and_refuses(nm, monkeypatch, tmp_path):
    nm.bridge_with_port()
    (tmp_path / "full").write_text("")   # the note's directory cannot be made: as /run full or read-only
    monkeypatch.setattr(nm_hands, "HELD", str(tmp_path / "full" / "netsafe" / "networkmanager-held.json"))
    with pytest.raises(NetsafeError):
        nm_hands.hold({"vmbr0", "eno2"})
    assert nm.autoconnect() == {BR: True, PORT: True}, "profiles left without auto-activation, noted nowhere"


def test_att_hold_interrupted_still_notes_what_it_held(nm):
    nm.bridge_with_port()
    nm.hang(f"--temporary {PORT}", "UUID,FILENAME connection show")
    with pytest.raises(Exception):
        nm_hands.hold({"vmbr0", "eno2"})
    held_now = {p["uuid"] for p in nm_hands.held()}
    assert all(uuid in held_now for uuid, on in nm.autoconnect().items() if not on), (held_now, nm.autoconnect())


def test_att_hold_matches_a_port_whose_master_is_the_bridge_profile_uuid(nm):
    nm.add(BR, "vmbr0")
    nm.add(PORT, "eno2", master=BR)
    nm.add(PORT2, "eno3", master="vmbr0")
    nm_hands.hold({"vmbr0"})
    assert nm.autoconnect() == {BR: False, PORT: False, PORT2: False}


def test_att_a_keyfile_name_with_a_backslash_is_given_back(nm):
    nm.add(BR, "vmbr0", name="br\\lab:0")
    nm_hands.hold({"vmbr0"})
    assert [p["filename"] for p in nm_hands.held()] == [str(nm.etc / "br\\lab:0.nmconnection")]
    assert nm_hands.give_back() == []
    assert nm.autoconnect() == {BR: True}


def test_att_give_back_while_networkmanager_is_stopped_says_so(nm, monkeypatch):
    nm.add(BR, "vmbr0")
    nm_hands.hold({"vmbr0"})
    temporary = [p["temporary"] for p in nm_hands.held()]
    assert temporary and os.path.exists(temporary[0])
    monkeypatch.setattr(nm_hands, "running", lambda namespace=None: False)
    warnings = nm_hands.give_back()
    assert warnings or not os.path.exists(temporary[0])


def test_att_give_back_with_a_corrupt_note_does_not_raise(nm):
    os.makedirs(os.path.dirname(nm_hands.HELD))
    with open(nm_hands.HELD, "w", encoding="utf-8") as handle:
        json.dump({"profiles": ["vmbr0", 7]}, handle)
    nm_hands.give_back()
