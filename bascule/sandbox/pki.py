"""The sandbox's certificate authority, made at `sandbox up` with `cryptography`.

Real platforms present one of three things to a client that asks for the service hostname: the
service's own certificate, an expired one (a standby gets no traffic, so nobody notices), or the
platform's default certificate (the hostname was never bound, or its certificate never issued).
The sandbox keeps all three ready so a site can switch between them while running, and publishes the
CA so probes verify chains the way clients do, against a trust store rather than not at all.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTNAME = "default.sandbox.invalid"
"""The name on the platform's default certificate (`.invalid` is reserved: it can never be a real name)."""
SERVICE_DAYS = 90
"""Validity of the service certificate, as an ACME-issued certificate has."""


@dataclass(frozen=True)
class SandboxPki:
    """Paths of the PEM files one sandbox uses; each leaf file holds the certificate then its key."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def service(self) -> Path:
        return self.directory / "service.pem"

    @property
    def expired(self) -> Path:
        return self.directory / "expired.pem"

    @property
    def default(self) -> Path:
        return self.directory / "default.pem"

    @property
    def acme_server(self) -> Path:
        """The local ACME server's own HTTPS certificate (`sandbox up --acme`): its clients verify it like any."""
        return self.directory / "acme-server.pem"

    def other(self, hostname: str) -> Path:
        """The certificate of another service the sites serve (`Sandbox.start(others=...)`): each has its own, as
        each app on a platform has."""
        return self.directory / "others" / f"{hostname}.pem"

    @classmethod
    def create(
        cls, directory: Path, hostname: str, acme_server: str | None = None, others: Sequence[str] = ()
    ) -> SandboxPki:
        """The CA and its leaves; `acme_server`: also a certificate for the local ACME server at that IP address;
        `others`: also one for each of these hostnames."""
        pki = cls(directory)
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bascule sandbox CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

        def leaf(path: Path, name: str, not_before: dt.datetime, not_after: dt.datetime, ip: bool = False) -> None:
            san = x509.IPAddress(ipaddress.ip_address(name)) if ip else x509.DNSName(name)
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName([san]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256())
            )
            key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key_pem)
            path.chmod(0o600)

        leaf(pki.service, hostname, now - dt.timedelta(days=1), now + dt.timedelta(days=SERVICE_DAYS))
        leaf(pki.expired, hostname, now - dt.timedelta(days=SERVICE_DAYS + 1), now - dt.timedelta(days=1))
        leaf(pki.default, DEFAULT_HOSTNAME, now - dt.timedelta(days=1), now + dt.timedelta(days=3650))
        if others:
            (directory / "others").mkdir(exist_ok=True)
        for other in others:
            leaf(pki.other(other), other, now - dt.timedelta(days=1), now + dt.timedelta(days=SERVICE_DAYS))
        if acme_server is not None:
            leaf(pki.acme_server, acme_server, now - dt.timedelta(days=1), now + dt.timedelta(days=3650), ip=True)
        return pki
