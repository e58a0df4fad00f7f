"""The secondary's certificate as a real standby gets it: ACME with a DNS-01 challenge in the sandbox's own zone.

A standby must hold a valid certificate for the service hostname while that hostname still answers the primary, so
its certificate cannot come from an HTTP-01 or TLS-ALPN-01 challenge: the CA would reach whatever the hostname
points at. With `bascule sandbox up --acme` the secondary's certificate comes from a local ACME server, Debian's
`pebble` (Let's Encrypt's test CA), through DNS-01: `lego` (the ACME client inside pulumiverse-acme, which the
Hetzner site kind uses) writes `_acme-challenge.<hostname>` TXT into the sandbox's PowerDNS through its HTTP API (its
`pdns` DNS provider), pebble's validation authority asks the sandbox's DNS for that record, and the certificate is
uploaded to the secondary site (its certificate file, replaced whole), which serves it from its next handshake.
Renewal is `lego renew --days N`: what the scheduled job runs (`bascule sandbox renew`).

Pebble keeps nothing between runs ("By design Pebble will drop all of its state between invocations and will
randomize keys/certificates used for issuance", its README), lego's account with it included, so the sandbox's
pebble runs as long as the sandbox does; the trust bundle holds the sandbox CA and the root of every pebble the
sandbox ran.

No import of the rest of the sandbox: `sandbox.py` runs these steps and owns the processes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import ssl
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from bascule.readiness.site import DEFAULT_MIN_CERT_DAYS
from bascule.sandbox.modes import HEALTHY

LIFETIME_DAYS = 47
"""How long pebble's certificates last here: the 47 days every public certificate will have from 2029 (CA/Browser
Forum ballot SC-081), so renewal comes round as it will in production."""
RENEW_DAYS = 30
"""`bascule sandbox renew` renews when no more than this many whole days remain (lego's `renew --days`), the
Hetzner site kind's default `renew_days_before`."""
STOPPED_DAYS_LEFT = DEFAULT_MIN_CERT_DAYS // 2
"""Days left on the certificate `renewal-stopped` leaves: what a certificate that was not renewed for weeks has,
fewer than `verify` asks for by default."""
ADDRESS = "127.0.0.1"
"""Pebble and PowerDNS's API listen here, like the sandbox's DNS."""
RENEWAL_STOPPED = "renewal-stopped"
ACME_MODES = (HEALTHY, RENEWAL_STOPPED)
"""`bascule sandbox acme MODE`: renewal works, or it stopped weeks ago (the renewal job's DNS API key refused)."""
REVOKED_KEY = "revoked"
"""The DNS API key the renewal job holds in `renewal-stopped`: PowerDNS refuses it, as a revoked or expired token."""
INSTALL_HINT = "install them with: sudo apt-get install pebble lego pdns-backend-sqlite3"
SQLITE_SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
"""The gsqlite3 backend's schema (Debian's pdns-backend-sqlite3): the zone must live in a backend the HTTP API can
write, and the bind backend's is read-only ("the HTTP API is unable to process changes for this backend",
PowerDNS docs, backends/bind)."""
CHALLENGE_TTL = 1
"""TTL of the challenge record (lego's `PDNS_TTL`, 120 s by default): a renewal's new value must not wait behind
the recursor's copy of the last one."""
LEGO_TIMEOUT = 120.0


class AcmeError(Exception):
    """Pebble or lego is missing, or an issuance or renewal failed; the message says which and why."""


@dataclass
class AcmeState:
    """Where the ACME pieces of one sandbox listen, kept in its state file."""

    api_port: int
    """PowerDNS's HTTP API, through which lego writes the challenge record."""
    api_key: str
    directory_port: int
    """Pebble's ACME endpoint (`/dir`)."""
    management_port: int
    """Pebble's management endpoint, which hands out its root (`/roots/0`)."""
    mode: str = HEALTHY
    answered: str = ""
    """What the hostname answered (addresses, comma-separated) while the served certificate was issued."""

    @classmethod
    def new(cls, api_port: int, directory_port: int, management_port: int) -> AcmeState:
        return cls(api_port, secrets.token_urlsafe(24), directory_port, management_port)

    @property
    def job_key(self) -> str:
        """The DNS API key the renewal job holds: the server's, or one it refuses once renewal stopped."""
        return self.api_key if self.mode == HEALTHY else REVOKED_KEY


@dataclass(frozen=True)
class AcmeServer:
    """One pebble: where it listens, its folder, and the lego folder its certificates are obtained into."""

    name: str
    """Its process's name in the sandbox state."""
    directory_port: int
    management_port: int
    folder: Path
    lego: Path
    """lego's own folder (`--path`): its accounts (one per server) and the certificates it obtained, the renewal
    job's store."""

    @property
    def directory_url(self) -> str:
        return f"https://{ADDRESS}:{self.directory_port}/dir"

    @property
    def config(self) -> Path:
        return self.folder / "pebble.json"

    def obtained(self, hostname: str) -> Path:
        """lego's certificate file for `hostname` (the certificate, then its issuer)."""
        return self.lego / "certificates" / f"{hostname}.crt"


@dataclass(frozen=True)
class AcmeFiles:
    """The ACME folder of one sandbox: the main pebble's files, and what the secondary and the clients use."""

    directory: Path

    @property
    def lego(self) -> Path:
        """The renewal job's lego folder, shared by every pebble the sandbox runs."""
        return self.directory / "lego"

    @property
    def served(self) -> Path:
        """The certificate and key the secondary site serves: lego's, uploaded as to a load balancer."""
        return self.directory / "served.pem"

    @property
    def trust(self) -> Path:
        """What the sandbox's clients trust: the sandbox CA and every root pebble had."""
        return self.directory / "trust.pem"

    @property
    def log(self) -> Path:
        return self.directory / "lego.log"


@dataclass(frozen=True)
class Certificate:
    """The first certificate of a PEM file, as `status` and `renew` show it."""

    serial: str
    issuer: str
    not_after: str
    days_left: float

    @classmethod
    def read(cls, path: Path) -> Certificate:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        expires = cert.not_valid_after_utc
        left = round((expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400, 1)
        return cls(format(cert.serial_number, "x"), cert.issuer.rfc4514_string(), expires.isoformat(), left)


@dataclass(frozen=True)
class Issued:
    """What one run of the ACME client did, and the certificate the secondary serves after it."""

    renewed: bool
    """A new certificate was issued and uploaded (False: renewal not due, nothing changed)."""
    certificate: Certificate
    answers: tuple[str, ...] = ()
    """What the hostname answered, through the DNS the ACME server asks, while the new certificate was issued."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def find_tools() -> tuple[str, str]:
    """The pebble and lego executables; `AcmeError` naming the packages when one is missing."""
    found = {name: shutil.which(name) for name in ("pebble", "lego")}
    missing = [name for name, path in found.items() if path is None]
    missing += [] if SQLITE_SCHEMA.is_file() else ["pdns-backend-sqlite3"]
    pebble, lego = found["pebble"], found["lego"]
    if missing or pebble is None or lego is None:
        raise AcmeError(f"--acme needs {', '.join(missing)}; {INSTALL_HINT}")
    return pebble, lego


def write_pebble_config(
    server: AcmeServer, listener: Path, validity_days: int, http_port: int, https_port: int
) -> None:
    """Pebble's configuration: loopback only, its HTTPS certificate from the sandbox CA (`listener`, certificate and
    key in one file), certificates valid `validity_days` (`certificateValidityPeriod`, in seconds, in pebble 2.4).

    HTTP-01 and TLS-ALPN-01 would be validated at the sites' own ports, where the hostname answers the primary: lego
    is given no solver for them, only DNS-01."""
    server.folder.mkdir(parents=True, exist_ok=True)
    config = {
        "pebble": {
            "listenAddress": f"{ADDRESS}:{server.directory_port}",
            "managementListenAddress": f"{ADDRESS}:{server.management_port}",
            "certificate": str(listener),
            "privateKey": str(listener),
            "httpPort": http_port,
            "tlsPort": https_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "certificateValidityPeriod": validity_days * 86400,
        }
    }
    server.config.write_text(json.dumps(config, indent=2), encoding="utf-8")


def pebble_command(binary: str, server: AcmeServer, dns_port: int) -> tuple[list[str], dict[str, str]]:
    """How to start pebble: its validation authority asks the sandbox's DNS at `dns_port` (`-dnsserver`: the
    recursor when there is one, as a CA resolves) and really validates.

    Its README's knobs: `PEBBLE_VA_NOSLEEP` (no random 0-15 s sleep before each validation), `PEBBLE_AUTHZREUSE=0`
    (every order proves control again, so a renewal really answers a DNS-01 challenge) and
    `PEBBLE_WFE_NONCEREJECT=0` (no nonce rejected on purpose; lego retries them, but a drill need not wait on it).
    `PEBBLE_VA_ALWAYS_VALID` would accept every challenge unchecked: no `PEBBLE_` variable of the caller's passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    env |= {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": "0"}
    return [binary, "-config", str(server.config), "-dnsserver", f"{ADDRESS}:{dns_port}"], env


def fetch_root(server: AcmeServer, sandbox_ca: Path, timeout: float = 2.0) -> str | None:
    """Pebble's root (PEM) from its management endpoint, verified against the sandbox CA; None while it does not
    answer. Pebble makes a new one at every start."""
    context = ssl.create_default_context(cafile=str(sandbox_ca))
    try:
        response = httpx.get(f"https://{ADDRESS}:{server.management_port}/roots/0", verify=context, timeout=timeout,
                             trust_env=False)  # fmt: skip
    except httpx.HTTPError:
        return None
    if response.status_code != 200 or "BEGIN CERTIFICATE" not in response.text:
        return None
    return response.text.strip() + "\n"


def trust_root(files: AcmeFiles, sandbox_ca: Path, root: str) -> None:
    """Add `root` to the trust bundle (created with the sandbox CA), keeping the roots already there."""
    bundle = files.trust.read_text(encoding="utf-8") if files.trust.is_file() else sandbox_ca.read_text("utf-8")
    if root not in bundle:
        bundle = bundle.rstrip("\n") + "\n" + root
    tmp = files.trust.with_suffix(".tmp")
    tmp.write_text(bundle, encoding="utf-8")
    tmp.replace(files.trust)


@dataclass(frozen=True)
class LegoRun:
    """What one lego run needs beside its command: the server, the zone's API and DNS, the CA of pebble's HTTPS."""

    binary: str
    server: AcmeServer
    api_port: int
    api_key: str
    dns_port: int
    sandbox_ca: Path
    log: Path

    def __call__(self, hostname: str, zone: str, command: list[str]) -> None:
        """`run` (register, then obtain) or `renew --days N`, through lego's `pdns` DNS provider; `AcmeError` with
        lego's last lines.

        `--dns.disable-cp`: lego's full propagation check asks each server in the zone's NS records on port 53
        (`net.JoinHostPort(ns, "53")`, lego challenge/dns01/precheck.go), and the sandbox's DNS listens on another
        port; lego still asks `--dns.resolvers` first, the DNS pebble asks. `--always-deactivate-authorizations`:
        pebble reuses a valid authorization now and then even with `PEBBLE_AUTHZREUSE=0` (it makes a new one only
        when `rand.Intn(100) > authzReusePercent`, pebble wfe/wfe.go `makeAuthorizations`), and an order that
        reuses one answers no challenge; deactivated, none is left to reuse."""
        argv = [
            self.binary, "--server", self.server.directory_url, "--accept-tos", "--email", f"hostmaster@{zone}",
            "--domains", hostname, "--dns", "pdns", "--dns.resolvers", f"{ADDRESS}:{self.dns_port}",
            "--dns.disable-cp", "--key-type", "ec256", "--path", str(self.server.lego), *command,
            "--always-deactivate-authorizations", "true",
        ]  # fmt: skip
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.server.folder),
            "LEGO_CA_CERTIFICATES": str(self.sandbox_ca),  # pebble's own HTTPS certificate is the sandbox CA's
            "PDNS_API_URL": f"http://{ADDRESS}:{self.api_port}",
            "PDNS_API_KEY": self.api_key,
            "PDNS_TTL": str(CHALLENGE_TTL),
            "PDNS_PROPAGATION_TIMEOUT": "30",
            "PDNS_POLLING_INTERVAL": "1",
        }
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=LEGO_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AcmeError(f"lego {command[0]} did not finish within {LEGO_TIMEOUT:g} s") from exc
        output = (proc.stdout + proc.stderr).replace(self.api_key, "***")
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"--- lego {' '.join(command)} with {self.server.directory_url} (exit {proc.returncode})\n")
            log.write(output)
        if proc.returncode != 0:  # its first warning and its last error: a refused API key is a warning, then a 404
            lines = [line.strip() for line in output.strip().splitlines()] or ["no output"]
            said = [line for line in lines if "[WARN]" in line or "error" in line.lower()] or lines[-1:]
            shown = " | ".join(dict.fromkeys([said[0], said[-1]]))
            raise AcmeError(f"lego {command[0]} failed (exit {proc.returncode}): {shown}; see {self.log}")


def upload(server: AcmeServer, files: AcmeFiles, hostname: str) -> None:
    """Give the secondary lego's certificate: the chain and its key in one file, replaced whole (the site reads it
    again at its next handshake)."""
    chain = server.obtained(hostname).read_text(encoding="utf-8")
    key = (server.lego / "certificates" / f"{hostname}.key").read_text(encoding="utf-8")
    tmp = files.served.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)  # the key goes in: never readable by others, even if a crash left the file behind
    tmp.write_text(chain.rstrip("\n") + "\n" + key, encoding="utf-8")
    tmp.replace(files.served)
