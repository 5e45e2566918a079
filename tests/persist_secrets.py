"""Network configuration files that hold secrets, one set per format, for the "no secret returned" tests.

Each set is {path as the host sees it: text}: the secrets sit in profiles and
stanzas of unrelated devices (a Wi-Fi profile, an 802.1X login, a WireGuard
tunnel, a VPN, a MACsec link) and in the profile of a NIC that a save rewrites
(eno1, a port of vmbr0 in persist_lab's "bridges" host). SECRETS lists every
secret string; none of them may appear in anything the module returns, in a
`-vvv` ansible-playbook run's output or in an AWX job's events.
"""
from __future__ import annotations

import os

SECRETS = {
    "nm_wifi_psk": "wifi-psk-9GkQ2rVd7xLm",
    "nm_wep_key": "wep0-Tz4pQw8sLk2r",
    "nm_8021x_password": "dot1x-pass-Hs7Yb3Qe",
    "nm_8021x_key_password": "dot1x-keypass-Pw2Nc8Ra",
    "nm_wireguard_private_key": "wg-priv-kN3ePq0vZ8bW1uS5yT6cD4fG2hJ7lM9nB0xA=",
    "nm_wireguard_psk": "wg-psk-Xb6Jv2Lq8Ns4Rt0Yw3Ud5Fg7Hk9Zc1Ma3Pe=",
    "nm_vpn_password": "vpn-secret-Ls5Df9Gh",
    "nm_in_scope_8021x": "eno1-dot1x-Kq4Wm8Zt",
    "networkd_wireguard_private_key": "nd-wg-priv-Qy2Rt5Uw8Zb1Ec4Hf7Kj0Mn3Pq6St9Vx=",
    "networkd_wireguard_psk": "nd-wg-psk-Az1Sx2Dc3Fv4Gb5Hn6Jm7Kl8Pz9Oq0Wi=",
    "networkd_macsec_key": "0123456789abcdef0123456789abcdefnd",
    "ifupdown2_wpa_psk": "wpa-psk-Vn8Bc2Xz6Lk",
    "ifupdown2_wpa_password": "wpa-pass-Rt3Yu7Io",
    "ifupdown2_outside_stanza": "stray-psk-Gh5Jk9Lq",
}
S = SECRETS

NM_DIR = "/etc/NetworkManager/system-connections"
NM_FILES = {
    f"{NM_DIR}/home-wifi.nmconnection": f"""\
[connection]
id=home-wifi
uuid=5b1e2c9a-3f64-4b8e-9d1a-7c2e5f8a9b01
type=wifi
interface-name=wlp2s0

[wifi]
mode=infrastructure
ssid=home

[wifi-security]
key-mgmt=wpa-psk
psk={S['nm_wifi_psk']}
psk-flags=0
wep-key0={S['nm_wep_key']}
""",
    f"{NM_DIR}/corp-8021x.nmconnection": f"""\
[connection]
id=corp
uuid=7d2f3a8b-4c75-4d9f-8e2b-8d3f6a9b0c12
type=ethernet
interface-name=eno3

[802-1x]
eap=peap;
identity=bob
password={S['nm_8021x_password']}
private-key-password={S['nm_8021x_key_password']}
phase2-auth=mschapv2

[ipv4]
method=auto
""",
    f"{NM_DIR}/wg0.nmconnection": f"""\
[connection]
id=wg0
uuid=9e3a4b9c-5d86-4e0a-9f3c-9e4a7b0c1d23
type=wireguard
interface-name=wg0

[wireguard]
private-key={S['nm_wireguard_private_key']}

[wireguard-peer.mR7cS4pW0qX2vY9zB6nL3kJ1hG8fD5sA2eT4uI7oP0w=]
endpoint=198.51.100.7:51820
preshared-key={S['nm_wireguard_psk']}
allowed-ips=10.9.0.0/24;
""",
    f"{NM_DIR}/office-vpn.nmconnection": f"""\
[connection]
id=office
uuid=af4b5cad-6e97-4f1b-8a4d-af5b8c1d2e34
type=vpn

[vpn]
service-type=org.freedesktop.NetworkManager.openvpn
username=bob

[vpn-secrets]
password={S['nm_vpn_password']}
""",
    # A port of vmbr0 whose profile the save rewrites (it gains master=vmbr0): its own secret stays in the file
    # and must not reach the diff.
    f"{NM_DIR}/eno1.nmconnection": f"""\
[connection]
id=eno1
uuid=b05c6dbe-7fa8-402c-9b5e-b06c9d2e3f45
type=ethernet
interface-name=eno1

[802-1x]
eap=tls;
identity=host
private-key-password={S['nm_in_scope_8021x']}

[ipv4]
method=disabled

[ipv6]
method=disabled
""",
}

NETWORKD_DIR = "/etc/systemd/network"
NETWORKD_FILES = {
    f"{NETWORKD_DIR}/30-wg0.netdev": f"""\
[NetDev]
Name=wg0
Kind=wireguard

[WireGuard]
PrivateKey={S['networkd_wireguard_private_key']}
ListenPort=51820

[WireGuardPeer]
PublicKey=mR7cS4pW0qX2vY9zB6nL3kJ1hG8fD5sA2eT4uI7oP0w=
PresharedKey={S['networkd_wireguard_psk']}
AllowedIPs=10.9.0.0/24
""",
    f"{NETWORKD_DIR}/30-wg0.network": """\
[Match]
Name=wg0

[Network]
Address=10.9.0.1/24
""",
    f"{NETWORKD_DIR}/40-macsec0.netdev": f"""\
[NetDev]
Name=macsec0
Kind=macsec

[MACsec]
Port=1

[MACsecTransmitAssociation]
PacketNumber=1
KeyId=01
Key={S['networkd_macsec_key']}
""",
}

IFUPDOWN2_MAIN = "/etc/network/interfaces"
IFUPDOWN2_FILES = {
    IFUPDOWN2_MAIN: f"""\
auto lo
iface lo inet loopback

allow-hotplug wlan0
iface wlan0 inet dhcp
\twpa-ssid home
\twpa-psk {S['ifupdown2_wpa_psk']}

iface wlan1 inet dhcp
\twpa_ssid corp
\twpa_password {S['ifupdown2_wpa_password']}
""",
}

# A file the ifupdown2 format refuses, whose refusal quotes the line that holds a secret.
IFUPDOWN2_BAD = {IFUPDOWN2_MAIN: f"wpa-psk {S['ifupdown2_outside_stanza']}\n\nauto lo\niface lo inet loopback\n"}

FILES = {"networkmanager": NM_FILES, "networkd": NETWORKD_FILES, "ifupdown2": IFUPDOWN2_FILES}


def write(root, files: dict) -> None:
    """`files` under the scratch root `root`, mode 0600 (NetworkManager loads no keyfile readable by others)."""
    for path, text in files.items():
        real = os.path.join(str(root), path.lstrip("/"))
        os.makedirs(os.path.dirname(real), exist_ok=True)
        with open(real, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(real, 0o600)


def leaked(text: str) -> list:
    """The names of the secrets found in `text`."""
    return sorted(name for name, value in SECRETS.items() if value in text)
