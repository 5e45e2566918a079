# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to netsafe.hypervisor: reaching vCenter through a flaky network.

Connection with backoff (connect), failures classified by exception type
(errors) and a link monitor that pauses retries while required links are down
(linkmon). Other collections must not import this package: it changes without notice.
"""
