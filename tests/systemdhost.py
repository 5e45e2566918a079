r"""The systemd test host: a Debian 12 system with systemd as PID 1, reached by the controller over SSH.

The SSH lab's topology (tests/sshlab.py: namespaces `<prefix>-sw`, `-ctl`, `-hv`, `-dead`, the switch with
the gateway, the controller at 10.77.0.10), except that `hv` is no longer an sshd in a namespace: it is a
podman container (runc, `--systemd=always`) booted from the image tests/realhost/build.sh makes, joined to
the `hv` network namespace (`--network ns:/run/netns/<prefix>-hv`). Inside it run systemd, journald, dbus,
Debian's sshd and, when a test enables one (`use_stack`), ifupdown2's networking.service, systemd-networkd,
NetworkManager, or netplan (its generator, with networkd). Modules reach it over SSH through vmbr0, as
on a real hypervisor; `exec` runs a command in it directly (`podman exec`, no SSH).

Why a container and not the full-kernel VM booted with systemd: podman with runc boots systemd here in
about a second, with a working journal and transient units (checked in /work/shared/notes/lab.md); the
VM under software emulation had not reached a shell after 400 s. The container shares this machine's
kernel, which is the kernel every other network test uses (bridges, veths, taps; no bonds or VLANs).

"Power cut" (`reboot`): the container is killed with SIGKILL (no shutdown runs), its network namespace is
deleted (every bridge, address, route and tap in it goes) and made again with only its NICs (eno1, eno2 on
the switch, eno3 to the dead end), all down, as hardware at power-on; then the container starts again and
systemd boots. Its filesystem (the container's own layer) is kept: what the host wrote is what it boots
from. /run is a fresh tmpfs on every boot, as on a real host.

The container gets NET_ADMIN, NET_RAW and SYS_ADMIN (systemd's own sandboxing of units, such as
tap_guard's ProtectSystem=strict, needs mount namespaces). /proc/sys is read-only as podman mounts it,
except /proc/sys/net, which the image remounts writable at boot: it is the container's own network
namespace's, never the machine's.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from pathlib import Path

from sshlab import HV4, NIC_MACS, ROOT, SSH_COMMON_ARGS, SshLab, _run, remove_lab

BUILD = ROOT / "tests" / "realhost" / "build.sh"
PODMAN_RUNTIME = ["--runtime", "runc"]
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
STACK_UNITS = {   # stack -> the units `use_stack` enables (the others are disabled)
    "ifupdown2": ("networking.service",),
    "networkd": ("systemd-networkd.service",),
    "networkmanager": ("NetworkManager.service",),
    "netplan": ("systemd-networkd.service",),   # netplan's generator writes networkd files at boot
    # netplan rendering for NetworkManager (an /etc/netplan file with `renderer: NetworkManager`, as on
    # Ubuntu desktops): its generator writes NetworkManager profiles under /run at boot
    "netplan-networkmanager": ("NetworkManager.service",),
}


class SystemdHostMissing(RuntimeError):
    """podman, runc or debootstrap is missing: tests/setup.d/50-ee-image.sh has not run."""


@functools.lru_cache(maxsize=1)
def image() -> str:
    """The image's name, built (or found in podman's storage and the .tmp cache) by build.sh."""
    proc = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=1200, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"tests/realhost/build.sh failed (rc {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def container_name(prefix: str) -> str:
    return f"netsafe-{prefix}"


class SystemdHost(SshLab):
    """The lab with a systemd host as `hv1`. See the module docstring; the SSH lab's API applies.

    `stack`: boot with this stack enabled (and its files, `stack_files`, written first), or None: the lab
    configures hv's network itself (vmbr0 on eno1 with the address and default routes, as the SSH lab does)
    before the container boots, and no stack runs.
    """

    prefix_stem = "sd"
    python = "/usr/bin/python3"
    # What the kernel gives vmbr0 on eno1 at every boot (its lowest port's MAC, the NICs' MACs being fixed):
    # the MAC the controller's ARP cache has stays right across a power cut.
    bridge_mac = NIC_MACS["eno1"]

    def __init__(self, guests: int = 0, **kwargs):
        super().__init__(guests=guests, listen="0.0.0.0", **kwargs)
        self.boots = 0

    def _check_requirements(self) -> None:
        if os.geteuid() != 0:
            raise PermissionError("the systemd host needs root (network namespaces, rootful podman)")
        for tool in ("podman", "runc", "debootstrap"):
            if shutil.which(tool) is None:
                raise SystemdHostMissing(f"{tool} is missing: tests/setup.d/50-ee-image.sh installs it "
                                         f"(run tests/setup/bootstrap.sh)")

    def _set_prefix(self, prefix: str) -> None:
        super()._set_prefix(prefix)
        self.container = container_name(prefix)

    @staticmethod
    def _remove_leftovers(prefix: str, old_dir: Path | None) -> None:
        _run(["podman", "rm", "-f", "-t", "0", container_name(prefix)], check=False, timeout=120)
        remove_lab(prefix, old_dir)

    # -- building -------------------------------------------------------------------------------
    def _keys_and_config(self) -> None:
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netsafe-{self.prefix}", "-f", str(self.key)])
        (self.ssh_dir / "authorized_keys").write_text((self.ssh_dir / "id_ed25519.pub").read_text())
        self.inventory.write_text(
            "[hypervisors]\n"
            f"{self.host} ansible_host={HV4} ansible_user=root ansible_ssh_private_key_file={self.key} "
            f"ansible_python_interpreter={self.python} ansible_ssh_common_args='{SSH_COMMON_ARGS}' "
            "ansible_ssh_pipelining=true ansible_ssh_transfer_method=piped "
            f"ansible_control_path_dir={self.control_path_dir}\n")

    def _start_sshd(self) -> None:
        """Create and boot the container (its sshd is enabled in the image)."""
        _run(["podman", "rm", "-f", "-t", "0", self.container], check=False, timeout=120)
        _run(["podman", "create", "--name", self.container, *PODMAN_RUNTIME, *ULIMITS, "--systemd=always",
              "--cap-add", "NET_ADMIN,NET_RAW,SYS_ADMIN", "--network", f"ns:/run/netns/{self.hv}",
              "--hostname", self.host, "--stop-timeout", "5",
              "-v", f"{self.ssh_dir / 'authorized_keys'}:/root/.ssh/authorized_keys:ro",
              image(), "/sbin/init"], timeout=120)
        self._boot()

    def _boot(self) -> None:
        _run(["podman", "start", self.container], timeout=120)
        self.boots += 1
        deadline = time.monotonic() + 120
        state = ""
        while time.monotonic() < deadline:   # `--wait` alone returns at once while PID 1 is not up yet
            state = self.exec("systemctl is-system-running --wait", timeout=120).stdout.strip()
            if state in ("running", "degraded", "maintenance", "stopping"):
                break
            time.sleep(0.1)
        if state not in ("running", "degraded"):
            raise RuntimeError(f"{self.container} did not boot: systemctl is-system-running says {state!r}:\n"
                               + self.exec("systemctl --failed --no-pager; journalctl -b --no-pager | tail -40").stdout)

    def wait_ssh(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.ssh("true", timeout=5)
            if last.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"sshd of {self.container} did not answer within {timeout} s: "
                           f"{(last.stderr if last else '')[-1000:]}\n{self.failed_units()}")

    # -- using ----------------------------------------------------------------------------------
    def exec(self, cmd, check: bool = False, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
        """Run `cmd` (a string for sh -c, or an argv list) in the container (podman exec, not SSH)."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return _run(["podman", "exec", "-i", self.container, *argv], input=input, timeout=timeout, check=check)

    def write(self, path: str, text: str, mode: str = "0644") -> None:
        """Write a file in the container (its directory made when missing)."""
        self.exec(f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}' && chmod {mode} '{path}'", check=True,
                  input=text)

    def read(self, path: str) -> str | None:
        proc = self.exec(["cat", path])
        return proc.stdout if proc.returncode == 0 else None

    def journal(self, *args: str) -> str:
        """journalctl's output in the container (this boot and the ones before): `journal("-u", "x")`."""
        return self.exec(["journalctl", "--no-pager", "-o", "short-iso", *args]).stdout

    def failed_units(self) -> str:
        return self.exec("systemctl --failed --no-legend --no-pager").stdout

    def use_stack(self, stack: str | None) -> None:
        """Enable `stack`'s units for the next boot and disable every other stack's (None: all off)."""
        units = sorted({u for us in STACK_UNITS.values() for u in us})
        wanted = STACK_UNITS[stack] if stack else ()
        self.exec(["systemctl", "disable", "--quiet", *[u for u in units if u not in wanted]], check=True)
        if wanted:
            self.exec(["systemctl", "enable", "--quiet", *wanted], check=True)

    def reboot(self, wait_ssh: bool = True, timeout: float = 60) -> None:
        """A power cut and a boot: SIGKILL, a fresh network namespace with only the NICs, start again."""
        _run(["podman", "kill", "--signal", "KILL", self.container], check=False, timeout=60)
        _run(["podman", "wait", self.container], check=False, timeout=60)
        _run(["ip", "netns", "del", self.hv])
        for end in ("hv1", "hv2"):   # the switch's ends went with their peers; make sure
            _run(["ip", "-n", self.sw, "link", "del", end], check=False)
        _run(["ip", "-n", self.dead, "link", "del", "eth0"], check=False)
        _run(["ip", "netns", "add", self.hv])
        self._check_not_root_namespace()
        _run(["ip", "netns", "exec", self.hv, "sh", "-c",
              "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad;"
              "echo 0 > /proc/sys/net/ipv6/conf/default/accept_ra;"
              "echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 1 > /proc/sys/net/ipv4/conf/default/arp_ignore"])
        self._ns(self.hv, ["link set lo up"])
        self._plug_nics()
        self._boot()
        if wait_ssh:
            self.wait_ssh(timeout)

    # -- tearing down ---------------------------------------------------------------------------
    def close(self) -> None:
        if self.prefix:
            _run(["podman", "rm", "-f", "-t", "0", self.container], check=False, timeout=120)
        super().close()
