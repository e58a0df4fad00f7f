"""The local sandbox: a real PowerDNS authoritative server failing over by health check between two sites.

Primary and secondary are HTTPS sites on 127.0.0.2 and 127.0.0.3 playing the two clouds, with certificates
from a CA made at start (pki.py) and routing on SNI and Host like the real platforms; the zone holds a LUA
`ifurlup()` record that answers the primary while its health URL answers 200 for the service hostname, else
the secondary. All processes run detached so `bascule sandbox up` can return, and their pids live in
`state.json` so that `down`, `status` and a later drill (or `drill recover`) find them. Nothing listens
outside 127.0.0.0/8.

With `--acme` the secondary's certificate comes from a local ACME server through DNS-01 instead (`acme.py`): the zone
then lives in PowerDNS's gsqlite3 backend behind its HTTP API, which the ACME client writes the challenge into, and
the `switch` fault goes through that API too.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import psycopg

from bascule.components.powerdns.api import PowerDnsApi, PowerDnsApiError, lua_failover_content
from bascule.data import (
    DataError,
    DataPair,
    DataRefused,
    Endpoint,
    Login,
    OperationResult,
    Recorder,
    failback,
    promote,
    resync,
)
from bascule.data import status as data_status
from bascule.data.operations import OnStep
from bascule.io.documents import InputError, at, mapping, read_json
from bascule.io.escaping import quoted
from bascule.io.files import write_atomic
from bascule.io.processes import group_running, identity, is_same
from bascule.sandbox import acme
from bascule.sandbox import database as db
from bascule.sandbox.acme import AcmeError, AcmeFiles, AcmeServer, AcmeState, Certificate, Issued, LegoRun
from bascule.sandbox.modes import DOWN, HEALTHY, MODES
from bascule.sandbox.pki import SandboxPki
from bascule.spec import ServiceSpec
from bascule.spec.base import is_hostname
from bascule.spec.models import MAX_RTO_SECONDS

if TYPE_CHECKING:  # the `backup` extra's modules load only in a sandbox with backups
    from bascule.backup.state import BackupPlan
    from bascule.backup.store import Store

PRIMARY, SECONDARY = "primary", "secondary"
DATA_HEALTHY, DATA_SUBSCRIPTION_DISABLED, DATA_SLOT_UNRESERVED, DATA_SLOT_LOST, DATA_LAGGING = (
    "healthy", "subscription-disabled", "slot-unreserved", "slot-lost", "lagging")  # fmt: skip
DATA_MODES = (DATA_HEALTHY, DATA_SUBSCRIPTION_DISABLED, DATA_SLOT_UNRESERVED, DATA_SLOT_LOST, DATA_LAGGING)
"""`bascule sandbox data MODE`: replication broken for real in one way each, and `healthy` to mend it."""
SMALL_KEEP = "1MB"
"""max_slot_wal_keep_size while a slot is being lost on purpose: less than one WAL segment (16 MB)."""
CONFLICT_SITE = "lag-conflict"
"""The `site` of the row `lagging` plants on the standby (and `healthy` removes)."""
ADDRESSES = {PRIMARY: "127.0.0.2", SECONDARY: "127.0.0.3"}
DNS_ADDRESS = "127.0.0.1"
INSTALL_HINT = "install it with: sudo apt-get install pdns-server pdns-backend-bind"
_LUA_DAMPING_VERSION = (5, 0)
"""`ifurlup` honours `interval` and `minimumFailures` from PowerDNS 5.0; older servers switch on the first failure."""


class SandboxError(Exception):
    """The sandbox cannot start or be reached; the message says what to do."""


class SandboxRefused(SandboxError):
    """The sandbox is there but in no state to use as asked (partly down, other settings): refused, exit 3."""


class SandboxStateError(SandboxError, InputError):
    """`state.json` is not what a sandbox wrote (truncated, edited, from another version): bad input, exit 2."""


@dataclass(frozen=True)
class SandboxService:
    """Failover settings of the one service the sandbox serves.

    The embedded default is fast (1 s checks, TTL 1 s) so a whole drill takes seconds; `from_spec`
    keeps a stack's real path, interval, failures, TTL and RTO to rehearse with production timing.
    """

    name: str = "checkout"
    zone: str = "sandbox.test"
    health_path: str = "/healthz"
    interval_seconds: int = 1
    failure_threshold: int = 2
    ttl: int = 1
    check_timeout_seconds: int = 1
    rto_seconds: int = 15
    rpo_seconds: int = 5
    """Data drills (`--data`): the acknowledged writes a failover may lose, in seconds of writes."""

    def __post_init__(self) -> None:
        """A state file read back (`Sandbox.load`) may have been damaged or edited: a name that is no hostname, a
        path or a number a server would choke on is a ValueError here (exit 2 naming the file), not a crash later."""
        if not is_hostname(self.hostname):
            raise ValueError(f"service: {quoted(self.hostname)} is not a hostname (name {quoted(self.name)}, zone "
                             f"{quoted(self.zone)})")  # fmt: skip
        if not isinstance(self.health_path, str) or not self.health_path.startswith("/") or \
                not self.health_path.isprintable() or " " in self.health_path:  # fmt: skip
            raise ValueError(f"service.health_path: {quoted(str(self.health_path))} is not an absolute URL path")
        for name in ("interval_seconds", "failure_threshold", "ttl", "check_timeout_seconds", "rto_seconds",
                     "rpo_seconds"):  # fmt: skip
            value, least = getattr(self, name), 0 if name in ("ttl", "rpo_seconds") else 1
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_RTO_SECONDS:
                raise ValueError(f"service.{name}: {quoted(str(value))} is not a whole number of {least} to "
                                 f"{MAX_RTO_SECONDS}")  # fmt: skip

    @property
    def hostname(self) -> str:
        return f"{self.name}.{self.zone}"

    @classmethod
    def from_spec(cls, svc: ServiceSpec) -> SandboxService:
        hc = svc.health_check
        return cls(
            name=svc.name,
            health_path=hc.path,
            interval_seconds=hc.interval_seconds,
            failure_threshold=hc.failure_threshold,
            ttl=svc.dns.ttl,
            rto_seconds=svc.rto_seconds,
            rpo_seconds=svc.rpo_seconds,
        )


@dataclass
class DataState:
    """The data standby (`sandbox up --data`): one cluster beside each site, the app role's password and the
    replication login's. Whether the standby is promoted is the databases' to say (`bascule.data.status`), not this
    file's."""

    clusters: dict[str, db.Cluster]
    app_password: str = ""
    replication_password: str = ""

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DataState:
        clusters = {role: db.Cluster(**c) for role, c in raw["clusters"].items()}
        return cls(clusters, str(raw.get("app_password") or ""), str(raw.get("replication_password") or ""))


STORE_ADDRESS = "127.0.0.1"
STORE_REGION = "eu-west-1"
STORE_BUCKET = "bascule-backups"
STORE_ACCESS_KEY = "bascule-sandbox"
"""moto accepts any credentials; boto3 still signs every request with these."""
BACKUP_EVERY_HOURS = 24
BACKUP_RETENTION_DAYS = 7


@dataclass
class BackupState:
    """The backup store (`sandbox up --data --backups`): moto's S3 server on loopback (`python -m moto.server`, in
    memory, gone with the sandbox), one bucket with object lock, and the age key pair the backups are encrypted to.
    moto enforces a COMPLIANCE lock against deleting a locked version (tests/test_backup_sandbox.py shows it); it
    does not refuse loosening a retention as a real store does (docs/backup.md)."""

    port: int
    identity: str
    """The age secret key: in a stack it stays with the team; here the sandbox holds both halves."""
    recipient: str
    secret_key: str
    every_hours: int = BACKUP_EVERY_HOURS
    """The schedule `verify --local --data` holds the newest backup to."""
    retention_days: int = BACKUP_RETENTION_DAYS

    @property
    def endpoint(self) -> str:
        return f"http://{STORE_ADDRESS}:{self.port}"


def _read_state(path: Path) -> dict[str, Any]:
    """state.json as written, every value of the type its writer gave it, or `SandboxStateError` naming the place.

    The one reader of the file (`load` and `refresh` both use it): a hand-edited or damaged state whose `pids` is
    `null` or whose port is text was an internal error wherever it was first used."""
    try:
        raw = dict(mapping(path, (), read_json(path, "sandbox state file")))
        _check_fields(path, (), SandboxState, raw)
        _check_fields(path, ("service",), SandboxService, dict(mapping(path, ("service",), raw.get("service", {}))))
        for name, kind in (("pids", int), ("tokens", str)):
            for key, value in mapping(path, (name,), raw.get(name, {})).items():
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise at(path, (name, key), f"expected {'a pid' if kind is int else 'a text'}, got {value!r:.40}")
        if "directory" in raw and raw["directory"] != str(path.parent):  # all it writes is under its own folder
            raise at(path, ("directory",), f"names {str(raw.get('directory'))!r:.60}, not the folder it is in")
        if raw.get("data") is not None:
            clusters = mapping(path, ("data", "clusters"), mapping(path, ("data",), raw["data"]).get("clusters"))
            for role, cluster in clusters.items():
                _check_fields(path, ("data", "clusters", role), db.Cluster, dict(mapping(path, (role,), cluster)))
            _check_fields(path, ("data",), DataState, dict(mapping(path, ("data",), raw["data"])))
        if raw.get("acme") is not None:
            _check_fields(path, ("acme",), AcmeState, dict(mapping(path, ("acme",), raw["acme"])))
        if raw.get("backup") is not None:
            _check_fields(path, ("backup",), BackupState, dict(mapping(path, ("backup",), raw["backup"])))
        others = raw.get("others", [])
        if not isinstance(others, list) or not all(isinstance(n, str) and _OTHER.fullmatch(n) for n in others):
            raise at(path, ("others",), f"expected a list of hostnames, got {others!r:.40}")
    except InputError as exc:
        raise _unusable(path, str(exc).removeprefix(f"{path}").lstrip(": ")) from None
    return raw


_OTHER = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")
"""A hostname of `SandboxState.others`: lowercase letters, digits and hyphens (it goes into a zone and a LUA record)."""
_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,), "int | None": (int, type(None))}
"""A dataclass field's annotation (text, under `from __future__ import annotations`) -> the JSON values it takes."""


def _check_fields(path: Path, parts: tuple[str, ...], cls: Any, raw: dict[str, Any]) -> None:
    """Each field of dataclass `cls` present in `raw` has the type its annotation says (a bool is no number)."""
    for item in fields(cls):
        if item.name in raw and item.type in _TYPES:
            value = raw[item.name]
            if not isinstance(value, _TYPES[item.type]) or (isinstance(value, bool) and item.type != "bool"):
                raise at(path, (*parts, item.name), f"expected {item.type}, got {value!r:.40}")
            if item.name.endswith("port") and isinstance(value, int) and not 0 < value < 65536:
                raise at(path, (*parts, item.name), f"expected a port (1-65535), got {value!r:.40}")


def _unusable(path: Path, reason: str) -> SandboxStateError:
    """One line that says what is wrong and what to do: the processes it recorded cannot be found from it."""
    return SandboxStateError(
        f"{path}: not a sandbox state Bascule can read ({reason}); stop any pdns_server, pdns_recursor, "
        f"postgres, pebble, moto.server or `bascule.sandbox.site` processes it started by hand, then remove "
        f"{path.parent}"
    )


STORE = "objectstore"
"""The pid name of the backup store's server."""


def _need_moto() -> None:
    """moto's server (the sandbox's object store) is installed; else name the extra that brings it."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise SandboxError("the sandbox's object store is moto's S3 server, not installed: pip install "
                           "'bascule[backup-sandbox]'")  # fmt: skip


def _db(role: str) -> str:
    """The pid name of the database beside site `role`."""
    return f"db-{role}"


@dataclass
class SandboxState:
    directory: str
    dns_port: int
    http_port: int
    """Plain HTTP: only redirects to HTTPS, as the platforms' front ends do."""
    https_port: int
    pdns_version: str
    service: SandboxService
    pids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    """Each pid's `identity` taken as it started: a pid whose process no longer has it is not the sandbox's (it
    exited, and the number went to another process, or the machine rebooted), so it is never signalled."""
    switched: bool = False
    resolver_port: int | None = None
    """A caching recursive resolver in front of the authoritative server, when `pdns_recursor` is installed:
    what it answers lags by up to the TTL, as real clients' resolvers do."""
    data: DataState | None = None
    acme: AcmeState | None = None
    """`sandbox up --acme`: the secondary's certificate comes from a local ACME server by DNS-01."""
    backup: BackupState | None = None
    """`sandbox up --data --backups`: an S3 object store the standby is backed up to."""
    others: list[str] = field(default_factory=list)
    """Other services' hostnames in the zone, served by both sites (`Sandbox.start(others=...)`): many services on
    one sandbox, for benchmarks. Each has its own failover record and certificate; faults are the service's only."""

    @property
    def hostnames(self) -> list[str]:
        """Every hostname the zone answers with a failover record: the service's, then the others'."""
        return [self.service.hostname, *self.others]

    @property
    def effective_failures(self) -> int:
        """Consecutive failures this PowerDNS really waits for (1 where it ignores `minimumFailures`)."""
        version = tuple(int(x) for x in re.findall(r"\d+", self.pdns_version)[:2])
        return self.service.failure_threshold if version >= _LUA_DAMPING_VERSION else 1

    @property
    def failover_bound_seconds(self) -> float:
        """Theoretical time for DNS to move: detection (interval x failures) plus the answer's TTL."""
        return float(self.service.interval_seconds * self.effective_failures + self.service.ttl)

    def site_url(self, role: str, path: str = "/") -> str:
        return f"https://{ADDRESSES[role]}:{self.https_port}{path}"

    @property
    def pki(self) -> SandboxPki:
        return SandboxPki(Path(self.directory) / "pki")

    @property
    def acme_files(self) -> AcmeFiles:
        return AcmeFiles(Path(self.directory) / "acme")

    @property
    def trust_bundle(self) -> Path:
        """The CAs the sandbox's clients trust: its own CA, and with --acme the ACME server's roots too."""
        return self.acme_files.trust if self.acme is not None else self.pki.ca

    @property
    def validation_dns_port(self) -> int:
        """The DNS the ACME server and client ask: the recursor when there is one, as a CA's resolver, else the
        authoritative server."""
        return self.resolver_port or self.dns_port


def checkout_root(start: Path | None = None) -> Path:
    """The project folder the command runs in: the nearest folder up from `start` (the working folder) holding
    `.git` or `Pulumi.yaml`, else `start` itself."""
    here = (start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / ".git").exists() or (p / "Pulumi.yaml").is_file()), here)


def default_state_dir(start: Path | None = None) -> Path:
    """The sandbox folder when none is named: one per checkout, so two clones never drill each other's sandbox.

    One folder per user (`~/.cache/bascule/sandbox`) let a clone silently drill a sandbox another clone had
    started, with that clone's settings. The folder is named after the checkout (`sandbox-<folder>-<hash>`), so
    `bascule sandbox up` in a repository's root and `bascule drill --local` in a subfolder find the same one.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = checkout_root(start)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", root.name)[:40] or "root"
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:10]
    return Path(base) / "bascule" / f"sandbox-{name}-{digest}"


def find_pdns() -> str:
    for candidate in (shutil.which("pdns_server"), "/usr/sbin/pdns_server"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SandboxError(f"pdns_server (PowerDNS Authoritative) is not installed; {INSTALL_HINT}")


def _pdns_version(binary: str) -> str:
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    match = re.search(r"PowerDNS Authoritative Server (\S+)", proc.stdout + proc.stderr)
    return match.group(1) if match else "unknown"


STOP_GRACE_SECONDS = 10.0
"""How long a sandbox process and its children get to exit after SIGTERM (SIGINT, PostgreSQL's fast shutdown, for
a database: it writes a checkpoint first, which a loaded disk slows) before they get SIGKILL."""
KILL_GRACE_SECONDS = 5.0
"""How long SIGKILL may take to end them (a process waiting on the disk dies when its I/O returns)."""


def _group_gone(pid: int, token: str | None, timeout: float) -> bool:
    """Wait up to `timeout` until the process `pid` (still the one `token` names) and every process of its group
    have exited; True once they have."""
    deadline = time.monotonic() + timeout
    while is_same(pid, token) or group_running(pid):  # is_same reaps the leader when it is our child
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _free_port(addresses: list[str], kind: int = socket.SOCK_STREAM) -> int:
    """A port free on every address at once (both sites, or DNS over UDP and TCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind((addresses[0], 0))
            port = int(first.getsockname()[1])
            try:
                for address in addresses[1:]:
                    with socket.socket(socket.AF_INET, kind) as other:
                        other.bind((address, port))
                if kind == socket.SOCK_DGRAM:
                    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                        tcp.bind((addresses[0], port))
            except OSError:
                continue
            return port
    raise SandboxError(f"no free port shared by {', '.join(addresses)}")


def _listening(port: int, address: str = DNS_ADDRESS) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _acme_tools() -> tuple[str, str]:
    """pebble and lego; `SandboxError` naming the Debian packages when one is missing."""
    try:
        return acme.find_tools()
    except AcmeError as exc:
        raise SandboxError(str(exc)) from None


class Sandbox:
    def __init__(self, state: SandboxState):
        self.state = state
        self.dir = Path(state.directory)

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        directory: Path,
        service: SandboxService | None = None,
        data: bool = False,
        acme: bool = False,
        backups: bool = False,
        others: Sequence[str] = (),
    ) -> Sandbox:
        """Start every process and wait for steady state; `acme`: the secondary's certificate from a local ACME
        server by DNS-01, issued once DNS answers the primary; `backups` (with `data`): an object store to back the
        standby up to; `others`: hostnames of other services (in the zone) the sites serve too (benchmarks)."""
        service = service or SandboxService()
        wrong = [name for name in others if not _OTHER.fullmatch(name) or not name.endswith(f".{service.zone}")]
        if wrong or service.hostname in others:
            raise SandboxError(f"others: {quoted((wrong or [service.hostname])[0])} is not another hostname in "
                               f"{service.zone}")  # fmt: skip
        if backups and not data:
            raise SandboxError("backups are of the databases: start the sandbox with data too (--data --backups)")
        if backups:
            _need_moto()
        binary = find_pdns()
        bindir = db.find_bindir() if data else None
        tools = _acme_tools() if acme else None
        directory.mkdir(parents=True, exist_ok=True)
        existing = cls.load(directory)
        if existing is not None and existing.running():
            raise SandboxError(f"a sandbox is already running in {directory}; stop it with: bascule sandbox down")
        state = SandboxState(
            directory=str(directory),
            dns_port=_free_port([DNS_ADDRESS], socket.SOCK_DGRAM),
            http_port=_free_port(list(ADDRESSES.values())),
            https_port=_free_port(list(ADDRESSES.values())),
            pdns_version=_pdns_version(binary),
            service=service,
            others=list(others),
        )
        if tools is not None:
            state.acme = AcmeState.new(*(_free_port([DNS_ADDRESS]) for _ in range(3)))
        sandbox = cls(state)
        try:
            SandboxPki.create(state.pki.directory, state.service.hostname, DNS_ADDRESS if tools else None, others)
            if others:
                (sandbox.dir / "others.txt").write_text("".join(f"{name}\n" for name in others), encoding="utf-8")
            if bindir is not None:
                sandbox._start_data(bindir)
            if backups:
                sandbox._start_store()
            for role in ADDRESSES:
                sandbox.set_site_mode(role, HEALTHY)
            if state.acme is None:
                sandbox._write_zone()
            sandbox._start_pdns(binary)
            sandbox.wait_ready()
            recursor = shutil.which("pdns_recursor") or next(
                (p for p in ("/usr/sbin/pdns_recursor",) if os.access(p, os.X_OK)), None
            )
            if recursor is not None:
                sandbox._start_recursor(recursor)
            if tools is not None:
                sandbox._start_acme(*tools)
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    @classmethod
    def load(cls, directory: Path) -> Sandbox | None:
        path = directory / "state.json"
        if not path.is_file():
            return None
        raw = _read_state(path)
        try:
            raw["service"] = SandboxService(**raw["service"])
            raw["data"] = DataState.from_json(raw["data"]) if raw.get("data") else None
            raw["acme"] = AcmeState(**raw["acme"]) if raw.get("acme") else None
            raw["backup"] = BackupState(**raw["backup"]) if raw.get("backup") else None
            return cls(SandboxState(**raw))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _unusable(path, f"{type(exc).__name__}: {exc}") from None

    def save(self) -> None:
        write_atomic(self.dir / "state.json", json.dumps(asdict(self.state), indent=2, allow_nan=False))

    def refresh(self) -> None:
        """Take pids and the switch from disk: another process (`bascule sandbox site`, a drill) may have restarted a
        site since this object was loaded, and acting on a stale pid would leak or duplicate a process."""
        path = self.dir / "state.json"
        if path.is_file():
            raw = _read_state(path)
            self.state.pids, self.state.switched = dict(raw.get("pids", {})), bool(raw.get("switched", False))
            self.state.tokens = dict(raw.get("tokens", {}))
            if self.state.acme is not None and raw.get("acme"):
                self.state.acme.mode = str(raw["acme"].get("mode", HEALTHY))

    def running(self) -> bool:
        """Every process is up, except a site put `down` on purpose (that is a site's state, not a broken sandbox)."""
        self.refresh()
        sites = [role for role in ADDRESSES if self.site_mode(role) != DOWN]
        needed = ["pdns", *sites] + (["recursor"] if self.state.resolver_port else [])
        if self.state.data is not None:
            needed += [_db(role) for role in ADDRESSES]
        if self.state.acme is not None:
            needed.append("pebble")
        if self.state.backup is not None:
            needed.append(STORE)
        return all(self.process_alive(name) for name in needed)

    def process_alive(self, name: str) -> bool:
        """Process `name` runs and is the one this sandbox started (see `SandboxState.tokens`)."""
        return is_same(self.state.pids.get(name), self.state.tokens.get(name))

    def stop(self) -> list[str]:
        """Stop every process and return only once they are gone, each with its children; what still runs after
        `STOP_GRACE_SECONDS` and a SIGKILL is returned, one line each, for the caller to report (a drill that
        returned with a database still shutting down left it for the next test or drill to trip over)."""
        self.refresh()
        left = [problem for name in list(self.state.pids) if (problem := self._kill(name)) is not None]
        if self.state.data is not None:  # the clusters live outside the sandbox folder (see database.make_folder)
            for cluster in self.state.data.clusters.values():
                shutil.rmtree(cluster.directory, ignore_errors=True)
        state = self.dir / "state.json"
        if state.exists():
            state.unlink()
        return left

    def _kill(self, name: str) -> str | None:
        """Stop process `name` and its process group if it is still the one this sandbox started, and wait until
        they are gone: a polite signal, then SIGKILL, each with a bounded wait. A pid now naming another process (a
        stale state.json after a reboot, a pid reused) is forgotten, never signalled. Returns what still runs."""
        pid, token = self.state.pids.pop(name, None), self.state.tokens.pop(name, None)
        left = None
        if pid and is_same(pid, token):
            # PostgreSQL's SIGTERM waits for every client to leave; SIGINT is its fast shutdown.
            for stop, grace in ((signal.SIGINT if name.startswith("db-") else signal.SIGTERM, STOP_GRACE_SECONDS),
                                (signal.SIGKILL, KILL_GRACE_SECONDS)):  # fmt: skip
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, stop)  # the group: the leader's children are the sandbox's too
                if _group_gone(pid, token, grace):
                    break
            else:
                running = ", ".join(map(str, group_running(pid))) or str(pid)
                left = f"{name}: still running after SIGKILL (pids {running}); stop it by hand"
        self.save()
        return left

    def _spawn(
        self,
        name: str,
        argv: list[str],
        user: str | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                user=user, cwd=cwd, env=env,
            )  # fmt: skip
        finally:
            log.close()
        self.state.pids[name] = proc.pid
        token = identity(proc.pid)  # taken now: the child has not been reaped, so the pid is still this process
        if token is not None:
            self.state.tokens[name] = token
        self.save()

    # --- sites -----------------------------------------------------------------------------------
    def control_file(self, role: str) -> Path:
        return self.dir / f"{role}.mode"

    def site_mode(self, role: str) -> str:
        try:
            return self.control_file(role).read_text(encoding="utf-8").strip() or HEALTHY
        except FileNotFoundError:
            return HEALTHY

    def set_site_mode(self, role: str, mode: str) -> None:
        """Put a site in one of `MODES` while running: `down` stops its process, any other mode (re)starts it."""
        if role not in ADDRESSES:
            raise SandboxError(f"no site {quoted(role)}: choose {' or '.join(ADDRESSES)}")
        if mode not in MODES:
            raise SandboxError(f"no site mode {quoted(mode)}: choose one of {', '.join(MODES)}")
        self.refresh()
        tmp = self.control_file(role).with_suffix(".tmp")
        tmp.write_text(mode, encoding="utf-8")
        tmp.replace(self.control_file(role))  # the site reads it on every request: never a half-written mode
        if mode == DOWN:
            self.stop_site(role)
        elif not self.site_alive(role):
            self.start_site(role)

    def start_site(self, role: str) -> None:
        self._spawn(
            role,
            [
                sys.executable, "-m", "bascule.sandbox.site",
                "--name", role,
                "--address", ADDRESSES[role],
                "--https-port", str(self.state.https_port),
                "--http-port", str(self.state.http_port),
                "--hostname", self.state.service.hostname,
                "--pki", str(self.state.pki.directory),
                *(["--service-cert", str(self.state.acme_files.served)] if self._acme_served(role) else []),
                "--health-path", self.state.service.health_path,
                "--control", str(self.control_file(role)),
                *(["--data", str(self.data_file(role))] if self.state.data is not None else []),
                *(["--others", str(self.dir / "others.txt")] if self.state.others else []),
            ],
        )  # fmt: skip
        self._wait(lambda: self._site_answers(role), f"site {role} did not start", self.dir / f"{role}.log")

    def _acme_served(self, role: str) -> bool:
        """The site serves the ACME certificate: the secondary of a sandbox started with --acme (until it is issued,
        the platform's default, as a real load balancer before its certificate is uploaded)."""
        return self.state.acme is not None and role == SECONDARY

    def stop_site(self, role: str) -> None:
        self._kill(role)

    def site_alive(self, role: str) -> bool:
        self.refresh()
        return self.process_alive(role)

    def _site_answers(self, role: str) -> bool:
        """Listening on both ports (any answer will do: the site's mode may be a broken one on purpose)."""
        return all(_listening(port, ADDRESSES[role]) for port in (self.state.http_port, self.state.https_port))

    # --- data standby ----------------------------------------------------------------------------
    def data_file(self, role: str) -> Path:
        return self.dir / f"{role}.data.json"

    def _data(self) -> DataState:
        if self.state.data is None:
            raise SandboxError(f"the sandbox in {self.dir} has no databases; start it with: bascule sandbox up --data")
        return self.state.data

    def _start_data(self, bindir: Path) -> None:
        """Two clusters, schema and app role on both, publication on the primary's, subscription on the secondary's;
        each site's app given the database beside it."""
        clusters = {}
        for role, address in ADDRESSES.items():
            folder = db.make_folder(role)
            clusters[role] = db.Cluster(role, address, _free_port([address]), str(folder), db.new_password())
        data = self.state.data = DataState(clusters, db.new_password(), db.new_password())
        self.save()
        for cluster in clusters.values():
            db.init_cluster(cluster, bindir)
            self.start_database(cluster.role, bindir)
        db.create_schema(clusters[PRIMARY], clusters[SECONDARY], data.app_password, data.replication_password)
        db.subscribe(clusters[PRIMARY], clusters[SECONDARY], data.replication_password)
        self._wait(lambda: db.replicating(clusters[SECONDARY]), "replication did not start", self._db_log(SECONDARY))
        for role, cluster in clusters.items():
            # As on a deployed stack (docs/data.md): each site's app uses the database beside it as the app
            # role, and learns who is writable from the database itself (a write on a fenced side is refused).
            app = cluster.conninfo(user=db.APP_ROLE, password=self.state.data.app_password)
            tmp = self.data_file(role).with_suffix(".tmp")
            tmp.touch(mode=0o600)
            tmp.write_text(json.dumps({"read": app, "write": app, "write_role": role}), encoding="utf-8")
            tmp.replace(self.data_file(role))

    def _db_log(self, role: str) -> Path:
        return self.dir / f"{_db(role)}.log"

    def start_database(self, role: str, bindir: Path | None = None) -> None:
        cluster = self._data().clusters[role]
        db.clear_stale_lock(cluster)
        argv = cluster.server_argv(bindir or db.find_bindir())
        self._spawn(_db(role), argv, user=db.run_as(), cwd=cluster.directory)
        self._wait(lambda: self.database_alive(role), f"database {role} did not start", self._db_log(role), 30)

    def database_alive(self, role: str) -> bool:
        """The server's process runs and accepts a session."""
        self.refresh()
        if not self.process_alive(_db(role)):
            return False
        try:
            self._data().clusters[role].connect("postgres").close()
        except db.DatabaseError:
            return False
        return True

    def kill_database(self, role: str) -> None:
        """SIGKILL to the server and every backend at once, as a host dying would: no shutdown checkpoint."""
        self.refresh()
        pid, token = self.state.pids.pop(_db(role), None), self.state.tokens.pop(_db(role), None)
        if pid and is_same(pid, token):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _group_gone(pid, token, KILL_GRACE_SECONDS)  # gone before anyone looks: backends die on their own
        self.save()

    def data_pair(self) -> DataPair:
        """The sandbox's clusters as a data pair: the commands, drills and tests promote and fail it back exactly as
        they do a deployed stack's. The admin login is the clusters' superuser; the SQL sent is what the clouds'
        admins may run (`bascule.data.sql`)."""
        data = self._data()

        def end(cluster: db.Cluster) -> Endpoint:
            return Endpoint(cluster.address, cluster.port, db.USER, cluster.password, "disable", "sandbox",
                            db.CONNECT_TIMEOUT, app_password=data.app_password or None)  # fmt: skip

        return DataPair(
            service=self.state.service.name,
            databases=(db.DATABASE,),
            app_role=db.APP_ROLE,
            primary=end(data.clusters[PRIMARY]),
            standby=end(data.clusters[SECONDARY]),
            publications={db.DATABASE: db.PUBLICATION},
            subscriptions={db.DATABASE: db.SUBSCRIPTION},
            wal_keep_mb=db.WAL_KEEP_MB,
            rpo_seconds=float(self.state.service.rpo_seconds),
            source=f"the sandbox in {self.dir}",
            replication=Login(db.REPLICATOR, data.replication_password) if data.replication_password else None,
        )

    def data_state(self) -> str:
        """The pair's state as its databases say (`bascule.data.status` states), without measuring lag."""
        return data_status(self.data_pair(), lag_wait=0).state

    def promote(self, journal: Recorder | None = None, on_step: OnStep | None = None) -> OperationResult:
        """Make the standby the writer (`bascule.data.promote`); `SandboxError` when it is refused or fails."""
        try:
            return promote(self.data_pair(), journal, on_step=on_step)
        except (DataRefused, DataError, psycopg.Error) as exc:
            raise SandboxError(f"promote: {exc}") from exc

    def restore_data(self, timeout: float = 60.0) -> list[str]:
        """Back to primary-with-replica from whatever a drill, a break mode or a crash left: both databases
        running, any break mode undone, a promotion failed back (`bascule.data.failback`), forward replication
        healthy (`bascule.data.resync`). Returns what was done."""
        for role in ADDRESSES:
            if not self.database_alive(role):
                self.start_database(role)
        done = []
        try:
            self._heal_breaks()
            pair = self.data_pair()
            result = failback(pair, replay_seconds=timeout)
            if result.outcome != "nothing-to-do":
                done.append("failed back: " + ", ".join(f"{s.step} {s.status}" for s in result.steps))
            done += resync(pair, wait_seconds=timeout)
        except (DataRefused, DataError, psycopg.Error, db.DatabaseError) as exc:
            raise SandboxError(f"restore data: {exc}") from exc
        return done

    # --- backup store ----------------------------------------------------------------------------
    def _start_store(self) -> None:
        """moto's S3 server on loopback, a port from the OS, and the locked bucket; the age key pair."""
        import pyrage  # the `backup` extra: only a sandbox with backups needs it

        from bascule.backup.store import StoreError

        identity = pyrage.x25519.Identity.generate()
        backup = self.state.backup = BackupState(
            port=_free_port([STORE_ADDRESS]), identity=str(identity), recipient=str(identity.to_public()),
            secret_key=db.new_password(),
        )  # fmt: skip
        self.save()
        argv = [sys.executable, "-m", "moto.server", "-H", STORE_ADDRESS, "-p", str(backup.port)]
        self._spawn(STORE, argv)
        self._wait(lambda: _listening(backup.port, STORE_ADDRESS), "the object store did not start",
                   self.dir / f"{STORE}.log", 30)  # fmt: skip
        try:
            self.backup_store().create_locked_bucket()
        except StoreError as exc:
            raise SandboxError(f"object store: {exc}") from exc

    def _backup(self) -> BackupState:
        if self.state.backup is None:
            raise SandboxError(f"the sandbox in {self.dir} has no backup store; start it with: bascule sandbox up "
                               "--data --backups")  # fmt: skip
        return self.state.backup

    def backup_store(self) -> Store:
        """The sandbox's bucket, with the sandbox's credentials."""
        from bascule.backup.store import Store, StoreAddress

        backup = self._backup()
        address = StoreAddress(backup.endpoint, STORE_REGION, STORE_BUCKET)
        return Store(address, STORE_ACCESS_KEY, backup.secret_key)

    def backup_plan(self) -> BackupPlan:
        """The sandbox's backups as a stack's `bascule_backup` output describes them."""
        from bascule.backup.state import BackupPlan

        backup = self._backup()
        return BackupPlan(
            address=self.backup_store().address, service=self.state.service.name, databases=(db.DATABASE,),
            every_hours=float(backup.every_hours), retention_days=backup.retention_days, recipient=backup.recipient,
            provider="sandbox", legal_home="this machine",
        )  # fmt: skip

    def backup_source(self) -> str:
        """The libpq string backups are taken from: the standby, as a stack's job does (the dump costs the primary
        nothing and the standby holds every row it shipped)."""
        return self._data().clusters[SECONDARY].conninfo()

    # --- data break modes ------------------------------------------------------------------------
    def set_data_mode(self, mode: str) -> str:
        """Break replication for real, as it breaks in production, to see what `verify --data` and drills make of
        it; `healthy` mends whatever was broken. Returns a sentence saying what was done."""
        if mode not in DATA_MODES:
            raise SandboxError(f"no data mode '{mode}': choose one of {', '.join(DATA_MODES)}")
        data = self._data()
        primary, standby = data.clusters[PRIMARY], data.clusters[SECONDARY]
        if mode == DATA_HEALTHY:
            return "; ".join(self.restore_data()) or "already healthy"
        if self.data_state() != "replica":
            raise SandboxError("the standby is not a replica (promoted, or a promotion or failback is half done): "
                               "`bascule sandbox data healthy` first")  # fmt: skip
        try:
            if mode == DATA_SUBSCRIPTION_DISABLED:
                self._subscription(standby, enabled=False)
                return f"subscription {db.SUBSCRIPTION} disabled on the standby: it receives nothing"
            if mode == DATA_LAGGING:
                return self._plant_conflict(primary, standby)
            self._subscription(standby, enabled=False)
            self._churn_until(primary, "unreserved")
            if mode == DATA_SLOT_UNRESERVED:
                return (f"slot {db.SUBSCRIPTION} unreserved: subscription disabled, max_slot_wal_keep_size lowered "
                        f"to {SMALL_KEEP} and WAL written past it; a checkpoint would lose it")  # fmt: skip
            with primary.connect("postgres") as conn:
                conn.execute("CHECKPOINT")  # removes the WAL the slot needed, and invalidates it
            self._churn_until(primary, "lost")
            with primary.connect("postgres") as conn:
                conn.execute("ALTER SYSTEM RESET max_slot_wal_keep_size")
                conn.execute("SELECT pg_reload_conf()")
            self._subscription(standby, enabled=True)
        except db.ERRORS as exc:
            raise SandboxError(f"data mode {mode}: {exc}") from exc
        return (f"slot {db.SUBSCRIPTION} lost: its WAL was removed at a checkpoint past max_slot_wal_keep_size; the "
                "subscription is enabled again and cannot catch up")  # fmt: skip

    @staticmethod
    def _subscription(standby: db.Cluster, enabled: bool) -> None:
        with standby.connect() as conn:
            conn.execute(f"ALTER SUBSCRIPTION {db.SUBSCRIPTION} {'ENABLE' if enabled else 'DISABLE'}")

    @staticmethod
    def _churn_until(primary: db.Cluster, wal_status: str, timeout: float = 30.0) -> None:
        """Lower the primary's max_slot_wal_keep_size and write WAL (segment switches) until the subscription's
        slot reports `wal_status`."""
        with primary.connect("postgres") as conn:
            conn.execute(f"ALTER SYSTEM SET max_slot_wal_keep_size = '{SMALL_KEEP}'")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CREATE TABLE IF NOT EXISTS bascule_churn (written timestamptz)")
            deadline = time.monotonic() + timeout
            while True:
                row = conn.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s",
                                   (db.SUBSCRIPTION,)).fetchone()  # fmt: skip
                if row is not None and row[0] == wal_status:
                    return
                if time.monotonic() > deadline:
                    raise SandboxError(f"the slot did not become {wal_status} (it is {row[0] if row else 'gone'})")
                conn.execute("INSERT INTO bascule_churn SELECT clock_timestamp() FROM generate_series(1, 1000)")
                conn.execute("SELECT pg_switch_wal()")
                time.sleep(0.1)

    @staticmethod
    def _plant_conflict(primary: db.Cluster, standby: db.Cluster) -> str:
        """A row on the standby with the id the primary's next insert takes, then that insert: the apply worker
        fails on the duplicate key and retries for ever, falling further behind with every write, as a real
        conflict (a write that reached the replica by another path) makes it."""
        with primary.connect() as conn:
            row = conn.execute("SELECT nextval('canary_id_seq')").fetchone()
            assert row is not None
            taken = int(row[0]) + 1
            with standby.connect() as other:
                other.execute("INSERT INTO canary (id, site) VALUES (%s, %s)", (taken, CONFLICT_SITE))
            conn.execute("INSERT INTO canary (site) VALUES ('lagging')")
        return (f"row {taken} planted on the standby, then written on the primary: the standby's apply worker fails "
                "on the duplicate key and retries, falling behind")  # fmt: skip

    def _heal_breaks(self) -> None:
        """Undo every break mode: the planted conflict and the lowered WAL cap (a lost slot is resync's)."""
        data = self._data()
        with data.clusters[SECONDARY].connect() as conn:
            conn.execute("DELETE FROM canary WHERE site = %s", (CONFLICT_SITE,))
        with data.clusters[PRIMARY].connect("postgres") as conn:
            conn.execute("ALTER SYSTEM RESET max_slot_wal_keep_size")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("DROP TABLE IF EXISTS bascule_churn")

    # --- the secondary's ACME certificate (--acme) -------------------------------------------------
    def _acme(self) -> AcmeState:
        if self.state.acme is None:
            raise SandboxError(f"the sandbox in {self.dir} has no ACME certificate; start it with: "
                               "bascule sandbox up --acme")  # fmt: skip
        return self.state.acme

    def acme_server(self) -> AcmeServer:
        """The sandbox's pebble, which runs as long as the sandbox does."""
        state, files = self._acme(), self.state.acme_files
        return AcmeServer("pebble", state.directory_port, state.management_port, files.directory, files.lego)

    def _start_acme(self, pebble: str, lego: str) -> None:
        """The ACME server, then the secondary's first certificate, once DNS answers the primary (steady state).
        Nothing of an earlier sandbox in this folder is kept: its pebbles' roots, lego's accounts and certificates."""
        shutil.rmtree(self.state.acme_files.directory, ignore_errors=True)
        self._start_pebble(pebble, self.acme_server(), acme.LIFETIME_DAYS)
        self._obtain(lego, self.acme_server(), ["run"])

    def _start_pebble(self, binary: str, server: AcmeServer, validity_days: int) -> None:
        """Start an ACME server issuing certificates valid `validity_days`, and trust its root."""
        acme.write_pebble_config(server, self.state.pki.acme_server, validity_days, self.state.http_port,
                                 self.state.https_port)  # fmt: skip
        argv, env = acme.pebble_command(binary, server, self.state.validation_dns_port)
        self._spawn(server.name, argv, cwd=str(server.folder), env=env)
        roots: list[str] = []

        def answered() -> bool:
            root = acme.fetch_root(server, self.state.pki.ca)
            roots.extend([root] if root else [])
            return bool(roots)

        self._wait(answered, f"{server.name} did not hand out its root", self.dir / f"{server.name}.log")
        acme.trust_root(self.state.acme_files, self.state.pki.ca, roots[0])

    @contextlib.contextmanager
    def _answers_seen(self) -> Iterator[set[str]]:
        """Every address the hostname answers, through the DNS the ACME server asks, for as long as the block runs."""
        seen: set[str] = set()
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                seen.update(self.resolve(self.state.service.hostname, port=self.state.validation_dns_port))
                done.wait(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield seen
        finally:
            done.set()
            watcher.join()

    def _obtain(self, lego: str, server: AcmeServer, command: list[str], key: str | None = None) -> Issued:
        """One ACME client run with `server`, holding the renewal job's DNS API key (or `key`); a certificate it
        obtained is uploaded to the secondary. Says what the hostname answered meanwhile."""
        state, files, svc = self._acme(), self.state.acme_files, self.state.service
        obtained = server.obtained(svc.hostname)
        before = Certificate.read(obtained).serial if obtained.is_file() else None
        run = LegoRun(lego, server, state.api_port, key or state.job_key, self.state.validation_dns_port,
                      self.state.pki.ca, files.log)  # fmt: skip
        try:
            with self._answers_seen() as seen:
                run(svc.hostname, svc.zone, command)
        except AcmeError as exc:
            raise SandboxError(str(exc)) from exc
        renewed = obtained.is_file() and Certificate.read(obtained).serial != before
        if renewed:
            acme.upload(server, files, svc.hostname)
            state.answered = ",".join(sorted(seen))
            self.save()
        return Issued(renewed, Certificate.read(files.served), tuple(sorted(seen)) if renewed else ())

    def renew(self, days: int = acme.RENEW_DAYS) -> Issued:
        """What the scheduled renewal runs: `lego renew --days N` (renew when at most `days` whole days remain), and
        the new certificate uploaded to the secondary. `SandboxError` when it fails (in `renewal-stopped`, PowerDNS
        refuses the challenge record)."""
        self.refresh()
        return self._obtain(_acme_tools()[1], self.acme_server(), ["renew", "--days", str(days), "--no-random-sleep"])

    def set_acme_mode(self, mode: str) -> str:
        """Make renewal stop, or work again; returns a sentence saying what was done.

        `renewal-stopped`: the renewal job's DNS API key is refused from now on (PowerDNS answers 401, as to a revoked
        or expired token), and the secondary and the job's store get what weeks of failed renewals leave, a
        certificate with `STOPPED_DAYS_LEFT` days left: from a second pebble issuing certificates that short, stopped
        once it issued one (no certificate can be aged). `healthy`: the key is accepted again; the next renewal
        renews (it is due).
        """
        if mode not in acme.ACME_MODES:
            raise SandboxError(f"no ACME mode '{mode}': choose one of {', '.join(acme.ACME_MODES)}")
        self.refresh()
        state = self._acme()
        if mode == HEALTHY:
            said = "renewal already works" if state.mode == mode else "the renewal job's DNS API key is accepted again"
            state.mode = mode
            self.save()
            return f"{said}: `bascule sandbox renew` renews the secondary's certificate when it is due"
        pebble, lego = _acme_tools()
        files = self.state.acme_files
        aged = AcmeServer("pebble-aged", _free_port([DNS_ADDRESS]), _free_port([DNS_ADDRESS]), files.directory / "aged",
                          files.lego)  # fmt: skip
        shutil.rmtree(aged.folder, ignore_errors=True)
        # A new pebble knows no account (it keeps no state), but lego keeps one per server address
        # (`accounts/<host>_<port>`): an earlier aged pebble on the same port, which the OS may hand out again, left
        # one that this pebble would refuse as accountDoesNotExist. Forget it, so lego registers afresh.
        shutil.rmtree(files.lego / "accounts" / f"{acme.ADDRESS}_{aged.directory_port}", ignore_errors=True)
        try:
            self._start_pebble(pebble, aged, acme.STOPPED_DAYS_LEFT)
            issued = self._obtain(lego, aged, ["run"], key=state.api_key)  # the past, when the key still worked
        finally:
            self._kill(aged.name)
        state.mode = mode
        self.save()
        return (f"the secondary's certificate has {issued.certificate.days_left:g} days left, as if renewal had "
                f"stopped {acme.LIFETIME_DAYS - acme.STOPPED_DAYS_LEFT} days ago, and the renewal job's DNS API key "
                "is refused: every renewal fails until `bascule sandbox acme healthy`")  # fmt: skip

    def acme_status(self) -> dict[str, Any] | None:
        """The secondary's ACME certificate and whether renewal can work; None without --acme."""
        if self.state.acme is None:
            return None
        served = self.state.acme_files.served
        return {
            "directory": self.acme_server().directory_url,
            "mode": self.state.acme.mode,
            "renew_days": acme.RENEW_DAYS,
            "lifetime_days": acme.LIFETIME_DAYS,
            "certificate": asdict(Certificate.read(served)) if served.is_file() else None,
            "issued_while": [a for a in self.state.acme.answered.split(",") if a],
        }

    # --- DNS -------------------------------------------------------------------------------------
    def set_switched(self, switched: bool) -> None:
        """The `switch` fault: the record skips the primary, as an operator's manual switch would."""
        self.refresh()
        before = self._record()[0]
        self.state.switched = switched
        self.save()
        if self.state.acme is None:
            self._write_zone()
            self.pdns_control("bind-reload-now", self.state.service.zone)
            return
        svc, (rtype, content) = self.state.service, self._record()
        try:  # one PATCH: the name is never without an answer (`PowerDnsApi.change_type`)
            if rtype == before:
                self._zone_api().replace(svc.zone, svc.hostname, rtype, svc.ttl, [content])
            else:
                self._zone_api().change_type(svc.zone, svc.hostname, before, rtype, svc.ttl, [content])
        except PowerDnsApiError as exc:
            raise SandboxError(f"switch: {exc}") from exc

    def _zone_api(self) -> PowerDnsApi:
        assert self.state.acme is not None  # the zone is behind the API only with --acme
        return PowerDnsApi(f"http://{DNS_ADDRESS}:{self.state.acme.api_port}", self.state.acme.api_key)

    def pdns_control(self, *command: str) -> str:
        control = shutil.which("pdns_control") or "/usr/bin/pdns_control"
        proc = subprocess.run(
            [control, f"--config-dir={self.dir}", *command],
            capture_output=True, text=True, timeout=10, check=False, cwd=self.dir,  # the relative socket-dir
        )  # fmt: skip
        if proc.returncode != 0:
            raise SandboxError(f"pdns_control {' '.join(command)} failed: {(proc.stdout + proc.stderr).strip()}")
        return proc.stdout.strip()

    def _record(self) -> tuple[str, str]:
        """The failover record's type and content: the LUA `ifurlup()` record, or the secondary alone when switched."""
        if self.state.switched:
            return "A", ADDRESSES[SECONDARY]
        return "LUA", self._failover(self.state.service.hostname)

    def _failover(self, hostname: str) -> str:
        """The LUA `ifurlup()` record of `hostname`: the primary while its health URL answers 200, else the
        secondary."""
        svc = self.state.service
        return lua_failover_content(
            f"https://{hostname}:{self.state.https_port}{svc.health_path}",
            ADDRESSES[PRIMARY],
            ADDRESSES[SECONDARY],
            timeout=svc.check_timeout_seconds,
            interval=svc.interval_seconds,
            failures=svc.failure_threshold,
        )

    def _zone_records(self) -> list[tuple[str, str, int, str]]:
        """Every record of the zone (name, type, TTL, content): one list for the zone file and the API alike.

        The SOA's last field (1 s) is how long resolvers cache a "no such name" (RFC 2308): a challenge record
        asked for before it exists must not stay hidden behind that answer."""
        svc = self.state.service
        rtype, content = self._record()
        return [
            (svc.zone, "SOA", 3600, f"ns1.{svc.zone}. hostmaster.{svc.zone}. {int(time.time())} 3600 600 604800 1"),
            (svc.zone, "NS", 3600, f"ns1.{svc.zone}."),
            (f"ns1.{svc.zone}", "A", 3600, DNS_ADDRESS),
            (svc.hostname, rtype, svc.ttl, content),
            *((name, "LUA", svc.ttl, self._failover(name)) for name in self.state.others),
        ]

    def _write_zone(self) -> None:
        svc = self.state.service
        lines = [f"{name}. {ttl} IN {rtype} {content}" for name, rtype, ttl, content in self._zone_records()]
        zone = "\n".join([f"$ORIGIN {svc.zone}.", *lines, ""])
        (self.dir / "zone.db").write_text(zone, encoding="utf-8")
        (self.dir / "named.conf").write_text(
            f'zone "{svc.zone}" {{ type master; file "{self.dir / "zone.db"}"; }};\n', encoding="utf-8"
        )

    def _start_pdns(self, binary: str) -> None:
        svc = self.state.service
        settings = {
            "local-address": f"{DNS_ADDRESS}:{self.state.dns_port}",
            "enable-lua-records": "yes",
            "lua-health-checks-interval": str(svc.interval_seconds),
            # Relative to the server's working folder: a UNIX socket path holds at most 107 bytes, and a long
            # TMPDIR (macOS's /var/folders/..., a CI workspace) would make `<dir>/pdns.controlsocket` too long.
            "socket-dir": ".",
            "guardian": "no",
            "daemon": "no",
            "disable-syslog": "yes",
            "write-pid": "no",
            "cache-ttl": "0",
            "query-cache-ttl": "0",
            "negquery-cache-ttl": "0",
            "loglevel": "4",
        }
        acme_state = self.state.acme
        if acme_state is None:
            settings |= {"launch": "bind", "bind-config": str(self.dir / "named.conf"), "webserver": "no", "api": "no"}
        else:  # a backend the API can write: the ACME client puts its challenge record into the zone through it
            database = self.dir / "pdns.sqlite3"
            database.unlink(missing_ok=True)  # a fresh zone at every start, as the zone file is rewritten
            with contextlib.closing(sqlite3.connect(database)) as conn:
                conn.executescript(acme.SQLITE_SCHEMA.read_text(encoding="utf-8"))
            settings |= {
                "launch": "gsqlite3", "gsqlite3-database": str(database), "api": "yes", "api-key": acme_state.api_key,
                "webserver": "yes", "webserver-address": DNS_ADDRESS, "webserver-port": str(acme_state.api_port),
                "webserver-allow-from": "127.0.0.0/8",
            }  # fmt: skip
        config = self.dir / "pdns.conf"
        config.touch(mode=0o600)  # it may hold the API key
        config.chmod(0o600)  # a file left by an earlier sandbox keeps its mode through touch
        # A port found free is not reserved: another process (the sandbox's own databases, another run on the
        # machine) may take it before the server binds, and the server then exits "Address already in use". The
        # port is chosen here, last, and chosen again if that happens.
        for attempt in range(1, 4):
            settings["local-address"] = f"{DNS_ADDRESS}:{self.state.dns_port}"
            config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
            (self.dir / "pdns.log").unlink(missing_ok=True)
            self._spawn("pdns", [binary, f"--config-dir={self.dir}"], cwd=str(self.dir))
            if self._dns_bound():
                break
            self._kill("pdns")
            if attempt == 3 or "Address already in use" not in (self.dir / "pdns.log").read_text(errors="replace"):
                self._wait(self._dns_answers, "pdns_server did not answer", self.dir / "pdns.log")  # says why
            self.state.dns_port = _free_port([DNS_ADDRESS], socket.SOCK_DGRAM)
        if acme_state is not None:
            self._wait(
                lambda: _listening(acme_state.api_port), "the PowerDNS API did not listen", self.dir / "pdns.log"
            )
            records = [(name, rtype, ttl, [content]) for name, rtype, ttl, content in self._zone_records()]
            try:
                self._zone_api().create_zone(self.state.service.zone, records)
            except PowerDnsApiError as exc:
                raise SandboxError(f"PowerDNS API: {exc}") from exc
        self._wait(self._dns_answers, "pdns_server did not answer", self.dir / "pdns.log")

    def _dns_bound(self, timeout: float = 10.0) -> bool:
        """True once the server answers a query on its port (any answer: with the ACME backend the zone comes
        later); False as soon as its log says the port was taken, or on timeout (the caller's own wait then reports
        the log). The log is read first: a port taken by another process may well accept a connection."""
        log = self.dir / "pdns.log"
        query = dns.message.make_query(self.state.service.zone, "SOA")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and "Address already in use" in log.read_text(errors="replace"):
                return False
            try:
                dns.query.udp(query, DNS_ADDRESS, port=self.state.dns_port, timeout=0.3)
                return True
            except (dns.exception.DNSException, OSError):
                time.sleep(0.1)
        return False

    def _start_recursor(self, binary: str) -> None:
        """A recursor that only ever talks to loopback: the sandbox zone is forwarded to our server, there are no
        root hints, no security polling, and every address outside 127.0.0.0/8 is on its do-not-query list."""
        self.state.resolver_port = _free_port([DNS_ADDRESS], socket.SOCK_DGRAM)
        folder = self.dir / "recursor"
        folder.mkdir(exist_ok=True)
        outside_loopback = ", ".join(
            ["0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6", "124.0.0.0/7", "126.0.0.0/8",
             "128.0.0.0/1", "::/0"]
        )  # fmt: skip
        settings = {
            "local-address": DNS_ADDRESS,
            "local-port": str(self.state.resolver_port),
            "forward-zones": f"{self.state.service.zone}={DNS_ADDRESS}:{self.state.dns_port}",
            "dont-query": outside_loopback,
            "hint-file": "no",
            "security-poll-suffix": "",
            "socket-dir": ".",  # relative to its working folder, like the server's
            "daemon": "no",
            "write-pid": "no",
            "quiet": "yes",
        }
        (folder / "recursor.conf").write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
        self._spawn("recursor", [binary, f"--config-dir={folder}"], cwd=str(folder))
        self._wait(
            lambda: self.resolve(self.state.service.hostname, port=self.state.resolver_port) == [ADDRESSES[PRIMARY]],
            "pdns_recursor did not answer",
            self.dir / "recursor.log",
        )

    def _dns_answers(self) -> bool:
        return bool(self.resolve(self.state.service.zone, "SOA"))

    def resolve(self, name: str, rtype: str = "A", timeout: float = 0.5, port: int | None = None) -> list[str]:
        query = dns.message.make_query(name, dns.rdatatype.from_text(rtype))
        try:
            response = dns.query.udp(query, DNS_ADDRESS, port=port or self.state.dns_port, timeout=timeout)
        except (OSError, dns.exception.Timeout):
            return []
        return sorted(item.to_text() for rrset in response.answer for item in rrset)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Steady state: DNS answers the primary alone for every hostname (PowerDNS starts with every address failing,
        and checks a record's URL only once it was asked for it: every name is asked on each pass)."""
        waiting = self.state.hostnames

        def settled() -> bool:
            waiting[:] = [name for name in waiting if self.resolve(name) != [ADDRESSES[PRIMARY]]]
            return not waiting

        if self.state.others:  # a check per name and address each interval: the first ones take a few intervals
            timeout += 5 * self.state.service.interval_seconds
        self._wait(settled, "DNS never settled on the primary", self.dir / "pdns.log", timeout)

    def _wait(self, ready: Any, what: str, log: Path, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.1)
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        raise SandboxError(f"{what} within {timeout:g} s" + (f"; last log lines: {' | '.join(tail)}" if tail else ""))

    def _databases_status(self) -> dict[str, Any]:
        assert self.state.data is not None
        found: dict[str, Any] = {
            role: {"address": f"{c.address}:{c.port}", "alive": self.database_alive(role)}
            for role, c in self.state.data.clusters.items()
        }
        state = self.data_state() if found[SECONDARY]["alive"] else "unknown"
        return found | {"state": state, "promoted": state in ("promoted", "promoting", "failing-back")}

    def status(self) -> dict[str, Any]:
        return {
            "directory": str(self.dir),
            "dns": f"{DNS_ADDRESS}:{self.state.dns_port}",
            "resolver": f"{DNS_ADDRESS}:{self.state.resolver_port}" if self.state.resolver_port else None,
            "hostname": self.state.service.hostname,
            "answer": self.resolve(self.state.service.hostname),
            "processes": {name: self.process_alive(name) for name in self.state.pids},
            "sites": {role: {"url": self.state.site_url(role), "mode": self.site_mode(role)} for role in ADDRESSES},
            "ca": str(self.state.trust_bundle),
            "pdns_version": self.state.pdns_version,
            "failover_bound_seconds": self.state.failover_bound_seconds,
            "databases": self._databases_status() if self.state.data is not None else None,
            "acme": self.acme_status(),
        }
