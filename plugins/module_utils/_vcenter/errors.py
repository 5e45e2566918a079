# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Is this failure worth retrying? Decided by exception type, never by words in the message.

Covers what a vSphere client meets on the way: socket, ssl, http.client and
urllib errors, pyVmomi faults (imported lazily, so the generic part works where
pyVmomi is absent), and the few exception types our own bounded HTTP probe
raises. The answer is a Verdict: transient or permanent, a short category, and
what the user should check.

Facts this relies on (pyVmomi 9.1): ``vim.fault.NotAuthenticated`` is a
subclass of ``vim.fault.NoPermission`` (an expired session must not look like a
missing permission); ``pyVim.connect.Connect`` wraps socket and TLS errors in
``vim.fault.HostConnectFault`` and the original survives as ``__context__``;
SmartConnect's version probe turns any non-200 reply into a bare ``Exception``;
the SOAP stub turns an HTTP status other than 200/500 into a bare
``http.client.HTTPException``.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import urllib.error
from types import TracebackType

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.backoff import Verdict
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import qualname

__all__ = [
    "ConnectTimeout",
    "HTTPStatusError",
    "NotVimServer",
    "ReadTimeout",
    "TRANSIENT_HTTP_STATUS",
    "classify",
]

TRANSIENT_HTTP_STATUS = frozenset({502, 503, 504})

_NETWORK_ERRNOS = {
    errno.ENETUNREACH: "network_unreachable",
    errno.EHOSTUNREACH: "host_unreachable",
    errno.ENETDOWN: "network_down",
    errno.EHOSTDOWN: "host_down",
    errno.ETIMEDOUT: "connect_timeout",
}
_ARGUMENT_OSERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


class ConnectTimeout(TimeoutError):
    """No TCP/TLS connection within the timeout: nothing was sent, always safe to retry."""


class ReadTimeout(TimeoutError):
    """The request went out but no answer came in time: only idempotent calls may be re-sent."""


class HTTPStatusError(Exception):
    """An HTTP reply with a status the caller did not expect (from our own probe)."""

    def __init__(self, status: int, reason: str = "", url: str = ""):
        super().__init__(f"HTTP {status} {reason}".strip() + (f" from {url}" if url else ""))
        self.status = status
        self.reason = reason
        self.url = url


class NotVimServer(Exception):
    """The endpoint answered, but not like a vSphere API endpoint."""


def _vmodl():
    """pyVmomi's fault namespaces, or None where pyVmomi is not installed."""
    try:
        from pyVmomi import vim, vmodl  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return vim, vmodl


def _text(exc: BaseException) -> str:
    """A one-line message; pyVmomi faults carry it in ``msg``, not in str()."""
    msg = getattr(exc, "msg", None)
    if isinstance(msg, str) and msg:
        return msg
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    text = str(exc) or repr(exc)
    return " ".join(text.split())


def _raised_in(exc: BaseException, package: str) -> bool:
    """True when the innermost frame of the traceback belongs to ``package``."""
    tb: TracebackType | None = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return False
    return str(last.tb_frame.f_globals.get("__name__", "")).startswith(package)


def _soap_http_status(exc: BaseException) -> int | None:
    """The status behind pyVmomi's bare HTTPException, read from the raising frame."""
    tb = exc.__traceback__
    status = None
    while tb is not None:
        frame = tb.tb_frame
        if str(frame.f_globals.get("__name__", "")).startswith("pyVmomi"):
            resp = frame.f_locals.get("resp")
            value = getattr(resp, "status", None)
            if isinstance(value, int):
                status = value
        tb = tb.tb_next
    return status


def _v(transient: bool, category: str, exc: BaseException, hint: str, note: str = "") -> Verdict:
    message = _text(exc) + (f" ({note})" if note else "")
    return Verdict(transient=transient, category=category, hint=hint,
                   error_class=qualname(exc), message=message)


def _resend(idempotent: bool, category: str, exc: BaseException, what: str) -> Verdict:
    """Failures after the request may have reached the server: re-send reads only."""
    if idempotent:
        return _v(True, category, exc, f"{what}; the call is a read, so it is retried")
    return _v(False, category, exc,
              f"{what}; the call changes state and may already have been applied, so it is "
              f"not re-sent: check the result on the server before running it again")


def _http_status(status: int, exc: BaseException) -> Verdict:
    if status in TRANSIENT_HTTP_STATUS:
        return _v(True, f"http_{status}", exc,
                  "the endpoint or a load balancer in front of it is starting or overloaded")
    if status in (401, 403):
        return _v(False, f"http_{status}", exc, "credentials and any proxy in front of vCenter")
    if status == 404:
        return _v(False, "not_vim_server", exc,
                  "hostname and port point at a vCenter/ESXi SDK endpoint (/sdk)")
    return _v(False, f"http_{status}", exc, "hostname, port and any proxy in front of vCenter")


def _classify_vmodl(exc: BaseException, idempotent: bool) -> Verdict | None:
    mods = _vmodl()
    if mods is None:
        return None
    vim, vmodl = mods
    if not isinstance(exc, vmodl.MethodFault):
        return None
    # NotAuthenticated derives from NoPermission: test it first.
    if isinstance(exc, vim.fault.NotAuthenticated):
        return _v(True, "session_expired", exc,
                  "the session expired or was dropped by the server; a fresh login is attempted")
    if isinstance(exc, vim.fault.InvalidLogin):
        return _v(False, "invalid_login", exc,
                  "username and password (and whether the account is locked or expired)")
    if isinstance(exc, vim.fault.NoPermission):
        return _v(False, "no_permission", exc,
                  "the role granted to this account in vCenter (Administration > Access Control)")
    if isinstance(exc, (vmodl.fault.InvalidArgument, vmodl.fault.InvalidRequest,
                        vmodl.fault.InvalidType, vmodl.fault.MethodNotFound)):
        return _v(False, "bad_argument", exc, "the parameters of the request")
    if isinstance(exc, vim.fault.HostConnectFault):
        return _v(True, "host_connect", exc, "that vCenter is reachable and running")
    if isinstance(exc, vmodl.fault.HostCommunication):
        return _v(True, "host_communication", exc, "network between vCenter and its hosts")
    if isinstance(exc, vmodl.fault.SystemError):
        return _resend(idempotent, "server_error", exc, "vCenter reported an internal error")
    return _v(False, "vsphere_fault", exc, "the fault details reported by vCenter")


def _classify_gaierror(exc: socket.gaierror) -> Verdict:
    code = exc.errno
    if code == socket.EAI_AGAIN:
        return _v(True, "dns_temporary", exc,
                  "the DNS servers of this host (temporary failure in name resolution)")
    permanent = {socket.EAI_NONAME, socket.EAI_FAIL}
    nodata = getattr(socket, "EAI_NODATA", None)
    if nodata is not None:
        permanent.add(nodata)
    if code in permanent:
        return _v(False, "unknown_host", exc, "the spelling of hostname and its DNS record")
    return _v(False, "name_resolution", exc, "hostname and the resolver configuration")


def classify(exc: BaseException, idempotent: bool = True) -> Verdict:
    """Transient or permanent, by exception type.

    ``idempotent`` says whether the call that failed may be re-sent: read
    timeouts and connections dropped after the request went out are retried
    only for idempotent calls.
    """
    mods = _vmodl()
    # Connect() wraps the real error; the original is kept as __context__.
    if mods is not None and isinstance(exc, mods[0].fault.HostConnectFault):
        inner = exc.__cause__ or exc.__context__
        if inner is not None and inner is not exc:
            verdict = classify(inner, idempotent)
            return Verdict(verdict.transient, verdict.category, verdict.hint,
                           f"{verdict.error_class} (in {qualname(exc)})", verdict.message)
    if isinstance(exc, urllib.error.HTTPError):
        return _http_status(exc.code, exc)
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        verdict = classify(exc.reason, idempotent)
        return Verdict(verdict.transient, verdict.category, verdict.hint,
                       f"{verdict.error_class} (in {qualname(exc)})", verdict.message)

    verdict = _classify_vmodl(exc, idempotent)
    if verdict is not None:
        return verdict

    # Our own probe's types first: they are subclasses of TimeoutError.
    if isinstance(exc, ConnectTimeout):
        return _v(True, "connect_timeout", exc,
                  "that the host is reachable (routing, firewall) and the port is right")
    if isinstance(exc, ReadTimeout):
        return _resend(idempotent, "read_timeout", exc, "the server accepted but did not answer in time")
    if isinstance(exc, HTTPStatusError):
        return _http_status(exc.status, exc)
    if isinstance(exc, NotVimServer):
        return _v(False, "not_vim_server", exc,
                  "hostname and port point at a vCenter/ESXi SDK endpoint")

    # SmartConnect's version probe: any non-200 reply becomes a bare Exception.
    if exc.__class__ is Exception and _raised_in(exc, "pyVim"):
        return _v(True, "not_vim_server_or_down", exc,
                  "vCenter may still be starting or a load balancer answered 502/503; if it "
                  "persists, check that hostname and port point at vCenter")

    # ssl before OSError: SSLError derives from OSError.
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _v(False, "tls_verify", exc,
                  "the certificate of the server: pass ca_path with the CA that signed it (or "
                  "the server's own certificate if it is self-signed), make hostname match a "
                  "name in the certificate, or set validate_certs: false in a lab only")
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return _v(True, "tls_closed", exc, "the server closed the connection during TLS")
    if isinstance(exc, ssl.SSLError):
        return _v(False, "tls_error", exc,
                  "that the port speaks TLS (HTTPS) and accepts this client's TLS versions")

    if isinstance(exc, socket.gaierror):
        return _classify_gaierror(exc)
    if isinstance(exc, ConnectionRefusedError):
        return _v(True, "connection_refused", exc,
                  "that vCenter is running and listening on that host and port")
    if isinstance(exc, http.client.RemoteDisconnected):  # also a ConnectionResetError
        return _resend(idempotent, "session_dropped", exc,
                       "the server closed the connection without answering")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return _resend(idempotent, "connection_reset", exc, "the connection was reset")
    if isinstance(exc, TimeoutError):  # socket.timeout: phase unknown, assume the request went out
        return _resend(idempotent, "read_timeout", exc, "no answer within the timeout")
    if isinstance(exc, (http.client.IncompleteRead, http.client.BadStatusLine)):
        return _resend(idempotent, "session_dropped", exc, "the reply was cut off")
    if exc.__class__ is http.client.HTTPException:
        status = _soap_http_status(exc)
        if status is not None:
            return _http_status(status, exc)
        return _resend(idempotent, "http_error", exc, "the endpoint answered with an HTTP error")
    if isinstance(exc, http.client.HTTPException):
        return _v(False, "http_protocol", exc, "that hostname and port point at an HTTPS endpoint")

    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return _v(True, _NETWORK_ERRNOS[exc.errno], exc,
                  "routes and links towards vCenter from this host")
    if isinstance(exc, _ARGUMENT_OSERRORS):
        return _v(False, "bad_argument", exc, "the paths given (for example ca_path)")
    if isinstance(exc, OSError):
        return _v(False, "os_error", exc, "the error above")
    if isinstance(exc, (ValueError, TypeError)):
        return _v(False, "bad_argument", exc, "the module parameters")
    return _v(False, "unexpected", exc, "the error above; it is not known to be transient")
