"""The local sandbox: a real PowerDNS authoritative server failing over by health check between two sites.

Primary and secondary are HTTPS sites on 127.0.0.2 and 127.0.0.3 playing the two clouds, with certificates
from a CA made at start (pki.py) and routing on SNI and Host like the real platforms; the zone holds a LUA
`ifurlup()` record that answers the primary while its health URL answers 200 for the service hostname, else
the secondary. All processes run detached so `bascule sandbox up` can return, and their pids live in
`state.json` so that `down`, `status` and a later drill (or `drill recover`) find them. Nothing listens
outside 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import psycopg

from bascule.components.powerdns.api import lua_failover_content
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
from bascule.io.files import write_atomic
from bascule.io.processes import group_alive, identity, is_same
from bascule.sandbox import database as db
from bascule.sandbox.modes import DOWN, HEALTHY, MODES
from bascule.sandbox.pki import SandboxPki
from bascule.spec import ServiceSpec

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
    except InputError as exc:
        raise _unusable(path, str(exc).removeprefix(f"{path}").lstrip(": ")) from None
    return raw


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
        f"postgres or `bascule.sandbox.site` processes it started by hand, then remove {path.parent}"
    )


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


def _wait_group(pgid: int, timeout: float = 5.0) -> None:
    """Return once no process of the group a sandbox process led is left (its children included): what `stop` and a
    killed database leave behind must be gone before anyone looks. Whatever is still there after `timeout` gets
    SIGKILL, and is waited for as long again."""
    for last in (False, True):
        deadline = time.monotonic() + timeout
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if last or not group_alive(pgid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


class Sandbox:
    def __init__(self, state: SandboxState):
        self.state = state
        self.dir = Path(state.directory)

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(cls, directory: Path, service: SandboxService | None = None, data: bool = False) -> Sandbox:
        binary = find_pdns()
        bindir = db.find_bindir() if data else None
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
            service=service or SandboxService(),
        )
        sandbox = cls(state)
        try:
            SandboxPki.create(state.pki.directory, state.service.hostname)
            if bindir is not None:
                sandbox._start_data(bindir)
            for role in ADDRESSES:
                sandbox.set_site_mode(role, HEALTHY)
            sandbox._write_zone()
            sandbox._start_pdns(binary)
            sandbox.wait_ready()
            recursor = shutil.which("pdns_recursor") or next(
                (p for p in ("/usr/sbin/pdns_recursor",) if os.access(p, os.X_OK)), None
            )
            if recursor is not None:
                sandbox._start_recursor(recursor)
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

    def running(self) -> bool:
        """Every process is up, except a site put `down` on purpose (that is a site's state, not a broken sandbox)."""
        self.refresh()
        sites = [role for role in ADDRESSES if self.site_mode(role) != DOWN]
        needed = ["pdns", *sites] + (["recursor"] if self.state.resolver_port else [])
        if self.state.data is not None:
            needed += [_db(role) for role in ADDRESSES]
        return all(self.process_alive(name) for name in needed)

    def process_alive(self, name: str) -> bool:
        """Process `name` runs and is the one this sandbox started (see `SandboxState.tokens`)."""
        return is_same(self.state.pids.get(name), self.state.tokens.get(name))

    def stop(self) -> None:
        self.refresh()
        for name in list(self.state.pids):
            self._kill(name)
        if self.state.data is not None:  # the clusters live outside the sandbox folder (see database.make_folder)
            for cluster in self.state.data.clusters.values():
                shutil.rmtree(cluster.directory, ignore_errors=True)
        state = self.dir / "state.json"
        if state.exists():
            state.unlink()

    def _kill(self, name: str) -> None:
        """Stop process `name` if it is still the one this sandbox started; a pid now naming another process (a
        stale state.json after a reboot, a pid reused) is forgotten, never signalled."""
        pid, token = self.state.pids.pop(name, None), self.state.tokens.pop(name, None)
        if pid and is_same(pid, token):
            # PostgreSQL's SIGTERM waits for every client to leave; SIGINT is its fast shutdown.
            stop = signal.SIGINT if name.startswith("db-") else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, stop)
            deadline = time.monotonic() + 5
            while is_same(pid, token) and time.monotonic() < deadline:
                time.sleep(0.05)
            if is_same(pid, token):
                os.killpg(pid, signal.SIGKILL)
            _wait_group(pid)
        self.save()

    def _spawn(self, name: str, argv: list[str], user: str | None = None, cwd: str | None = None) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                user=user, cwd=cwd,
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
            raise SandboxError(f"no site '{role}': choose {' or '.join(ADDRESSES)}")
        if mode not in MODES:
            raise SandboxError(f"no site mode '{mode}': choose one of {', '.join(MODES)}")
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
                "--health-path", self.state.service.health_path,
                "--control", str(self.control_file(role)),
                *(["--data", str(self.data_file(role))] if self.state.data is not None else []),
            ],
        )  # fmt: skip
        self._wait(lambda: self._site_answers(role), f"site {role} did not start", self.dir / f"{role}.log")

    def stop_site(self, role: str) -> None:
        self._kill(role)

    def site_alive(self, role: str) -> bool:
        self.refresh()
        return self.process_alive(role)

    def _site_answers(self, role: str) -> bool:
        """Listening on both ports (any answer will do: the site's mode may be a broken one on purpose)."""
        try:
            for port in (self.state.http_port, self.state.https_port):
                socket.create_connection((ADDRESSES[role], port), timeout=0.5).close()
        except OSError:
            return False
        return True

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
            _wait_group(pid)
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

    # --- DNS -------------------------------------------------------------------------------------
    def set_switched(self, switched: bool) -> None:
        """The `switch` fault: the record skips the primary, as an operator's manual switch would."""
        self.refresh()
        self.state.switched = switched
        self.save()
        self._write_zone()
        self.pdns_control("bind-reload-now", self.state.service.zone)

    def pdns_control(self, *command: str) -> str:
        control = shutil.which("pdns_control") or "/usr/bin/pdns_control"
        proc = subprocess.run(
            [control, f"--config-dir={self.dir}", *command],
            capture_output=True, text=True, timeout=10, check=False, cwd=self.dir,  # the relative socket-dir
        )  # fmt: skip
        if proc.returncode != 0:
            raise SandboxError(f"pdns_control {' '.join(command)} failed: {(proc.stdout + proc.stderr).strip()}")
        return proc.stdout.strip()

    def record_line(self) -> str:
        svc = self.state.service
        label = svc.name
        if self.state.switched:
            return f"{label} {svc.ttl} IN A {ADDRESSES[SECONDARY]}"
        content = lua_failover_content(
            f"https://{svc.hostname}:{self.state.https_port}{svc.health_path}",
            ADDRESSES[PRIMARY],
            ADDRESSES[SECONDARY],
            timeout=svc.check_timeout_seconds,
            interval=svc.interval_seconds,
            failures=svc.failure_threshold,
        )
        return f"{label} {svc.ttl} IN LUA {content}"

    def _write_zone(self) -> None:
        svc = self.state.service
        serial = int(time.time())
        zone = "\n".join(
            [
                f"$ORIGIN {svc.zone}.",
                f"@ 3600 IN SOA ns1.{svc.zone}. hostmaster.{svc.zone}. {serial} 3600 600 604800 1",
                f"@ 3600 IN NS ns1.{svc.zone}.",
                f"ns1 3600 IN A {DNS_ADDRESS}",
                self.record_line(),
                "",
            ]
        )
        (self.dir / "zone.db").write_text(zone, encoding="utf-8")
        (self.dir / "named.conf").write_text(
            f'zone "{svc.zone}" {{ type master; file "{self.dir / "zone.db"}"; }};\n', encoding="utf-8"
        )

    def _start_pdns(self, binary: str) -> None:
        svc = self.state.service
        settings = {
            "launch": "bind",
            "bind-config": str(self.dir / "named.conf"),
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
            "webserver": "no",
            "api": "no",
            "loglevel": "4",
        }
        (self.dir / "pdns.conf").write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
        self._spawn("pdns", [binary, f"--config-dir={self.dir}"], cwd=str(self.dir))
        self._wait(self._dns_answers, "pdns_server did not answer", self.dir / "pdns.log")

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
        """Steady state: DNS answers the primary alone (PowerDNS starts with every address failing)."""
        self._wait(
            lambda: self.resolve(self.state.service.hostname) == [ADDRESSES[PRIMARY]],
            "DNS never settled on the primary",
            self.dir / "pdns.log",
            timeout,
        )

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
            "ca": str(self.state.pki.ca),
            "pdns_version": self.state.pdns_version,
            "failover_bound_seconds": self.state.failover_bound_seconds,
            "databases": self._databases_status() if self.state.data is not None else None,
        }
