# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to netsafe.hypervisor: other collections must not import this file.
"""Log in to vCenter through network trouble, fail at once on real errors.

The module vcenter_retry_connect is a thin shell around ``connect_with_retry``.
Why not ``SmartConnect``: its first step (a GET of vimServiceVersions.xml)
ignores the timeout and hangs on a peer that accepts TCP but never answers, and
it turns every non-200 reply into a bare Exception. We probe the versions
ourselves with a bounded request, then log in through pyVmomi's SOAP stub, so
every step is bounded by ``connect_timeout`` and keeps its exception type.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.backoff import (
    BackoffPolicy, RetryError, RetryRunner,
)
from ansible_collections.netsafe.hypervisor.plugins.module_utils._common.errors import NetsafeError
from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.errors import (
    ConnectTimeout, HTTPStatusError, NotVimServer, ReadTimeout, classify,
)

__all__ = ["ConnectSettings", "VcenterConnectError", "connect_with_retry", "make_ssl_context",
           "probe_versions", "Redactor"]

_MIN_TIMEOUT = 0.05


class VcenterConnectError(NetsafeError):
    """What the module turns into fail_json: a message plus structured details (attempts, reason, category)."""

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


class Redactor:
    """Replaces secrets in any text before it leaves the process."""

    def __init__(self, *secrets: str | None):
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text


@dataclass
class ConnectSettings:
    hostname: str
    username: str
    password: str = field(repr=False)
    port: int = 443
    validate_certs: bool = True
    ca_path: str | None = None
    connect_timeout: float = 10.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    backoff_jitter: bool = True
    max_attempts: int = 10
    deadline: float | None = 300.0
    required_interfaces: list[str] = field(default_factory=list)
    max_network_wait: float = 300.0
    namespace: str | None = None

    def policy(self) -> BackoffPolicy:
        return BackoffPolicy(base=self.backoff_base, cap=self.backoff_cap,
                             max_attempts=self.max_attempts, deadline=self.deadline,
                             jitter="full" if self.backoff_jitter else "none")


def make_ssl_context(validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
    """Always an explicit context: pyVmomi silently skips verification for
    localhost/127.0.0.1/::1 when it is given none."""
    if not validate_certs:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context()
    if ca_path:
        import os  # pylint: disable=import-outside-toplevel
        if os.path.isdir(ca_path):
            ctx.load_verify_locations(capath=ca_path)
        else:
            ctx.load_verify_locations(cafile=ca_path)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _versions_from_xml(body: bytes, where: str) -> set[str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise NotVimServer(f"{where} did not return vimServiceVersions.xml ({exc})") from None
    if root.tag != "namespaces":
        raise NotVimServer(f"{where} returned <{root.tag}>, not a vimServiceVersions.xml document")
    found: set[str] = set()
    for ns in root.findall("namespace"):
        if (ns.findtext("name") or "").strip() != "urn:vim25":
            continue
        for node in [ns.find("version")] + ns.findall("priorVersions/version"):
            if node is not None and node.text:
                found.add(node.text.strip())
    if not found:
        raise NotVimServer(f"{where} lists no urn:vim25 API versions")
    return found


def probe_versions(hostname: str, port: int, context: ssl.SSLContext, timeout: float) -> set[str]:
    """GET /sdk/vimServiceVersions.xml with every step bounded by ``timeout``.

    Raises ConnectTimeout (nothing sent), ReadTimeout (sent, no answer),
    HTTPStatusError (non-200) and NotVimServer (an answer that is not the
    document), or the socket/ssl error as it came.
    """
    url = f"https://{hostname}:{port}/sdk/vimServiceVersions.xml"
    conn = http.client.HTTPSConnection(hostname, port, timeout=timeout, context=context)
    try:
        try:
            conn.connect()
        except (socket.timeout, TimeoutError) as exc:
            raise ConnectTimeout(f"no TLS connection to {hostname}:{port} within {timeout:g}s") from exc
        try:
            conn.request("GET", "/sdk/vimServiceVersions.xml", headers={"Accept": "text/xml"})
            resp = conn.getresponse()
            body = resp.read(1 << 20)
        except (socket.timeout, TimeoutError) as exc:
            raise ReadTimeout(f"no answer from {url} within {timeout:g}s") from exc
        if resp.status != 200:
            raise HTTPStatusError(resp.status, resp.reason, url)
        return _versions_from_xml(body, url)
    finally:
        conn.close()


def _pick_version(server_versions: set[str]) -> tuple[str, str]:
    """Newest pyVmomi version name the server also speaks, and its API version id."""
    from pyVmomi import VmomiSupport  # pylint: disable=import-outside-toplevel
    for name in VmomiSupport.GetServiceVersions("vim25"):
        api = VmomiSupport.versionIdMap.get(name)
        if api and api in server_versions:
            return name, api
    raise NotVimServer(f"no API version in common with the server (it offers "
                       f"{', '.join(sorted(server_versions))})")


class _Session:
    """One attempt: probe, open the stub, read the service content, log in, read, log out."""

    def __init__(self, settings: ConnectSettings, context: ssl.SSLContext, runner: RetryRunner,
                 warn: Callable[[str], None]):
        self.s = settings
        self.context = context
        self.runner = runner
        self.warn = warn

    def __call__(self, remaining: float | None) -> dict[str, Any]:
        from pyVmomi import SoapStubAdapter, vim  # pylint: disable=import-outside-toplevel
        s = self.s
        timeout = s.connect_timeout if remaining is None else min(s.connect_timeout, remaining)
        timeout = max(_MIN_TIMEOUT, timeout)
        self.runner.phase = "version_probe"
        versions = probe_versions(s.hostname, s.port, self.context, timeout)
        version, api_id = _pick_version(versions)
        stub = SoapStubAdapter(host=s.hostname, port=s.port, version=version, path="/sdk",
                               sslContext=self.context, httpConnectionTimeout=timeout,
                               connectionPoolTimeout=-1)
        try:
            self.runner.phase = "retrieve_content"
            instance = vim.ServiceInstance("ServiceInstance", stub)
            content = instance.RetrieveContent()
            self.runner.phase = "login"
            # Login creates a session and nothing else; a duplicate after a lost
            # reply only leaves an idle session that vCenter expires.
            content.sessionManager.Login(s.username, s.password, None)
            about = content.about
            info = {
                "product": about.fullName,
                "product_name": about.name,
                "version": about.version,
                "build": about.build,
                "api_type": about.apiType,
                "api_version": about.apiVersion,
                "instance_uuid": about.instanceUuid,
                "negotiated_api_version": api_id,
            }
            self.runner.phase = "logout"
            try:
                content.sessionManager.Logout()
            except Exception as exc:  # the login worked; a lost logout only leaves a session to expire
                self.warn(f"logout from {s.hostname} failed ({type(exc).__name__}); the session "
                          f"will expire on the server")
            return info
        finally:
            try:
                stub.DropConnections()
            except Exception:  # pragma: no cover - best effort cleanup
                pass


def connect_with_retry(settings: ConnectSettings, *, log: Callable[[str], None] | None = None,
                       warn: Callable[[str], None] | None = None,
                       clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Connect, retrying transient failures; return what we talked to and how it went.

    Raises VcenterConnectError with ``attempts``, ``attempt_history``,
    ``network_waits``, ``elapsed``, ``reason`` and ``category`` on failure.
    Secrets never reach a message: every text goes through the Redactor.
    """
    redact = Redactor(settings.password)
    warnings: list[str] = []

    def _warn(text: str) -> None:
        text = redact(text)
        warnings.append(text)
        if warn is not None:
            warn(text)

    try:
        policy = settings.policy()
    except ValueError as exc:
        raise VcenterConnectError(str(exc), reason="bad_argument") from None
    try:
        context = make_ssl_context(settings.validate_certs, settings.ca_path)
    except (OSError, ssl.SSLError) as exc:
        raise VcenterConnectError(redact(f"ca_path {settings.ca_path!r} cannot be loaded as CA "
                                         f"certificates: {exc}"), reason="bad_argument") from None

    monitor = None
    if settings.required_interfaces:
        from ansible_collections.netsafe.hypervisor.plugins.module_utils._vcenter.linkmon import (  # pylint: disable=import-outside-toplevel
            LinkMonitor, LinkMonitorError,
        )
        try:
            monitor = LinkMonitor(settings.required_interfaces, settings.namespace).open()
        except LinkMonitorError as exc:
            raise VcenterConnectError(redact(str(exc)), reason="bad_argument") from None

    runner = RetryRunner(policy=policy, classify=lambda exc: classify(exc, idempotent=True),
                         gate=monitor, max_network_wait=settings.max_network_wait,
                         clock=clock, sleep=sleep, log=log, redact=redact)
    started = clock()
    try:
        info = runner.run(_Session(settings, context, runner, _warn))
    except RetryError as exc:
        last = exc.attempts[-1] if exc.attempts else None
        raise VcenterConnectError(
            redact(f"could not log in to {settings.hostname}:{settings.port}: {exc.message}"),
            reason=exc.reason,
            category=exc.verdict.category if exc.verdict else (last.category if last else None),
            transient=exc.verdict.transient if exc.verdict else None,
            attempts=sum(1 for a in exc.attempts if a.counted),
            attempt_history=[a.as_dict() for a in exc.attempts],
            network_waits=[w.as_dict() for w in exc.network_waits],
            elapsed=round(exc.elapsed, 3),
            warnings=warnings,
        ) from None
    finally:
        if monitor is not None:
            monitor.close()
    result = dict(info)
    result.update(
        attempts=sum(1 for a in runner.attempts if a.counted),
        attempt_history=runner.history(),
        network_waits=[w.as_dict() for w in runner.network_waits],
        elapsed=round(clock() - started, 3),
        warnings=warnings,
    )
    return result
