"""The classifier on exceptions the libraries really raise, against loopback sockets.

Every exception here comes out of socket, ssl, http.client, urllib or pyVmomi
talking to a real (misbehaving) peer; none is constructed from a string.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from vcpeers import ROOT, FaultProxy, TlsHttpServer, free_port, soap_fault

from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.errors import (
    ConnectTimeout,
    HTTPStatusError,
    NotVimServer,
    ReadTimeout,
    classify,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.connect import (
    make_ssl_context,
    probe_versions,
)


def raised(fn, *args, **kw) -> BaseException:
    try:
        fn(*args, **kw)
    except BaseException as exc:  # noqa: BLE001 - the point is to catch whatever is real
        return exc
    raise AssertionError(f"{fn} did not raise")


@contextmanager
def tcp_server(behaviour):
    """A one-shot TCP server on loopback; behaviour(conn) runs per connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()
    held = []

    def serve():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn = srv.accept()[0]
            except OSError:
                continue
            held.append(conn)
            threading.Thread(target=behaviour, args=(conn,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        srv.close()
        for c in held:
            c.close()


def _reset(conn):
    conn.recv(100)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _close_after_request(conn):
    conn.recv(4096)
    conn.close()


def _silent(conn):
    time.sleep(3)


def _close_at_once(conn):
    conn.close()


def _plain_http(conn):
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    conn.close()


# -- socket --------------------------------------------------------------------

def test_connection_refused_is_transient():
    exc = raised(socket.create_connection, ("127.0.0.1", free_port()), 2)
    assert isinstance(exc, ConnectionRefusedError)
    v = classify(exc)
    assert (v.transient, v.category, v.error_class) == (True, "connection_refused", "ConnectionRefusedError")


def test_connection_reset_is_retried_only_for_idempotent_calls():
    with tcp_server(_reset) as port:
        s = socket.create_connection(("127.0.0.1", port), 2)
        s.sendall(b"hello")
        time.sleep(0.1)
        exc = raised(s.recv, 100)
        s.close()
    assert isinstance(exc, ConnectionResetError)
    assert classify(exc, idempotent=True).transient
    v = classify(exc, idempotent=False)
    assert (v.transient, v.category) == (False, "connection_reset")


def test_unknown_host_name_is_permanent():
    exc = raised(socket.getaddrinfo, "vcenter-no-such-name", 443, flags=socket.AI_NUMERICHOST)
    assert isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_NONAME
    v = classify(exc)
    assert (v.transient, v.category) == (False, "unknown_host")
    assert "hostname" in v.hint


@pytest.mark.kernel
def test_temporary_name_resolution_failure_is_transient(netns):
    """A resolver that cannot be reached gives EAI_AGAIN: glibc's real answer, in a namespace
    whose resolv.conf (bind-mounted by ip netns exec) points at a closed loopback port."""
    etc = f"/etc/netns/{netns}"
    os.makedirs(etc, exist_ok=True)
    try:
        with open(f"{etc}/resolv.conf", "w") as fh:
            fh.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        code = (
            "import json, socket, sys\n"
            f"sys.path.insert(0, {str(ROOT / '.tmp' / 'collections')!r})\n"
            "from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.errors import classify\n"
            "try:\n"
            "    socket.getaddrinfo('vcenter.example.com', 443)\n"
            "except socket.gaierror as exc:\n"
            "    v = classify(exc)\n"
            "    print(json.dumps([exc.errno, v.transient, v.category]))\n")
        out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code],
                             capture_output=True, text=True, timeout=30, check=False)
    finally:
        os.unlink(f"{etc}/resolv.conf")
        os.rmdir(etc)
    assert json.loads(out.stdout) == [socket.EAI_AGAIN, True, "dns_temporary"], out.stderr


# -- http.client -----------------------------------------------------------------

def test_server_closing_without_answer_is_session_dropped():
    with tcp_server(_close_after_request) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        exc = raised(lambda: (conn.request("GET", "/"), conn.getresponse()))
    assert isinstance(exc, http.client.RemoteDisconnected)
    assert classify(exc).category == "session_dropped"
    assert classify(exc, idempotent=True).transient
    assert not classify(exc, idempotent=False).transient


def test_socket_read_timeout_is_retried_only_for_idempotent_calls():
    with tcp_server(_silent) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.3)
        exc = raised(lambda: (conn.request("GET", "/"), conn.getresponse()))
    assert isinstance(exc, TimeoutError)
    assert classify(exc, idempotent=True) .transient
    v = classify(exc, idempotent=False)
    assert (v.transient, v.category) == (False, "read_timeout")
    assert "may already have been applied" in v.hint


# -- ssl -------------------------------------------------------------------------

def _tls_client(port, ctx):
    with socket.create_connection(("127.0.0.1", port), 2) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass


def test_self_signed_certificate_is_permanent_with_a_hint(certs):
    with TlsHttpServer(certs, lambda m, p, b: (200, "text/plain", b"ok")) as srv:
        exc = raised(_tls_client, srv.port, make_ssl_context(True, None))
    assert isinstance(exc, ssl.SSLCertVerificationError)
    v = classify(exc)
    assert (v.transient, v.category) == (False, "tls_verify")
    assert "ca_path" in v.hint
    assert "self-signed" in v.message


def test_certificate_from_an_unrelated_ca_is_permanent(certs):
    with TlsHttpServer(certs, lambda m, p, b: (200, "text/plain", b"ok")) as srv:
        exc = raised(_tls_client, srv.port, make_ssl_context(True, str(certs.other_ca)))
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert classify(exc).category == "tls_verify"


def test_plain_http_on_the_tls_port_is_a_permanent_tls_error():
    with tcp_server(_plain_http) as port:
        exc = raised(_tls_client, port, make_ssl_context(False, None))
    assert isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLCertVerificationError)
    v = classify(exc)
    assert (v.transient, v.category) == (False, "tls_error")


def test_peer_closing_during_handshake_is_transient():
    with tcp_server(_close_at_once) as port:
        exc = raised(_tls_client, port, make_ssl_context(False, None))
    assert isinstance(exc, (ssl.SSLEOFError, ConnectionResetError))
    assert classify(exc).transient


def test_missing_ca_path_is_a_bad_argument():
    exc = raised(make_ssl_context, True, "/nonexistent/ca.pem")
    assert isinstance(exc, FileNotFoundError)
    assert (classify(exc).transient, classify(exc).category) == (False, "bad_argument")


# -- our bounded probe -------------------------------------------------------------

def test_probe_on_a_peer_that_never_answers_is_a_connect_timeout():
    with FaultProxy("blackhole") as proxy:
        exc = raised(probe_versions, "127.0.0.1", proxy.port, make_ssl_context(False, None), 0.3)
    assert isinstance(exc, ConnectTimeout)  # the TLS handshake never completed: nothing sent
    assert (classify(exc, idempotent=False).transient, classify(exc).category) == (True, "connect_timeout")


def test_probe_that_gets_no_http_reply_is_a_read_timeout(certs):
    def slow(method, path, body):
        time.sleep(1.0)
        return 200, "text/xml", b""

    with TlsHttpServer(certs, slow) as srv:
        exc = raised(probe_versions, "127.0.0.1", srv.port, make_ssl_context(False, None), 0.3)
    assert isinstance(exc, ReadTimeout)
    assert classify(exc).transient and classify(exc).category == "read_timeout"


@pytest.mark.parametrize("status,transient", [(502, True), (503, True), (504, True),
                                              (401, False), (404, False), (500, False)])
def test_probe_http_status(certs, status, transient):
    with TlsHttpServer(certs, lambda m, p, b: (status, "text/plain", b"x")) as srv:
        exc = raised(probe_versions, "127.0.0.1", srv.port, make_ssl_context(False, None), 2)
    assert isinstance(exc, HTTPStatusError) and exc.status == status
    assert classify(exc).transient is transient


def test_probe_of_something_that_is_not_vsphere_is_permanent(certs):
    with TlsHttpServer(certs, lambda m, p, b: (200, "text/html", b"<html><body>hi</body></html>")) as srv:
        exc = raised(probe_versions, "127.0.0.1", srv.port, make_ssl_context(False, None), 2)
    assert isinstance(exc, NotVimServer)
    assert (classify(exc).transient, classify(exc).category) == (False, "not_vim_server")


# -- urllib ------------------------------------------------------------------------

def test_urllib_http_error_uses_the_status(certs):
    with TlsHttpServer(certs, lambda m, p, b: (503, "text/plain", b"x")) as srv:
        exc = raised(urllib.request.urlopen, f"https://127.0.0.1:{srv.port}/",
                     context=make_ssl_context(False, None), timeout=2)
    assert isinstance(exc, urllib.error.HTTPError)
    assert (classify(exc).transient, classify(exc).category) == (True, "http_503")


def test_urllib_wrapped_refusal_is_classified_by_its_reason():
    exc = raised(urllib.request.urlopen, f"http://127.0.0.1:{free_port()}/", timeout=2)
    assert isinstance(exc, urllib.error.URLError)
    v = classify(exc)
    assert (v.transient, v.category) == (True, "connection_refused")
    assert "URLError" in v.error_class


# -- pyVmomi -----------------------------------------------------------------------

def test_connect_wraps_refusal_in_host_connect_fault_and_the_context_decides():
    from pyVim.connect import Connect
    from pyVmomi import vim

    exc = raised(Connect, host="127.0.0.1", port=free_port(), user="u", pwd="p",
                 sslContext=make_ssl_context(False, None), httpConnectionTimeout=2)
    assert isinstance(exc, vim.fault.HostConnectFault)
    assert isinstance(exc.__context__, ConnectionRefusedError)
    v = classify(exc)
    assert (v.transient, v.category) == (True, "connection_refused")
    assert "HostConnectFault" in v.error_class


def test_connect_wraps_certificate_failure_and_it_stays_permanent(certs):
    from pyVim.connect import Connect
    from pyVmomi import vim

    with TlsHttpServer(certs, lambda m, p, b: (200, "text/xml", b"")) as srv:
        exc = raised(Connect, host="127.0.0.1", port=srv.port, user="u", pwd="p",
                     sslContext=make_ssl_context(True, None), httpConnectionTimeout=2)
    assert isinstance(exc, vim.fault.HostConnectFault)
    assert (classify(exc).transient, classify(exc).category) == (False, "tls_verify")


def test_smartconnect_probe_turns_503_into_a_bare_exception_that_is_transient(certs):
    from pyVim.connect import SmartConnect

    with TlsHttpServer(certs, lambda m, p, b: (503, "text/plain", b"starting")) as srv:
        exc = raised(SmartConnect, host="127.0.0.1", port=srv.port, user="u", pwd="p",
                     disableSslCertValidation=True)
    assert exc.__class__ is Exception
    v = classify(exc)
    assert (v.transient, v.category) == (True, "not_vim_server_or_down")


def test_a_bare_exception_from_elsewhere_is_not_trusted_as_transient():
    def odd():
        raise Exception("something odd")  # pylint: disable=broad-exception-raised

    exc = raised(odd)
    assert classify(exc).transient is False


def _stub(port):
    from pyVmomi import SoapStubAdapter, vim

    stub = SoapStubAdapter(host="127.0.0.1", port=port, version="vim.version.version11",
                           sslContext=make_ssl_context(False, None), httpConnectionTimeout=2)
    return vim.ServiceInstance("ServiceInstance", stub)


@pytest.mark.parametrize("status,transient", [(503, True), (502, True), (403, False)])
def test_soap_call_answered_with_http_status(certs, status, transient):
    with TlsHttpServer(certs, lambda m, p, b: (status, "text/plain", b"x")) as srv:
        exc = raised(_stub(srv.port).RetrieveContent)
    assert exc.__class__ is http.client.HTTPException
    v = classify(exc)
    assert (v.transient, v.category) == (transient, f"http_{status}")


@pytest.mark.parametrize("fault,detail,category,transient", [
    ("NotAuthenticated", '<object type="Folder">group-d1</object><privilegeId>System.View</privilegeId>',
     "session_expired", True),
    ("NoPermission", '<object type="Folder">group-d1</object><privilegeId>System.View</privilegeId>',
     "no_permission", False),
    ("InvalidLogin", "", "invalid_login", False),
    ("InvalidArgument", "<invalidProperty>name</invalidProperty>", "bad_argument", False),
])
def test_soap_faults_deserialized_by_pyvmomi(certs, fault, detail, category, transient):
    from pyVmomi import vmodl

    with TlsHttpServer(certs, lambda m, p, b: (500, "text/xml", soap_fault(fault, detail))) as srv:
        exc = raised(_stub(srv.port).RetrieveContent)
    assert isinstance(exc, vmodl.MethodFault) and type(exc).__name__.endswith(fault)
    v = classify(exc)
    assert (v.transient, v.category) == (transient, category)


def test_generic_part_works_without_pyvmomi():
    code = (
        "import sys, socket\n"
        "sys.modules['pyVmomi'] = None  # import fails as if absent\n"
        f"sys.path.insert(0, {str(ROOT / '.tmp' / 'collections')!r})\n"
        "from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter import errors as e\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {free_port()}), 2)\n"
        "except OSError as exc:\n"
        "    print(e.classify(exc).category)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout.strip() == "connection_refused", out.stderr
