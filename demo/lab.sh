#!/usr/bin/env bash
# The demo lab: a hypervisor namespace (hv1) wired to a switch namespace (sw1)
# that holds the gateway, plus a container (ct200) and two VM taps on hv1.
#   demo/lab.sh up     build it (fails if any of its namespaces exists)
#   demo/lab.sh down   delete it (safe to run any time)
# Only namespaces are touched; the machine's own network is never changed.
set -euo pipefail
LAB_NAMESPACES=(hv1 sw1 ct200)

down() {
    for ns in "${LAB_NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
        # The network lock's file of the namespace (the collection's modules make it).
        rm -f "/run/netsafe/lock/netns-$ns.lock"
    done
    # And its directories, when nothing else is in them (a real host's are left alone then).
    rmdir /run/netsafe/lock /run/netsafe 2>/dev/null || true
}

up() {
    for ns in "${LAB_NAMESPACES[@]}"; do
        if [ -e "/run/netns/$ns" ]; then
            echo "lab: namespace $ns already exists; run '$0 down' first" >&2
            exit 1
        fi
    done
    trap 'down' ERR
    for ns in "${LAB_NAMESPACES[@]}"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    # The switch: a bridge with two access ports and the gateway address.
    ip -n sw1 link add sw type bridge
    ip -n sw1 link set sw up
    ip -n sw1 address add 192.0.2.1/24 dev sw
    ip -n sw1 address add 2001:db8::1/64 dev sw nodad
    # Five uplinks of the hypervisor, each cabled to a switch port.
    for n in 1 2 3 4 5; do
        ip -n hv1 link add "eth$n" type veth peer name "swp$n" netns sw1
        ip -n sw1 link set "swp$n" master sw
        ip -n sw1 link set "swp$n" up
    done
    # eth6: an uplink cabled to nothing (its peer stays down): no path to the gateway.
    ip -n hv1 link add eth6 type veth peer name eth6dead
    # Guests: two VM taps (as QEMU would leave them) and a container veth.
    ip -n hv1 tuntap add tap100i0 mode tap
    ip -n hv1 tuntap add tap101i0 mode tap
    ip -n hv1 link add veth200i0 type veth peer name eth0 netns ct200
    ip -n ct200 address add 192.0.2.200/24 dev eth0
    ip -n ct200 link set eth0 up
    ip -n ct200 route add default via 192.0.2.1
    trap - ERR
    echo "lab: up (namespaces ${LAB_NAMESPACES[*]})"
}

case "${1:-}" in
    up) up ;;
    down) down; echo "lab: down" ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
