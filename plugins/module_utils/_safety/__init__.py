# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to netsafe.hypervisor: change-window safety on the host itself.

checkpoint (snapshot, store, one window per host), watchdog (the process
that rolls back when a window is not confirmed in time), rollback (the plan
from the current state back to a snapshot) and probes (connectivity checks
run on the host).
"""
