# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to netsafe.hypervisor: pieces every product of the collection shares.

Errors (errors.py), retry with backoff (backoff.py), VLAN id ranges
(vlan_ranges.py) and numbers in ASCII digits (numbers.py). Nothing here knows about the kernel, Ansible or vCenter.
Other collections must not import this package: it changes without notice.
"""
