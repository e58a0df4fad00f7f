"""Readiness: what a client of the service hostname would get from one site, asked at the site's own address.

A standby is only as good as this. The commonest cross-provider failover failure is a site that is up but
not serving the hostname: never bound to it (the platform answers 404), its certificate never issued (the
platform's default certificate), or expired unnoticed because a standby gets no traffic. So each check
connects like a client would, with SNI and Host set to the service hostname, and verifies the certificate
chain against a trust store (the system's, the sandbox CA, or a private PKI bundle). Shared by the drill's
preflight and probes and by `bascule verify`.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from bascule.io.documents import InputError
from bascule.io.escaping import quoted
from bascule.readiness.target import SITE_HEADER, AcmeRenewal

DEFAULT_MIN_CERT_DAYS = 14
"""Days a certificate must still be valid: time to notice and fix a renewal that failed on a quiet standby."""


@dataclass(frozen=True)
class Trust:
    """How clients decide a certificate is good: which CAs they trust, and how much validity is enough."""

    ca_bundle: str | None = None
    """A PEM bundle of trusted CAs (private PKI, the sandbox CA); None means the system trust store."""
    min_cert_days: float = DEFAULT_MIN_CERT_DAYS

    def verifying(self) -> ssl.SSLContext:
        """A context that checks chain and hostname, as every browser and HTTP library does by default, for this
        module's own handshakes (`check_site`); never handed to httpx (see `client`).

        Made once per trust store and shared between threads: loading a trust store costs more than the handshake
        it serves (the system's about 15 ms of CPU, several times per service and round in `bascule watch`), and a
        handshake (`wrap_socket`) only reads the context. It is made again when the store changes: the bundle file
        replaced or edited (inode, size or mtime), or the system's CA file or folder (a ca-certificates update, or
        `SSL_CERT_FILE`/`SSL_CERT_DIR` pointing elsewhere). Raises `TrustStoreError` when the store cannot be loaded."""
        try:
            return _verifying(self.ca_bundle, _store_stamp(self.ca_bundle))
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise self._unloadable(exc) from exc

    def own_verifying(self) -> ssl.SSLContext:
        """A verifying context of the caller's own, shared with no one: what httpx may be given (see `client`)."""
        try:
            return ssl.create_default_context(cafile=self.ca_bundle)
        except (OSError, ValueError) as exc:
            raise self._unloadable(exc) from exc

    def _unloadable(self, exc: Exception) -> TrustStoreError:
        bundle = self.ca_bundle
        store = "the system trust store" if bundle is None else f"CA bundle {quoted(bundle)} (--ca-bundle)"
        return TrustStoreError(f"{store} cannot be loaded: {exc}")


class TrustStoreError(InputError):
    """The trust store cannot be loaded (a bundle deleted or half rewritten during a watch): a fault of the
    checker's own, said once, not a TLS failure of every site it checks."""


_Stamp = tuple[int, int, int] | None


@functools.lru_cache(maxsize=8)
def _verifying(ca_bundle: str | None, _stamp: tuple[_Stamp, ...]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle)


def _store_stamp(ca_bundle: str | None) -> tuple[_Stamp, ...]:
    """What changes when the trust store does: the bundle file's stamp, or for the system store (None) those of the
    CA file and folder OpenSSL reads by default (`ssl.get_default_verify_paths`, which follows `SSL_CERT_FILE` and
    `SSL_CERT_DIR`); a folder's mtime changes when a certificate is added to or removed from it."""
    if ca_bundle is not None:
        return (_file_stamp(ca_bundle),)
    found = ssl.get_default_verify_paths()
    return _file_stamp(found.cafile), _file_stamp(found.capath)


def _file_stamp(path: str | None) -> _Stamp:
    """What changes when a file is replaced or edited; None for no path or a file that cannot be read (a bundle's
    context is then not cached: making it raises)."""
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


BUNDLE_MAX_BYTES = 16 * 1024 * 1024
"""A CA bundle larger than this is refused unread: Mozilla's whole root store as PEM is about 0.2 MiB."""


def bundle_problem(path: Path) -> str | None:
    """Why `path` cannot be a trust store (`Trust.ca_bundle`), or None: it must be a PEM file holding at least one
    CA certificate that OpenSSL loads, through the same call `Trust.verifying` makes. OpenSSL refuses an empty file
    or a file of junk only when the first TLS check builds its context, deep inside a drill."""
    try:
        if not path.exists():
            return "no such file"
        if path.is_dir():
            return "is a folder, not a PEM file of CA certificates"
        size = path.stat().st_size
        if size > BUNDLE_MAX_BYTES:
            return f"is {size} bytes, more than a CA bundle ({BUNDLE_MAX_BYTES} at most)"
        text = path.read_bytes()
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if not text.strip():
        return "is empty: give a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)"
    if b"-----BEGIN CERTIFICATE-----" not in text:
        return "holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA certificates in PEM"
    try:
        Trust(str(path)).verifying()
    except TrustStoreError as exc:
        return f"OpenSSL cannot load it as CA certificates: {exc.__cause__}"
    return None


@functools.cache
def _unverified() -> ssl.SSLContext:
    """For reading what a site presents (its certificate) even when a client would refuse it, in `check_site`'s own
    handshakes; shared like `Trust.verifying`, and likewise never handed to httpx."""
    return _new_unverified()


def _new_unverified() -> ssl.SSLContext:
    """A context that verifies nothing and so loads no trust store (what `ssl.create_default_context` would do, most
    of the watch's CPU per service once): made in microseconds, so every client can have its own."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class CertInfo:
    subject: str
    names: list[str]
    """DNS names in the subject alternative names (what the certificate is valid for)."""
    issuer: str
    not_after: str
    days_left: float

    @classmethod
    def from_der(cls, der: bytes, now: dt.datetime) -> CertInfo:
        cert = x509.load_der_x509_certificate(der)
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns_names = [str(n) for n in names.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            dns_names = []
        common = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        expires = cert.not_valid_after_utc
        return cls(
            subject=cert.subject.rfc4514_string(),
            names=dns_names or common,
            issuer=cert.issuer.rfc4514_string(),
            not_after=expires.isoformat(),
            days_left=round((expires - now).total_seconds() / 86400, 1),
        )

    def covers(self, hostname: str) -> bool:
        """RFC 6125 matching: exact, or a wildcard standing for exactly the leftmost label."""
        host = hostname.lower().rstrip(".")
        for name in (n.lower().rstrip(".") for n in self.names):
            if name == host:
                return True
            if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
                return True
        return False


@dataclass
class SiteReadiness:
    role: str
    address: str
    port: int
    hostname: str
    health_path: str
    certificate: CertInfo | None = None
    trusted: bool = False
    status: int | None = None
    site: str | None = None
    """The identity the answer gave (`X-Bascule-Site`), if any: a platform's own 404 names no app."""
    acme: AcmeRenewal | None = None
    """How the site's certificate is renewed, when it comes from ACME."""
    latency_ms: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ready": self.ready}


def url_for(address: str, port: int, path: str) -> str:
    host = f"[{address}]" if _is_ipv6(address) else address
    return f"https://{host}:{port}{path}"


def _is_ipv6(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return False


def client(trust: Trust | None) -> httpx.Client:
    """An HTTP client that opens a fresh connection per request (a probe must see the site as it is now, not a
    kept-alive connection from before a fault) and verifies as `trust` says; None reads without verifying.

    The client gets an SSL context of its own, never a shared one: httpcore sets the ALPN protocols on the context
    it is given for every connection (`ssl_context.set_alpn_protocols`, httpcore/_sync/connection.py), and OpenSSL
    forbids changing a context that other threads are making connections from (a garbled ClientHello, or a crash).
    An unverified context costs microseconds (every `check_site` health request); a verifying one loads its trust
    store, once per drill or canary writer. Such a client must stay in one thread."""
    verify = trust.own_verifying() if trust is not None else _new_unverified()
    return httpx.Client(trust_env=False, verify=verify, limits=httpx.Limits(max_keepalive_connections=0))


def get_as_client(
    http: httpx.Client, address: str, port: int, hostname: str, path: str, timeout: float
) -> httpx.Response:
    """GET `path` from `address` as a client of `hostname` would: SNI and Host are the hostname, not the address."""
    return http.get(
        url_for(address, port, path),
        headers={"Host": hostname},
        extensions={"sni_hostname": hostname},
        timeout=timeout,
        follow_redirects=False,
    )


def describe_error(exc: Exception) -> str:
    """One short line for a failed request, keeping the TLS verdict a client would have shown."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}" if str(exc) else "cannot connect"
    return f"{type(exc).__name__}: {exc}".strip(": ")


def _handshake(address: str, port: int, hostname: str, context: ssl.SSLContext, timeout: float) -> bytes:
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        return tls.getpeercert(binary_form=True) or b""


def check_site(
    role: str,
    address: str,
    port: int,
    hostname: str,
    health_path: str,
    trust: Trust,
    timeout: float = 5.0,
    check_timeout: float | None = None,
    acme: AcmeRenewal | None = None,
) -> SiteReadiness:
    """TLS for the hostname (chain, names, days left), then the health path; every problem a line of its own.

    `check_timeout` is how long the DNS switch's own health checker waits: a health path slower than that is
    down for the switch, however well it answers a patient client. `acme`: the certificate is renewed by ACME; one
    with fewer days left than it is renewed at means its renewal stopped, which the problem then says. Raises
    `TrustStoreError` when `trust`'s store cannot be loaded: that is no problem of the site's."""
    result = SiteReadiness(role, address, port, hostname, health_path, acme=acme)
    where = f"{role} {address}"
    now = dt.datetime.now(dt.UTC)
    refused: ssl.SSLError | None = None
    verifying = trust.verifying()  # outside the try: a trust store that cannot be loaded is no fault of the site's
    try:  # as a client would, verifying: one handshake when the site is good (the watch's usual case)
        der = _handshake(address, port, hostname, verifying, timeout)
    except ssl.SSLError as exc:  # refused: asked again without verifying, to say what the site presents
        refused = exc
        try:
            der = _handshake(address, port, hostname, _unverified(), timeout)
        except OSError as again:  # ssl.SSLError is an OSError
            return _no_tls(result, where, again)
    except OSError as exc:  # no TLS at all (refused, timed out): asking again would only wait as long again
        return _no_tls(result, where, exc)
    cert = result.certificate = CertInfo.from_der(der, now)
    result.trusted = refused is None
    if isinstance(refused, ssl.SSLCertVerificationError):
        if not cert.covers(hostname):
            result.problems.append(
                f"{where}: certificate is for {', '.join(cert.names) or cert.subject}, not {hostname}"
            )
        elif cert.days_left < 0:
            result.problems.append(
                f"{where}: certificate for {hostname} expired {_days(-cert.days_left)} ago ({cert.not_after[:10]})"
            )
        else:
            result.problems.append(f"{where}: certificate for {hostname} is not trusted: {refused.verify_message}")
    elif refused is not None:
        result.problems.append(f"{where}: TLS handshake for {hostname} failed: {refused}")
    if result.trusted and cert.days_left < trust.min_cert_days:
        stopped = ""
        if acme is not None and cert.days_left < acme.renew_days:
            stopped = (f"; its ACME renewal has stopped (it renews with {_days(acme.renew_days)} left, from "
                       f"{acme.directory})")  # fmt: skip
        result.problems.append(
            f"{where}: certificate for {hostname} expires in {_days(cert.days_left)} ({cert.not_after[:10]}), "
            f"sooner than the {_days(trust.min_cert_days)} asked for (--min-cert-days){stopped}"
        )
    start = time.monotonic()
    try:
        with client(None) as http:
            response = get_as_client(http, address, port, hostname, health_path, timeout)
    except httpx.HTTPError as exc:
        result.problems.append(f"{where}: health {health_path} for {hostname}: {describe_error(exc)}")
        return result
    result.latency_ms = round((time.monotonic() - start) * 1000, 1)
    result.status, result.site = response.status_code, response.headers.get(SITE_HEADER)
    seconds = result.latency_ms / 1000
    if check_timeout is not None and seconds > check_timeout:
        result.problems.append(
            f"{where}: health {health_path} for {hostname} answered after {seconds:.1f} s, later than the "
            f"{check_timeout:g} s the DNS health check waits"
        )
    if not 200 <= response.status_code < 300:
        unbound = " (the platform's own answer: no app is bound to the hostname there)" if result.site is None else ""
        result.problems.append(
            f"{where}: health {health_path} for {hostname} answered HTTP {response.status_code}{unbound}"
        )
    return result


def _no_tls(result: SiteReadiness, where: str, exc: OSError) -> SiteReadiness:
    reason = "timed out" if isinstance(exc, TimeoutError | socket.timeout) else str(exc)
    result.problems.append(f"{where}: no TLS answer on port {result.port} for {result.hostname}: {reason}")
    return result


def _days(value: float) -> str:
    return f"{value:g} day" + ("" if value == 1 else "s")
