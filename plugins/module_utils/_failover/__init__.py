# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to netsafe.hypervisor: VM failover capacity during maintenance.

The reservation rules and eligibility (rules) and the planner that groups
hypervisors into maintenance batches without losing failover capacity
(batches). Pure logic. Other collections must not import this package: it
changes without notice.
"""
