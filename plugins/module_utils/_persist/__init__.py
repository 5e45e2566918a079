# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to netsafe.hypervisor: the persistent (safe) network configuration.

Other collections must not import anything from this package; it can change
in any release. See docs/net_persist.md.
"""
