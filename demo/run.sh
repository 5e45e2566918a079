#!/usr/bin/env bash
# The demo: build the lab, create vmbr0 with the collection, start "guests",
# move the bridge to its second uplink with a diff, prove the guests and the
# host still reach the gateway, show a second run changes nothing, clean up.
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

trap 'step "cleaning up"; demo/lab.sh down' EXIT
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
