"""Review 26 (op): the change_window role's play for a lab namespace and a scratch root (tests of review 26 op)."""
from __future__ import annotations

PLAY = """
- hosts: lab
  gather_facts: false
  roles:
    - role: netsafe.hypervisor.change_window
      vars:
        change_window_namespace: "{{ ns }}"
        change_window_root: "{{ root }}"
"""
