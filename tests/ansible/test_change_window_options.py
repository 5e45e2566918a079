"""The change_window role passes every option of its lists on to the module, and refuses the ones it does not know.

Issue 25 added bridge options and static routes to the modules; the role's apply tasks pass each option by
name, so one the tasks do not name used to be dropped without a word (`ageing_time` in change_window_bridges did
nothing). vars/main.yml lists each list's options; the first test keeps that list equal to what apply.yml
passes, the second runs the role with a misspelt option and finds it refused before anything is probed or
armed (the namespace's complete dump unchanged, no checkpoint directory made).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nstools import kernel_state, state_diff

ROLE = Path(__file__).resolve().parents[2] / "roles" / "change_window"


def passed_options() -> dict:
    """{list variable: the item keys apply.yml's tasks looping over it pass on}."""
    found: dict = {}
    for task in yaml.safe_load((ROLE / "tasks" / "apply.yml").read_text()):
        loop = re.search(r"(change_window_\w+)", str(task.get("loop", "")))
        if loop and loop.group(1) != "change_window_guests":
            found.setdefault(loop.group(1), set()).update(re.findall(r"item\.(\w+)", yaml.safe_dump(task)))
    return found


def test_the_listed_options_are_exactly_the_ones_apply_passes():
    listed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["change_window__options"]
    assert {name: set(keys) for name, keys in listed.items()} == passed_options()


PLAY = """
- hosts: lab
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.change_window
      vars:
        change_window_namespace: "{{ ns }}"
        change_window_root: "{{ root }}"
        change_window_bridges:
          - {name: vmbr0, ageing_time: 30}
          - {name: vmbr1, agieng_time: 30, rotues: []}
"""


@pytest.mark.kernel
@pytest.mark.ansible
def test_a_misspelt_option_fails_the_window_before_anything(run_playbook, netns, tmp_path):
    before = kernel_state(netns)
    run = run_playbook(PLAY, extra_vars={"ns": netns, "root": str(tmp_path / "root")})
    assert run.rc != 0
    message = run.stdout + run.stderr
    assert "change_window_bridges[1]: unknown options agieng_time, rotues; allowed: addresses, admin_state, " \
           "ageing_time," in message, message
    assert "change_window_bridges[0]" not in message
    assert not (tmp_path / "root").exists()   # nothing armed: no checkpoint state written
    assert state_diff(before, kernel_state(netns)) == []
