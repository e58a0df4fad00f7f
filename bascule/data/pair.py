"""A data pair: the primary's PostgreSQL and its standby, as the commands reach them.

The sandbox's two clusters (`bascule.sandbox`) and a deployed stack's `PostgresStandby` outputs (`state.py`) both
become a `DataPair`, so status, promotion and failback are one implementation for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

PRIMARY, STANDBY = "primary", "standby"
SIDES = (PRIMARY, STANDBY)


class DataError(Exception):
    """A database could not be reached or refused a statement; the message names the side, the database and why."""


@dataclass(frozen=True)
class Login:
    """A login other than the admin's: the replication login the standby subscribes as."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Endpoint:
    """One end of the pair: the server and the administrative login the commands connect as (the RDS master user,
    the Flexible Server admin, the sandbox's own superuser)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    sslmode: str = "require"
    provider: str = ""
    connect_timeout: int = 5
    app_password: str | None = field(default=None, repr=False)
    """The app role's password on this side: a fence is then proven by a login as the app that is refused, and a
    promoted standby by a write as the app that is accepted. None: only the catalogs and the sessions say."""
    reach: str = ""
    """Why this server may not answer from where the command runs (a private network, a firewall), said with a
    connection error so the operator knows it is the path, not the database."""

    def conninfo(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=user or self.user,
            password=password if password is not None else self.password,
            dbname=dbname,
            sslmode=self.sslmode,
            connect_timeout=self.connect_timeout,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DataPair:
    """What the data commands know of a service's databases; every name in it is a PostgreSQL identifier."""

    service: str
    databases: tuple[str, ...]
    app_role: str
    """The login each site's application uses, the same name on both sides; fencing acts on it."""
    primary: Endpoint
    standby: Endpoint
    publications: dict[str, str]
    """Database -> the publication on the primary."""
    subscriptions: dict[str, str]
    """Database -> the subscription on the standby (in that database)."""
    wal_keep_mb: int
    """`max_slot_wal_keep_size` on the primary: past it, a silent subscriber's slot is lost."""
    rpo_seconds: float | None
    source: str
    """Where the pair was read from, for messages: `the sandbox in DIR`, `stack 'prod' (service 'checkout')`."""
    replication: Login | None = None
    """The login the standby's forward subscription connects to the primary as (the component's replication
    login: `rds_replication`, CONNECT and SELECT, nothing of the master's rights); None: the primary's admin."""

    def endpoint(self, side: str) -> Endpoint:
        return self.primary if side == PRIMARY else self.standby

    def secrets(self) -> list[Any]:
        """Values never to be written to a journal or a report."""
        found = [self.primary.password, self.standby.password, self.primary.app_password, self.standby.app_password,
                 self.replication.password if self.replication else None]  # fmt: skip
        return [s for s in found if s]

    def publisher(self, dbname: str) -> str:
        """The conninfo the standby subscribes to the primary's `dbname` with: as the replication login."""
        login = self.replication
        return self.primary.conninfo(dbname, login.user, login.password) if login else self.primary.conninfo(dbname)

    def connect(self, side: str, dbname: str) -> psycopg.Connection[Any]:
        """An autocommit session as the admin login; `DataError` naming the side, the server and, when it cannot be
        reached, why it may not be reachable from here (`Endpoint.reach`)."""
        end = self.endpoint(side)
        try:
            return psycopg.connect(end.conninfo(dbname), autocommit=True)
        except psycopg.Error as exc:
            why = f"; {end.reach}" if end.reach and not _refused_by_server(exc) else ""
            raise DataError(f"{side} {end.address} database {dbname}: {one_line(exc)}{why}") from exc


def _refused_by_server(exc: psycopg.Error) -> bool:
    """The server answered and refused (a password, a missing database): the path is fine, so no word about it.
    libpq says a server's refusal with its FATAL line; a network failure never has one."""
    return "FATAL:" in str(exc)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Sessions:
    """The pair's database sessions for one command: opened on first use and kept, each side's first failure kept
    too (a side down for one database is down for all: they share a server), all closed at the end."""

    def __init__(self, pair: DataPair):
        self.pair = pair
        self._open: dict[tuple[str, str], psycopg.Connection[Any]] = {}
        self._down: dict[str, str] = {}

    def __enter__(self) -> Sessions:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, side: str, database: str) -> psycopg.Connection[Any]:
        if side in self._down:
            raise DataError(self._down[side])
        key = (side, database)
        conn = self._open.get(key)
        if conn is None or conn.closed:
            try:
                conn = self._open[key] = self.pair.connect(side, database)
            except DataError as exc:
                self._down[side] = str(exc)
                raise
        return conn

    def reachable(self, side: str) -> bool:
        try:
            self.get(side, self.pair.databases[0])
        except DataError:
            return False
        return True

    def error(self, side: str) -> str | None:
        return self._down.get(side)

    def close(self) -> None:
        for conn in self._open.values():
            conn.close()
        self._open.clear()
