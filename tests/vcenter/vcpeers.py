"""Real peers for the vCenter tests: the simulator, a fault-injecting TCP proxy,
a tiny TLS/HTTP server that answers what a test tells it, and helpers to
produce real exceptions against loopback sockets."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VCSIM = ROOT / ".tmp" / "bin" / "vcsim"
NS_ADDR_SERVER = "10.231.0.2"
NS_ADDR_CLIENT = "10.231.0.1"
USER = "automation@vsphere.local"
PASSWORD = "Vc-S3cret-9f1b7e"  # distinctive, so a leak is unambiguous in any output


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Certs:
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server certificate


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "vcsim.pem", directory / "vcsim.key"
    other, other_key = directory / "other-ca.pem", directory / "other-ca.key"
    san = f"subjectAltName=IP:127.0.0.1,IP:{NS_ADDR_SERVER},DNS:localhost"
    for c, k, subj, ext in ((cert, key, "/CN=vcsim.test", san),
                            (other, other_key, "/CN=other-ca.test", "basicConstraints=critical,CA:TRUE")):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(k),
                        "-out", str(c), "-days", "7", "-subj", subj, "-addext", ext],
                       check=True, capture_output=True)
    return Certs(cert, key, other)


class Vcsim:
    """govmomi's simulator as a process; optionally inside a network namespace."""

    def __init__(self, certs: Certs, workdir: Path, *, listen: str, netns: str | None = None,
                 username: str = USER, password: str = PASSWORD):
        if not VCSIM.exists():
            raise RuntimeError(f"{VCSIM} is missing: run tests/setup.d/vcsim.sh (bootstrap does)")
        self.certs, self.workdir, self.listen, self.netns = certs, workdir, listen, netns
        self.username, self.password = username, password
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None

    def start(self, timeout: float = 30.0) -> Vcsim:
        ready = self.workdir / f"vcsim-ready-{self.listen.replace(':', '_')}"
        ready.unlink(missing_ok=True)
        cmd = ([] if self.netns is None else ["ip", "netns", "exec", self.netns]) + [
            str(VCSIM), "-l", self.listen, "-cert", str(self.certs.cert), "-key", str(self.certs.key),
            "-username", self.username, "-password", self.password, "-ready-file", str(ready)]
        log = open(self.workdir / "vcsim.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        end = time.monotonic() + timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"vcsim exited with {self.proc.returncode}: "
                                   f"{(self.workdir / 'vcsim.log').read_text()[-2000:]}")
            if time.monotonic() > end:
                raise RuntimeError("vcsim did not start in time")
            time.sleep(0.02)
        self.url = ready.read_text().strip()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class FaultProxy:
    """A TCP listener on 127.0.0.1 that misbehaves on purpose.

    mode ``blackhole``: accept and never answer. mode ``http_status``: the first
    ``count`` connections get a TLS handshake and an HTTP ``status`` reply, later
    ones are relayed byte for byte to ``upstream``.
    """

    def __init__(self, mode: str, *, upstream: tuple[str, int] | None = None, status: int = 503,
                 count: int = 0, certs: Certs | None = None):
        self.mode, self.upstream, self.status, self.count, self.certs = mode, upstream, status, count, certs
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.sock.close()
        for s in self.held:
            s.close()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn = self.sock.accept()[0]
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if self.mode == "blackhole":
                self.held.append(conn)
            elif self.mode == "http_status" and self.accepted <= self.count:
                threading.Thread(target=self._answer_status, args=(conn,), daemon=True).start()
            else:
                threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _answer_status(self, conn: socket.socket) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.certs.cert), str(self.certs.key))
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                body = b"service unavailable\n"
                tls.sendall(f"HTTP/1.1 {self.status} Injected\r\nContent-Length: {len(body)}\r\n"
                            f"Connection: close\r\n\r\n".encode() + body)
        except (OSError, ssl.SSLError):
            pass

    def _relay(self, conn: socket.socket) -> None:
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            conn.close()
            return

        def pump(a: socket.socket, b: socket.socket) -> None:
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(up, conn), daemon=True).start()
        pump(conn, up)


class Veth:
    """Two namespaces joined by a veth pair: the client side and the server side."""

    def __init__(self, client_ns: str, server_ns: str, client_if: str = "vc0", server_if: str = "vs0"):
        self.client_ns, self.server_ns = client_ns, server_ns
        self.client_if, self.server_if = client_if, server_if
        subprocess.run(["ip", "-n", client_ns, "link", "add", client_if, "type", "veth",
                        "peer", "name", server_if, "netns", server_ns], check=True)
        subprocess.run(["ip", "-n", client_ns, "addr", "add", f"{NS_ADDR_CLIENT}/24", "dev", client_if], check=True)
        subprocess.run(["ip", "-n", server_ns, "addr", "add", f"{NS_ADDR_SERVER}/24", "dev", server_if], check=True)
        self.set("up", client=True)
        self.set("up", client=False)

    def set(self, state: str, *, client: bool = False) -> float:
        """Change one side's admin state; returns time.time() right after the kernel did it."""
        ns, dev = (self.client_ns, self.client_if) if client else (self.server_ns, self.server_if)
        subprocess.run(["ip", "-n", ns, "link", "set", dev, state], check=True)
        return time.time()


def module_pid(name: str, timeout: float = 60.0) -> int:
    """Pid of the Python process that runs the AnsiballZ wrapper of module ``name``
    (not the shell or chmod that Ansible runs on the same file before)."""
    script = f"AnsiballZ_{name}.py"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv if a]
            if args and os.path.basename(args[0]).startswith("python") and any(
                    a.endswith(script) for a in args):
                return int(pid)
        time.sleep(0.02)
    raise AssertionError(f"module {name} never started")


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def tcp_attempt_fails(pid: int) -> int:
    """The kernel's count of failed TCP connects in the network namespace of ``pid``."""
    lines = [line.split() for line in Path(f"/proc/{pid}/net/snmp").read_text().splitlines()
             if line.startswith("Tcp:")]
    return int(dict(zip(lines[0], lines[1]))["AttemptFails"])


def wait_for_refused_connects(pid: int, count: int = 1, timeout: float = 60.0) -> None:
    """Block until ``count`` TCP connects failed in the namespace of ``pid``: the module
    really tried (and was refused) before the test changes anything."""
    _wait(lambda: tcp_attempt_fails(pid) >= count, timeout, f"{count} failed connects")


def wait_for_link_listener(pid: int, view_pid: int | None = None, timeout: float = 60.0) -> None:
    """Block until process ``pid`` holds a netlink socket bound to the link group.

    ``view_pid`` is any process in the namespace where that socket lives (the
    monitor may open it in another namespace than its own)."""
    def listening() -> bool:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        table = Path(f"/proc/{view_pid or pid}/net/netlink").read_text().splitlines()[1:]
        for row in table:
            cols = row.split()
            # sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
            if cols[1] == "0" and int(cols[3], 16) & 1 and cols[9] in inodes:
                return True
        return False

    _wait(listening, timeout, "the link monitor's netlink socket")


def netns_python_wrapper(directory: Path, ns: str) -> Path:
    """An interpreter path that runs the venv's Python inside namespace ``ns``:
    set as ansible_python_interpreter, the module runs there, the controller does not."""
    path = directory / f"python-in-{ns}"
    path.write_text(f"#!/bin/sh\nexec ip netns exec {ns} {ROOT / '.venv' / 'bin' / 'python'} \"$@\"\n")
    path.chmod(0o755)
    return path


def have_system_pyroute2() -> bool:
    python = shutil.which("python3", path="/usr/bin")
    if not python:
        return False
    return subprocess.run([python, "-c", "import pyroute2"], capture_output=True, check=False).returncode == 0


class TlsHttpServer:
    """A TLS HTTP server on 127.0.0.1 whose replies a test chooses:
    ``reply(method, path, body) -> (status, content_type, payload)``."""

    def __init__(self, certs: Certs, reply):
        import http.server

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path))
                status, ctype, payload = reply(self.command, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.requests: list[tuple[str, str]] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(certs.cert), str(certs.key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> TlsHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def soap_fault(fault: str, detail_xml: str = "", message: str = "injected fault") -> bytes:
    """A SOAP 500 body that pyVmomi deserializes into ``vim.fault.<fault>``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode>'
        f'<faultstring>{message}</faultstring><detail>'
        f'<{fault}Fault xmlns="urn:vim25" xsi:type="{fault}">{detail_xml}</{fault}Fault>'
        '</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>').encode()
