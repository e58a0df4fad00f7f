"""What a client of each watched service sees right now: `verify`'s assessment (each site at its own address:
TLS, certificate days left, hostname bound, health; each resolver's answer), the data standby's status when there
is one, and whether a drill holds the target's lock (a failover then is the drill's, not an incident).

Services are observed concurrently, at most `concurrency` at a time: each observation is network waits (DNS, TLS,
HTTP, SQL), so threads overlap them; the bound keeps hundreds of services from opening thousands of sockets at once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bascule.data import DataPair
from bascule.data import problems as data_problems
from bascule.data import status as data_status
from bascule.drills.journal import Redactor
from bascule.drills.lock import DrillLock, holder_running, read_lock
from bascule.readiness.probes import BOTH, NONE
from bascule.readiness.site import SiteReadiness, Trust
from bascule.readiness.target import DrillTarget
from bascule.readiness.verify import PRIMARY, ServiceReadiness, assess

SECONDARY = "secondary"
MIXED = "mixed"
"""Resolvers disagree: some answer the primary, some the secondary (a switch under way, or caches)."""
UNKNOWN = "unknown"
"""No resolver gave an answer that names a site."""


@dataclass(frozen=True)
class Watched:
    """One service to watch: what a client sees of it, the key of the drill lock that covers it, its data pair."""

    target: DrillTarget
    lock_key: str
    pair: DataPair | None = None


@dataclass
class Observation:
    service: str
    hostname: str
    checked_at: datetime
    readiness: ServiceReadiness
    serving: str
    """Where DNS sends clients: `primary`, `secondary`, `mixed`, `both` (fail-open: no site healthy), `none`,
    `unknown`."""
    drill: str | None = None
    """The journal of the drill holding the target's lock, when one runs: the failover is then a drill's."""

    def site(self, role: str) -> SiteReadiness | None:
        return next((s for s in self.readiness.sites if s.role == role), None)

    def site_ready(self, role: str) -> bool:
        found = self.site(role)
        return found is not None and found.ready

    @property
    def lag_seconds(self) -> dict[str, float]:
        """Each database's measured replication lag (at least the wait when the standby did not confirm in time)."""
        lags: dict[str, float] = {}
        for database in (self.readiness.data or {}).get("databases", []):
            value = database.get("lag_seconds")
            value = value if value is not None else database.get("lag_over_seconds")
            if isinstance(value, int | float) and not isinstance(value, bool):
                lags[str(database.get("database"))] = float(value)
        return lags


def serving(readiness: ServiceReadiness) -> str:
    """Where the resolvers that answered send clients."""
    seen = {d.site for d in readiness.dns if d.error is None and d.site is not None}
    if not seen:
        return UNKNOWN
    if seen == {PRIMARY}:
        return PRIMARY
    if seen == {SECONDARY}:
        return SECONDARY
    for single in (BOTH, NONE):
        if seen == {single}:
            return single
    return MIXED


def drill_running(locks: Path, key: str) -> str | None:
    """The journal of the live drill holding the lock on `key`, or None. A lock left by a killed drill is not a
    drill running: a failover then is real until `bascule drill recover` says otherwise."""
    path = DrillLock(locks, key).path
    if not path.is_file():
        return None
    held = read_lock(path)
    return str(held.get("journal") or path) if holder_running(held) else None


def observe(watched: Watched, trust: Trust, timeout: float, locks: Path) -> Observation:
    """One service, as `bascule verify` (with `--data` when it has a pair) would see it."""
    drill = drill_running(locks, watched.lock_key)
    readiness = assess(watched.target, trust, timeout)
    if watched.pair is not None:
        found = data_status(watched.pair)
        readiness.add_data(Redactor(watched.pair.secrets()).data(found.as_json()), data_problems(found))
    return Observation(watched.target.service, watched.target.hostname, datetime.now(UTC), readiness,
                       serving(readiness), drill)  # fmt: skip


def observe_all(
    services: list[Watched],
    trust: Trust,
    timeout: float,
    locks: Path,
    concurrency: int,
    failed: Callable[[Watched, Exception], Any] | None = None,
) -> list[Observation]:
    """Every service, at most `concurrency` at a time, in the order given. An observation that raises (a bug, a
    resource exhausted) is handed to `failed` and left out, so one service never stops the others' watch."""

    def one(item: Watched) -> Observation | None:
        try:
            return observe(item, trust, timeout, locks)
        except Exception as exc:  # one service's failure is reported, never the whole cycle's
            if failed is None:
                raise
            failed(item, exc)
            return None

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="watch") as pool:
        return [found for found in pool.map(one, services) if found is not None]
