import subprocess
import realstacks
from nstools import iproute

TEXT = """auto lo
iface lo inet loopback

auto eth1
iface eth1 inet manual

auto vmbr0
iface vmbr0 inet static
	address 192.0.2.10/24
	gateway 192.0.2.1
	bridge-ports eth1
	bridge-stp off
	bridge-fd 0
	post-up ip route add 10.20.0.0/16 via 192.0.2.254
	post-up ip route add 10.30.0.0/16 via 192.0.2.254 table 100
	post-up ip route add 10.40.0.0/16 via 192.0.2.254 metric 50
	post-up ip route add 10.50.0.0/16 via 198.51.100.1 dev vmbr0 onlink
	post-up ip route add 10.60.0.0/16 via 192.0.2.254 proto static
	pre-down ip route del 10.20.0.0/16 via 192.0.2.254
	post-up ip route add 10.20.0.0/16 via 192.0.2.254
	post-up ip -6 route add 2001:db8:20::/48 via 2001:db8::fe

iface vmbr0 inet6 static
	address 2001:db8::10/64
"""

def test_probe(netns, tmp_path):
    iproute(netns, ["ip link add eth1 address 02:00:00:00:01:01 type veth peer name sw1 address 02:00:00:00:0f:01"])
    (tmp_path / "etc/network").mkdir(parents=True)
    (tmp_path / "etc/network/interfaces").write_text(TEXT)
    p = realstacks.ifupdown2(netns, ["ifup", "-a", "-i", "/etc/network/interfaces"], tmp_path)
    print("IFUP rc", p.returncode, p.stdout, p.stderr)
    print(subprocess.run(["ip", "-n", netns, "route", "show", "table", "all"], capture_output=True, text=True).stdout)
    print(subprocess.run(["ip", "-n", netns, "-6", "route", "show", "table", "all"], capture_output=True, text=True).stdout)
    p = realstacks.ifupdown2(netns, ["ifreload", "-a", "-v"], tmp_path)
    print(subprocess.run(["ip", "-n", netns, "route", "show", "table", "all"], capture_output=True, text=True).stdout)
    print("IFRELOAD rc", p.returncode, p.stdout, p.stderr)
    p = realstacks.ifupdown2(netns, ["ifup", "-a", "-v", "-i", "/etc/network/interfaces"], tmp_path)
    print("IFUP2 rc", p.returncode, p.stdout, p.stderr)
    print(subprocess.run(["ip", "-n", netns, "-d", "link", "show"], capture_output=True, text=True).stdout)
    assert 0
