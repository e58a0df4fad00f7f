"""`bascule verify --stack` knows how an ACME-certified site renews: the `FailoverService` registers each such site's
ACME directory and renewal threshold, the stack control reads them from the state into the target, and readiness
then says a served certificate below that threshold means the renewal stopped."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bascule.components.program import main as program
from bascule.drills.stack_control import PulumiStackControl, StackBackend
from bascule.offline.engine import run_offline
from bascule.readiness.site import Trust
from bascule.readiness.target import AcmeRenewal, DrillTarget, Resolver
from bascule.readiness.verify import check_sites
from bascule.spec import SERVICE_TYPE, SERVICES_KEY
from bascule.spec.acme import LETS_ENCRYPT_DIRECTORY
from tests.site_kinds import stack_service

RENEW_DAYS = 21
"""The Hetzner secondary's `renew_days_before` in these tests: not the default 30, so the value is seen to travel."""


class StateOnly:
    """A deployed stack that only shows its state (`pulumi stack export`): the resources the real program registers
    when run offline, as the export lists them. Reading a target needs nothing else; anything more fails loudly."""

    def __init__(self, resources: list[dict[str, Any]]):
        self.state = resources

    def resources(self) -> list[dict[str, Any]]:
        return self.state

    def outputs(self) -> dict[str, tuple[Any, bool]]:
        return {}

    def config(self) -> dict[str, tuple[str, bool]]:
        return {}

    def pending_operations(self) -> list[str]:
        return []

    def state_urns(self) -> set[str]:
        return {str(r["urn"]) for r in self.state}

    def drill_config(self) -> str | None:
        return None

    def clear_pending(self) -> list[str]:
        raise AssertionError("reading a target changes nothing")

    def refresh(self, on_output: Any, targets: list[str]) -> None:
        raise AssertionError("reading a target changes nothing")

    def cancel(self) -> None:
        raise AssertionError("reading a target changes nothing")

    def set_drill(self, value: str) -> None:
        raise AssertionError("reading a target changes nothing")

    def clear_drill(self, keep_tag: bool = False) -> None:
        raise AssertionError("reading a target changes nothing")

    def up(self, on_output: Any, targets: list[str]) -> None:
        raise AssertionError("reading a target changes nothing")


def hetzner_state() -> list[dict[str, Any]]:
    """The Hetzner stack's state (AWS primary, Hetzner secondary certified by ACME), renewing at `RENEW_DAYS`."""
    service = stack_service("hetzner")
    service["secondary"]["renew_days_before"] = RENEW_DAYS
    run = run_offline(program, {SERVICES_KEY: [service]}, project="bascule", stack="hetzner")
    return [{"urn": r.urn, "type": r.type, "outputs": r.outputs} for r in run.resources]


def target_of(resources: list[dict[str, Any]]) -> DrillTarget:
    backend: StackBackend = StateOnly(resources)
    resolver = Resolver("test", "192.0.2.53")  # given, so no name server of the zone is looked up
    control = PulumiStackControl(backend, "hetzner", Path("."), "ledger", lambda _line: None, resolvers=(resolver,),
                                 with_authoritative=False, targets_for=lambda _service, _fault: [])  # fmt: skip
    return control.target()


def test_the_stack_target_knows_how_the_acme_secondary_renews() -> None:
    target = target_of(hetzner_state())
    # The AWS primary's certificate is ACM's, renewed by AWS: nothing of ACME to say about it.
    assert target.acme == {"secondary": AcmeRenewal(LETS_ENCRYPT_DIRECTORY, RENEW_DAYS)}


def test_a_state_from_before_the_acme_output_reads_as_nothing_known() -> None:
    state = hetzner_state()
    for resource in state:
        if resource["type"] == SERVICE_TYPE:
            del resource["outputs"]["acme"]
    target = target_of(state)
    assert target.acme == {}
    assert target.certificate_authorities["secondary"] == ("letsencrypt.org",)  # the rest is read as before


@pytest.fixture
def short_lived_site(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A site on loopback serving the hostname with a certificate 10 days from expiry (its port and the CA to
    trust): what a standby holds once its ACME renewal stopped weeks ago."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledger")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=80)).not_valid_after(now + dt.timedelta(days=10, hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ledger.bank.example.eu")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "site.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("X-Bascule-Site", "secondary")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "site.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], tmp_path / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_verify_of_a_stack_names_the_stopped_acme_renewal(short_lived_site: tuple[int, Path]) -> None:
    port, ca = short_lived_site
    deployed = target_of(hetzner_state())
    # The secondary as deployed, reached on loopback: the load balancer's address and port 443 are the cloud's.
    target = replace(deployed, addresses={"secondary": "127.0.0.1"}, port=port)
    (site,) = check_sites(target, Trust(str(ca), min_cert_days=14), timeout=5)
    assert site.trusted and site.status == 200
    (problem,) = site.problems
    assert problem.startswith("secondary 127.0.0.1: certificate for ledger.bank.example.eu expires in 10 days")
    assert problem.endswith(
        f"sooner than the 14 days asked for (--min-cert-days); its ACME renewal has stopped (it renews with "
        f"{RENEW_DAYS} days left, from {LETS_ENCRYPT_DIRECTORY})"
    )
