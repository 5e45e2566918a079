"""A bridge's options and a port's cost and priority in the three formats (issue 25; _persist/options.py).

Pure: renders and parses {path: text}. The real ifupdown2, NetworkManager and
networkd read the same files in tests/persist/*_real.py; the round trips of a
tuned bridge through every format are the contract tests of
tests/unit/test_persist_formats.py (persist_hosts' "tuned bridge" host).
"""
from __future__ import annotations

import copy

import pytest

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import ValidationError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.kinds.bridge import BRIDGE, BRIDGE_PORT
from ansible_collections.netsafe.hypervisor.plugins.module_utils._network.model import (
    Bridge, GuestMatcher, HostNetwork, IpConfig, Nic,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist import engine
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.formats import FORMATS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.ifupdown2.keywords import IFUPDOWN2_WORDS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.keyfile import NM_WORDS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.networkd import NETWORKD_WORDS
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.options import (
    BRIDGE_OPTIONS, OWN_RULES, PORT_OPTIONS,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._persist.scope import description, persisted

from persist_hosts import applied, as_read

GUESTS = GuestMatcher()
MAIN = "/etc/network/interfaces"
NETWORKD = "/etc/systemd/network"
NM = "/etc/NetworkManager/system-connections"
TABLES = {"ifupdown2": IFUPDOWN2_WORDS, "networkmanager": NM_WORDS, "networkd": NETWORKD_WORDS}


def fmt_of(name):
    cls = FORMATS[name]
    return cls(cls.DEFAULT_PATH, root="/nonexistent-root")


def tuned(**bridge) -> HostNetwork:
    host = HostNetwork()
    host.add(Nic(name="eth1", mtu=1500, up=True, master="vmbr4", kind="", ip=IpConfig([]), port_cost=7, port_priority=12))
    host.add(Nic(name="eth2", mtu=1500, up=True, master="vmbr4", kind="", ip=IpConfig([]), port_cost=250, port_priority=40))
    options = dict(ageing_time=600.0, mcast_snooping=False, hello_time=3.0, max_age=12.0, priority=4096)
    options.update(bridge)
    host.add(Bridge(name="vmbr4", mtu=1500, up=True, stp=False, forward_delay=0.0, vlan_filtering=False,
                    ip=IpConfig([]), **options))
    return as_read(host)


def test_each_format_maps_every_bridge_option_and_port_attribute_in_one_table():
    """The measure of issue 25: a bridge attribute is a row of the kind plus one line per format's table."""
    rows = {a.name for a in BRIDGE.attrs if a.name not in OWN_RULES} | set(BRIDGE_PORT.names)
    assert {a.name for a in BRIDGE_OPTIONS + PORT_OPTIONS} == rows
    for name, table in TABLES.items():
        assert set(table) == rows, name


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_tuned_bridge_and_its_ports_round_trip_and_a_second_save_writes_nothing(name):
    fmt = fmt_of(name)
    want, _m = persisted(tuned(), None, GUESTS)
    if name == "netplan":
        # netplan has no key for multicast snooping: refused naming the bridge and the option; the rest round-trips.
        with pytest.raises(ValidationError, match="vmbr4: mcast_snooping: false; netplan has no key"):
            fmt.render({}, want)
        want, _m = persisted(tuned(mcast_snooping=True), None, GUESTS)
    files = applied({}, fmt.render({}, want))
    got = fmt.parse(files)
    assert {n: description(got.get(n), d) for n, d in want.devices.items()} == {n: d.to_dict() for n, d in want.devices.items()}
    assert fmt.render(files, want) == {}
    # Back to the defaults: every option line goes, the port's cost stays (it has no default to leave out).
    plain, _m = persisted(tuned(ageing_time=300.0, mcast_snooping=True, hello_time=2.0, max_age=20.0, priority=32768),
                          None, GUESTS)
    plain.get("eth1").port_priority = 32
    after = applied(files, fmt.render(files, plain))
    text = "\n".join(after.values())
    for word in ("ageing", "snoop", "hello", "max", "bridgeprio", "Priority=4096", "priority=4096", "portprios 12",
                 "Priority=12", "priority=12"):
        assert word.lower() not in text.lower().replace("portprios 40", "").replace("priority=40", ""), (word, text)
    parsed = fmt.parse(after)
    assert {n: description(parsed.get(n), d) for n, d in plain.devices.items()} == {n: d.to_dict() for n, d in plain.devices.items()}


def test_the_words_each_format_writes():
    want, _m = persisted(tuned(), None, GUESTS)
    ifupdown2 = fmt_of("ifupdown2").render({}, want)[MAIN]
    for line in ("bridge-ageing 600", "bridge-mcsnoop no", "bridge-hello 3", "bridge-maxage 12", "bridge-bridgeprio 4096"):
        assert f"\t{line}\n" in ifupdown2
    eth1 = ifupdown2.split("iface eth1 inet manual\n")[1].split("\n\n")[0]
    assert "\tbridge-pathcosts 7" in eth1 and "\tbridge-portprios 12" in eth1
    networkd = fmt_of("networkd").render({}, want)
    netdev = networkd[f"{NETWORKD}/10-netsafe-vmbr4.netdev"].splitlines()
    assert ["AgeingTimeSec=600s", "MulticastSnooping=no", "HelloTimeSec=3s", "MaxAgeSec=12s", "Priority=4096"] == \
        [line for line in netdev if line.split("=")[0] in NETWORKD_WORDS.values()]
    port = networkd[f"{NETWORKD}/10-netsafe-eth1.network"]
    assert "\n[Bridge]\nCost=7\nPriority=12\n" in port
    nm = fmt_of("networkmanager").render({}, want)
    bridge = nm[f"{NM}/vmbr4.nmconnection"]
    for line in ("ageing-time=600", "multicast-snooping=false", "hello-time=3", "max-age=12", "priority=4096"):
        assert line in bridge.splitlines()
    assert "[bridge-port]\npath-cost=7\npriority=12\n" in nm[f"{NM}/eth1.nmconnection"]


def test_seconds_a_format_cannot_hold():
    """ifupdown2's keys hold whole seconds (and ageing up to 65535): a post-up line holds the rest; networkd's time
    spans hold hundredths; NetworkManager refuses the save naming the option."""
    want, _m = persisted(tuned(ageing_time=70000.5, hello_time=2.5), None, GUESTS)
    text = fmt_of("ifupdown2").render({}, want)[MAIN]
    assert "\tpost-up ip link set dev vmbr4 type bridge ageing_time 7000050\n" in text
    assert "\tpost-up ip link set dev vmbr4 type bridge hello_time 250\n" in text
    assert description(fmt_of("ifupdown2").parse({MAIN: text}).get("vmbr4"), want.get("vmbr4")) == want.get("vmbr4").to_dict()
    netdev = fmt_of("networkd").render({}, want)[f"{NETWORKD}/10-netsafe-vmbr4.netdev"]
    assert "AgeingTimeSec=70000500ms" in netdev.splitlines() and "HelloTimeSec=2500ms" in netdev.splitlines()
    with pytest.raises(ValidationError, match=r"devices\[vmbr4\]\.ageing_time: 70000.5 seconds .*whole seconds"):
        fmt_of("networkmanager").render({}, want)


def test_networkd_cannot_say_bridge_priority_0():
    """networkd 252 sends Priority= only when above 0: 0 in a file is the kernel's default, and a save of 0 is refused."""
    want, _m = persisted(tuned(priority=0), None, GUESTS)
    with pytest.raises(ValidationError, match=r"vmbr4: priority: 0 cannot be written: .*\(32768\) \(systemd-networkd"):
        fmt_of("networkd").render({}, want)
    files = {f"{NETWORKD}/20-vmbr4.netdev": "[NetDev]\nName=vmbr4\nKind=bridge\n\n[Bridge]\nPriority=0\n"
                                            "HelloTimeSec=0\n",
             f"{NETWORKD}/20-eth1.network": "[Match]\nName=eth1\n\n[Network]\nBridge=vmbr4\n\n[Bridge]\nCost=0\n"}
    model = fmt_of("networkd").parse(files)
    assert (model.get("vmbr4").priority, model.get("vmbr4").hello_time, model.get("eth1").port_cost) == (32768, 2.0, None)


def test_networkmanager_cannot_say_a_port_priority_of_0():
    """NetworkManager applies its default for a port's priority or path cost of 0, and for hello time and max age
    (nm-device-bridge.c): 0 in a profile reads as that default, and a save of port priority 0 is refused."""
    want, _m = persisted(tuned(), None, GUESTS)
    want.get("eth1").port_priority = 0
    with pytest.raises(ValidationError, match=r"devices\[eth1\]\.port_priority: 0 cannot be written: .*\(32\)"):
        fmt_of("networkmanager").render({}, want)
    files = {f"{NM}/eth1.nmconnection": "[connection]\nid=eth1\ntype=ethernet\ninterface-name=eth1\nmaster=vmbr4\n"
                                        "slave-type=bridge\n[bridge-port]\npath-cost=0\npriority=0\n",
             f"{NM}/vmbr4.nmconnection": "[connection]\nid=vmbr4\ntype=bridge\ninterface-name=vmbr4\n[bridge]\n"
                                         "stp=false\nhello-time=0\npriority=0\n"}
    model = fmt_of("networkmanager").parse(files)
    assert (model.get("eth1").port_cost, model.get("eth1").port_priority) == (100, 32)
    assert (model.get("vmbr4").hello_time, model.get("vmbr4").priority) == (2.0, 0)


# (format, files, the device, what the message names)
OUT_OF_RANGE = [
    ("ifupdown2", {MAIN: "auto vmbr4\niface vmbr4 inet manual\n\tbridge-ports none\n\tbridge-hello 50\n"}, "vmbr4",
     f"{MAIN} line 4: 'bridge-hello 50': hello_time: 50 is out of range; allowed 1-10 seconds"),
    ("ifupdown2", {MAIN: "auto vmbr4\niface vmbr4 inet manual\n\tbridge-ports none\n\tbridge-mcsnoop Yes\n"}, "vmbr4",
     f"{MAIN} line 4: 'bridge-mcsnoop Yes': 'Yes' is not one of yes, on, 1, no, off, 0"),
    ("ifupdown2", {MAIN: "auto vmbr4\niface vmbr4 inet manual\n\tbridge-ports eth1\n\tbridge-portprios eth1=64\n"},
     "eth1", f"{MAIN} line 4: 'bridge-portprios eth1=64': port_priority: 64 is out of range; allowed 0-63"),
    ("ifupdown2", {MAIN: "auto vmbr4\niface vmbr4 inet manual\n\tbridge-ports eth1\n\tbridge-pathcosts eth1=5 7\n"},
     "eth1", f"{MAIN} line 4: 'bridge-pathcosts eth1=5 7' is not a list of port=value"),
    ("ifupdown2", {MAIN: "iface eth1 inet manual\n\tbridge-pathcosts 0\n\nauto vmbr4\niface vmbr4 inet manual\n"
                         "\tbridge-ports eth1\n"}, "eth1", f"{MAIN} line 2: 'bridge-pathcosts 0': port_cost: 0 is out of range"),
    ("networkd", {f"{NETWORKD}/20-vmbr4.netdev": "[NetDev]\nName=vmbr4\nKind=bridge\n\n[Bridge]\nMaxAgeSec=41s\n"},
     "vmbr4", f"{NETWORKD}/20-vmbr4.netdev:6: [Bridge] MaxAgeSec=41s: max_age: 41 is out of range; allowed 6-40 seconds"),
    ("networkd", {f"{NETWORKD}/20-eth1.network": "[Match]\nName=eth1\n\n[Network]\nBridge=vmbr4\n\n[Bridge]\nCost=70000\n"},
     "eth1", f"{NETWORKD}/20-eth1.network:8: [Bridge] Cost=70000: port_cost: 70000 is out of range; allowed 1-65535"),
    ("networkmanager", {f"{NM}/vmbr4.nmconnection": "[connection]\nid=vmbr4\ntype=bridge\ninterface-name=vmbr4\n\n"
                                                    "[bridge]\nstp=true\nhello-time=11\n"},
     "vmbr4", f"{NM}/vmbr4.nmconnection: [bridge] hello-time=11: hello_time: 11 is out of range; allowed 1-10 seconds"),
    ("networkmanager", {f"{NM}/eth1.nmconnection": "[connection]\nid=eth1\ntype=ethernet\ninterface-name=eth1\n"
                                                   "master=vmbr4\nslave-type=bridge\n\n[bridge-port]\npriority=64\n"},
     "eth1", f"{NM}/eth1.nmconnection: [bridge-port] priority=64: port_priority: 64 is out of range; allowed 0-63"),
]


@pytest.mark.parametrize("fmt_name,files,name,message", OUT_OF_RANGE,
                         ids=[f"{c[0]}-{c[3].split(': ')[1]}" for c in OUT_OF_RANGE])
def test_a_value_out_of_the_kernels_range_is_a_problem_naming_the_line(fmt_name, files, name, message):
    fmt = fmt_of(fmt_name)
    _model, problems = fmt.parse_lenient(files)
    found = [p for p in problems if message in p.message]
    assert found and found[0].concerns(name), [p.message for p in problems]
    with pytest.raises(ValidationError, match="out of range|not one of|not a list"):
        fmt.parse(files)


def test_ifupdown2_reads_the_bridges_lists_and_the_ports_own_key_wins():
    text = ("iface eth1 inet manual\n\tbridge-portprios 5\n\niface eth2 inet manual\n\nauto vmbr4\n"
            "iface vmbr4 inet manual\n\tbridge-ports eth1 eth2 eth3\n\tbridge-pathcosts eth1=7 eth2=250\n"
            "\tbridge-portprios eth1=12 eth2=40\n")
    model = fmt_of("ifupdown2").parse({MAIN: text})
    assert {n: (model.get(n).port_cost, model.get(n).port_priority) for n in ("eth1", "eth2", "eth3")} == \
        {"eth1": (7, 5), "eth2": (250, 40), "eth3": (None, 32)}
    # One value for the bridge: ifupdown2 gives it to every port.
    model = fmt_of("ifupdown2").parse({MAIN: text.replace("eth1=7 eth2=250", "19")})
    assert [model.get(n).port_cost for n in ("eth1", "eth2", "eth3")] == [19, 19, 19]


def test_ifupdown2_writes_a_ports_default_on_its_stanza_when_the_bridges_list_says_otherwise():
    text = ("iface eth1 inet manual\n\tmtu 1500\n\nauto vmbr4\niface vmbr4 inet manual\n\tbridge-ports eth1\n"
            "\tbridge-stp off\n\tbridge-fd 0\n\tbridge-pathcosts eth1=7\n\tbridge-portprios eth1=12\n")
    fmt = fmt_of("ifupdown2")
    want = copy.deepcopy(fmt.parse({MAIN: text}))
    want.get("eth1").port_priority = 32
    only = HostNetwork()
    only.add(want.get("eth1"))
    after = applied({MAIN: text}, fmt.render({MAIN: text}, only))[MAIN]
    assert "iface eth1 inet manual\n\tmtu 1500\n\tbridge-portprios 32\n" in after
    assert "\tbridge-portprios eth1=12\n" in after   # the operator's list stays; the port's key wins
    assert description(fmt.parse({MAIN: after}).get("eth1"), want.get("eth1")) == want.get("eth1").to_dict()


def test_networkmanager_sets_a_ports_path_cost_to_100_when_its_profile_says_none():
    files = {f"{NM}/eth1.nmconnection": "[connection]\nid=eth1\ntype=ethernet\ninterface-name=eth1\nmaster=vmbr4\n"
                                        "slave-type=bridge\n",
             f"{NM}/vmbr4.nmconnection": "[connection]\nid=vmbr4\ntype=bridge\ninterface-name=vmbr4\n"}
    model = fmt_of("networkmanager").parse(files)
    assert (model.get("eth1").port_cost, model.get("eth1").port_priority) == (100, 32)
    for name in ("ifupdown2", "networkd"):   # the kernel derives it from the port's speed: the files do not say
        want, _m = persisted(tuned(), None, GUESTS)
        want.get("eth1").port_cost = None
        files = applied({}, fmt_of(name).render({}, want))
        assert fmt_of(name).parse(files).get("eth1").port_cost is None


def test_a_port_attribute_belongs_to_a_bridges_port_only():
    host = tuned()
    host.get("eth1").master = None
    want, _m = persisted(host, ["vmbr4", "eth1"], GUESTS)
    assert (want.get("eth1").port_cost, want.get("eth1").port_priority) == (None, None)
    assert (want.get("eth2").port_cost, want.get("eth2").port_priority) == (250, 40)


def test_an_ageing_time_the_kernel_read_cannot_tell_keeps_what_the_files_say():
    """During an STP topology change the read gives ageing_time None (kinds/bridge.py stp_ageing_time): a save then
    keeps the files' value instead of writing the default over it."""
    fmt = fmt_of("ifupdown2")
    files = applied({}, fmt.render({}, persisted(tuned(), None, GUESTS)[0]))
    host = tuned()
    host.get("vmbr4").ageing_time = None
    job = engine.plan_files(fmt, host, None, GUESTS, files)
    assert job["changes"] == {}
    host.get("vmbr4").hello_time = 4.0
    job = engine.plan_files(fmt, host, None, GUESTS, files)
    assert "bridge-ageing 600" in job["changes"][MAIN] and "bridge-hello 4" in job["changes"][MAIN]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_nics_mtu_and_admin_state_persist_in_every_format(name):
    """Each format has a word for both: ifupdown2 `mtu` and `link-down yes`, NetworkManager [ethernet] mtu and
    autoconnect=false, networkd MTUBytes= and ActivationPolicy=."""
    fmt = fmt_of(name)
    host = HostNetwork()
    host.add(Nic(name="ens7", mtu=4000, up=False, kind="", ip=IpConfig([])))
    host.add(Nic(name="ens8", mtu=9000, up=True, kind="", ip=IpConfig([])))
    want, _m = persisted(host, ["ens7", "ens8"], GUESTS)
    files = applied({}, fmt.render({}, want))
    got = fmt.parse(files)
    assert {n: (got.get(n).mtu, got.get(n).up) for n in want.devices} == {"ens7": (4000, False), "ens8": (9000, True)}
    words = {"ifupdown2": ("mtu 4000", "link-down yes"), "networkmanager": ("mtu=4000", "autoconnect=false"),
             "networkd": ("MTUBytes=4000", "ActivationPolicy=down"),
             "netplan": ("mtu: 4000", "activation-mode: manual")}[name]
    text = "\n".join(t for p, t in files.items() if "ens7" in p or not fmt.PATH_IS_DIR)
    assert all(word in text for word in words), text
