#!/usr/bin/env bash
# The demo: build the lab, create vmbr0 with the collection, start "guests",
# move the bridge to its second uplink with a diff, prove the guests and the
# host still reach the gateway, show a second run changes nothing; then three
# change windows: a good change confirmed and persisted, a bad change that the
# probes catch and the host rolls back, and a controller lost after the change
# that the host's watchdog puts back by itself; clean up.
# Run as root on Debian 12. Never touches the machine's own network.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tests/setup/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.tmp/collections"
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0
export ANSIBLE_PYTHON_INTERPRETER="$root/.venv/bin/python"
play() { ansible-playbook -i demo/inventory.yml playbooks/bridges.yml "$@"; }
step() { printf '\n=== %s\n' "$*"; }
reach() {  # reach NAMESPACE ADDRESS: a ping answered within 5 tries (IPv6 DAD takes ~1 s), or the demo fails
    for _ in 1 2 3 4 5; do
        if ip netns exec "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; then
            echo "$1 -> $2 ok"
            return 0
        fi
        sleep 1
    done
    echo "$1 cannot reach $2" >&2
    exit 1
}

demo_root="$root/.tmp/demo-root"
window() { ansible-playbook -i demo/inventory.yml playbooks/change_window.yml -e demo_root="$demo_root" "$@"; }
watchdogs() {  # kill any watchdog the demo left (only when it failed half way)
    for ready in "$demo_root"/run/netsafe/checkpoint/*/watchdog.ready; do
        [ -f "$ready" ] && kill -9 "$(sed 's/.*"pid": \([0-9]*\).*/\1/' "$ready")" 2>/dev/null || true
    done
}
trap 'step "cleaning up"; watchdogs; demo/lab.sh down; rm -rf "$demo_root"' EXIT
rm -rf "$demo_root"; mkdir -p "$demo_root"
demo/lab.sh down >/dev/null
demo/lab.sh up

step "1. create vmbr0 on eth1 with addresses and a gateway"
play --diff
step "2. the hypervisor starts two VMs and a container (their ports join vmbr0)"
for port in tap100i0 tap101i0 veth200i0; do
    ip -n hv1 link set "$port" master vmbr0
    ip -n hv1 link set "$port" up
done
ip -n hv1 -br link show master vmbr0
step "3. host and container reach the gateway"
reach hv1 192.0.2.1
reach hv1 2001:db8::1
reach ct200 192.0.2.1
step "4. preview moving vmbr0 to eth2 with MTU 1400 (check mode, diff)"
play --check --diff -e demo_uplink=eth2 -e demo_mtu=1400
step "5. apply it"
play --diff -e demo_uplink=eth2 -e demo_mtu=1400
ip -n hv1 -br link show master vmbr0
reach hv1 192.0.2.1
reach ct200 192.0.2.1
echo "the container kept its port and its network through the move"
step "6. run again: nothing to change"
out=$(play -e demo_uplink=eth2 -e demo_mtu=1400)
echo "$out"
grep -q 'changed=0' <<<"$out" || { echo "second run changed something" >&2; exit 1; }
echo "second run: changed=0"

step "7. change window: move vmbr0 to eth3, checked, confirmed and persisted"
window -e '{"change_window_bridges": [{"name": "vmbr0", "ports": ["eth3"], "mtu": 1500}]}'
echo "--- the persistent configuration the host would boot with ($demo_root/etc/network/interfaces):"
cat "$demo_root/etc/network/interfaces"
reach ct200 192.0.2.1

step "8. change window: a bad change (vmbr0 to eth6, cabled to nothing); the probes catch it, the host is rolled back"
if window -e '{"change_window_bridges": [{"name": "vmbr0", "ports": ["eth6"]}]}' >"$demo_root/bad.log" 2>&1; then
    cat "$demo_root/bad.log"; echo "the bad change was confirmed" >&2; exit 1
fi
grep -m1 -o 'hv1: ROLLED BACK[^"]*' "$demo_root/bad.log"
ip -n hv1 -br link show master vmbr0
reach hv1 192.0.2.1
reach ct200 192.0.2.1
echo "the bad change was rolled back and the guests kept their network"

step "9. the controller is lost right after a change: the host puts itself back at the deadline"
ansible-playbook -i demo/inventory.yml demo/controller_lost.yml -e demo_root="$demo_root" -e demo_timeout=15 \
    >"$demo_root/lost.log" 2>&1 &
player=$!
# (no `ip ... | grep -q` under pipefail: grep -q exits at the first match, ip can get SIGPIPE
# and the pipeline then counts as failed)
on_eth6() { local ports; ports=$(ip -n hv1 -br link show master vmbr0); grep -q '^eth6' <<<"$ports"; }
for _ in $(seq 600); do
    on_eth6 && break
    sleep 0.1
done
on_eth6 || { cat "$demo_root/lost.log"; echo "the change never came" >&2; exit 1; }
kill -9 "$player"; wait "$player" 2>/dev/null || true
echo "ansible-playbook killed after the change: vmbr0 is on eth6, nothing reaches the gateway"
ip netns exec hv1 ping -c1 -W1 192.0.2.1 >/dev/null 2>&1 && { echo "the gateway still answers?" >&2; exit 1; }
last="$demo_root/var/lib/netsafe/checkpoint/netns-hv1/last.json"
for _ in $(seq 400); do [ -f "$last" ] && grep -q '"by": "watchdog' "$last" && break; sleep 0.1; done
python3 - "$last" <<'PY'
import json, sys
last = json.load(open(sys.argv[1]))
late = last["at"] - last["deadline"]
print(f"the host's watchdog rolled back {late:.2f} s after the deadline, in {last['duration_ms']} ms: {last['reason']}")
sys.exit(0 if last["outcome"] == "rolled_back" and late < 2.0 else 1)
PY
grep "checkpoint netns-hv1" "$demo_root/run/netsafe/checkpoint/netns-hv1/watchdog.log" | tail -3
ip -n hv1 -br link show master vmbr0
reach hv1 192.0.2.1
reach ct200 192.0.2.1
echo "the host put itself back before the deadline plus 2 s"
