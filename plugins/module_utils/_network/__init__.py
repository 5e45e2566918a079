# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to netsafe.hypervisor: the network core every network module runs on.

model -> read (netlink dump) -> plan (ops, plan_bridge/plan_bond/plan_vlan,
plan_port_vlans, simulate) -> apply (netlink configurator with undo) ->
runner (converge and verify), with views for what a user reads and module for
the Ansible entry point. docs/architecture.md walks through it. Other
collections must not import this package: it changes without notice.
"""
