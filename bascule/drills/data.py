"""The data half of a drill: promotion of the standby between the fault and the restore, and what it cost.

On the sandbox (`SandboxDataDrill`) a canary writer through the service counts every acknowledged write and those
lost. On a deployed stack (`StackDataDrill`) the application is the team's and has no canary endpoint, so what the
databases themselves say is measured instead (see there). Both promote with `bascule.data.promote`, each step in the
drill's journal; the restore fails back with `bascule.data.failback` (the sandbox's and the stack's control).

The canary writer is a client of the service: it resolves the hostname as clients do (through the caching resolver
when there is one), then commits one row per request with `POST /canary` on the site DNS gave, and journals each id
the site acknowledged, with the database that committed it. It runs from before the fault to the restore, so the
journal holds every acknowledged write. Promotion happens once the fault is in effect, with the writer paused, by
the same code as `bascule data promote` (`bascule.data.promote`: the old primary fenced when it is reachable, the
subscription stopped, a failback slot kept, the sequences advanced, the standby's app role opened), each step in
the drill's journal; then every id the old primary acknowledged is looked up on the new primary, and those missing
are the lost writes. The restore fails back with `bascule.data.failback`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from typing import Protocol

import httpx
import psycopg

from bascule.data import STANDBY, DataError, DataPair, DataRefused, promote
from bascule.data import problems as data_problems
from bascule.data import sql as q
from bascule.data import status as data_status
from bascule.drills.journal import Journal, read_journal
from bascule.readiness.probes import query_dns
from bascule.readiness.site import Trust, url_for
from bascule.readiness.site import client as client_for
from bascule.readiness.target import DrillTarget, Resolver
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox, SandboxError
from bascule.sandbox import database as db

WRITE_INTERVAL = 0.05
"""Seconds between canary writes: 20 a second bounds the observed RPO's resolution to 50 ms."""
MAX_WRITES = 20_000
"""Acknowledged writes journalled at most (about 2 MB of journal): the writer stops there, and says so."""
BASELINE_SECONDS = 2.0
"""Writes before the fault, from which replication lag and retained WAL are measured."""
WRITE_TIMEOUT = 2.0
FIRST_WRITE_SECONDS = 30.0
"""How long a stack drill tries, after promotion, for the promoted standby to accept a write as the app role."""


class DataDrill(Protocol):
    """What the runner asks of the data half of a drill (`bascule.drills.runner.run_drill`)."""

    def preflight(self) -> list[str]:
        """Why the standby is not ready to be drilled (empty: ready), as `verify --data` judges it; journalled."""
        ...

    def start(self) -> None:
        """Before the fault: the baseline (replication lag, retained WAL), and the canary writer where there is one."""
        ...

    def promote(self) -> None:
        """Once the fault is in effect: promote the standby; journal what it took and cost."""
        ...

    def await_first_write(self, timeout: float) -> bool:
        """Whether the promoted standby accepted a write (waiting up to `timeout` where writes are still coming)."""
        ...

    def stop(self) -> None:
        """Before the restore: stop writing."""
        ...


def preflight_pair(pair: DataPair, rpo_seconds: float | None, journal: Journal) -> list[str]:
    """The data half's readiness, as `verify --data` judges it: both databases up, the standby a replica whose
    subscription runs, its slot safe and its lag within the RPO (`rpo_seconds`, else the pair's); a drill must start
    from primary-with-replica."""
    if rpo_seconds is not None:
        pair = replace(pair, rpo_seconds=rpo_seconds)
    try:
        problems = data_problems(data_status(pair))
    except (DataError, psycopg.Error) as exc:
        problems = [f"replication state unreadable: {exc}"]
    journal.append("data-preflight", ok=not problems, problems=problems)
    return problems


class CanaryWriter(threading.Thread):
    """Commits rows through whichever site DNS answers, journalling each acknowledged id (`write` events) and each
    change of error (`write-error` events, so a long outage costs one line, not one per attempt)."""

    def __init__(self, target: DrillTarget, trust: Trust, journal: Journal):
        super().__init__(name="canary-writer", daemon=True)
        self.target, self.trust, self.journal = target, trust, journal
        self.gate = threading.Lock()
        """Held for each write; promotion holds it so that no write is in flight while the standby takes over."""
        self.halt = threading.Event()
        recursive = [r for r in target.resolvers if r.kind == "recursive"]
        self.resolver: Resolver = (recursive or list(target.resolvers))[0]
        self.acknowledged = 0
        self.on_standby = threading.Event()
        """Set by the first write the standby's database acknowledged (after promotion)."""

    def run(self) -> None:
        last_error: str | None = None
        with client_for(self.trust) as client:
            while not self.halt.is_set() and self.acknowledged < MAX_WRITES:
                with self.gate:
                    if self.halt.is_set():
                        break
                    result = self._write(client)
                if isinstance(result, dict):
                    self.journal.append("write", **result)
                    self.acknowledged += 1
                    if result["database"] == SECONDARY:
                        self.on_standby.set()
                    last_error = None
                elif result != last_error:
                    self.journal.append("write-error", error=result)
                    last_error = result
                self.halt.wait(WRITE_INTERVAL)
        if self.acknowledged >= MAX_WRITES:
            self.journal.append("write-capped", writes=self.acknowledged)

    def _write(self, client: httpx.Client) -> dict[str, object] | str:
        answer = query_dns(self.resolver, self.target, WRITE_TIMEOUT)
        if not answer.answers:
            return f"DNS: {answer.error or 'no answer'}"
        address = answer.answers[0].rstrip(".")
        try:
            response = client.post(
                url_for(address, self.target.port, "/canary"),
                headers={"Host": self.target.hostname},
                extensions={"sni_hostname": self.target.hostname},
                timeout=WRITE_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__} from {address}"
        if response.status_code != 200:
            return f"HTTP {response.status_code} from {address}: {response.text.strip()[:120]}"
        body = json.loads(response.text)
        return {"id": int(body["id"]), "site": str(body["site"]), "database": str(body["database"])}

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout=10)


class SandboxDataDrill:
    """Drives the sandbox's data standby through a drill; every step and figure goes to the journal."""

    def __init__(
        self, sandbox: Sandbox, target: DrillTarget, trust: Trust, journal: Journal, rpo_seconds: float | None = None
    ):
        self.sandbox, self.journal = sandbox, journal
        self.writer = CanaryWriter(target, trust, journal)
        self.rpo_seconds = rpo_seconds
        """The lag the preflight tolerates (the drill's RPO; default: the sandbox service's)."""

    def preflight(self) -> list[str]:
        if self.sandbox.state.data is None:
            problems = [f"the sandbox in {self.sandbox.dir} has no databases (start it with `sandbox up --data`)"]
            self.journal.append("data-preflight", ok=False, problems=problems)
            return problems
        return preflight_pair(self.sandbox.data_pair(), self.rpo_seconds, self.journal)

    def start(self) -> None:
        """Start the writer, let it run for the baseline, then journal lag and retained WAL (`replication`)."""
        data = self.sandbox.state.data
        assert data is not None  # preflight refused a sandbox without databases
        with data.clusters[PRIMARY].connect() as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) FROM canary").fetchone()
        since = int(row[0]) if row else 0
        self.journal.append("canary-start", interval_s=WRITE_INTERVAL, max_writes=MAX_WRITES, after_id=since)
        self.writer.start()
        time.sleep(BASELINE_SECONDS)
        with self.writer.gate:  # the lag of every write acknowledged so far, once replication caught up
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not self._caught_up():
                time.sleep(0.05)
            lags = db.lag_seconds(data.clusters[SECONDARY], since)  # this drill's rows, not a re-seed's copies
            retained = db.slot_retained_bytes(data.clusters[PRIMARY])
        self.journal.append("replication", lags_s=[round(v, 6) for v in lags], wal_retained_bytes=retained)

    def _caught_up(self) -> bool:
        data = self.sandbox.state.data
        assert data is not None
        with data.clusters[PRIMARY].connect() as pub, data.clusters[SECONDARY].connect() as sub:
            top = pub.execute("SELECT coalesce(max(id), 0) FROM canary").fetchone()
            seen = sub.execute("SELECT coalesce(max(id), 0) FROM canary").fetchone()
        return top is not None and seen is not None and seen[0] >= top[0]

    def promote(self) -> None:
        """Promote with the writer paused; then look up each id the old primary acknowledged on the new one."""
        data = self.sandbox.state.data
        assert data is not None
        with self.writer.gate:
            self.journal.append("promote")
            try:
                result = self.sandbox.promote(self.journal)
            except SandboxError as exc:
                self.journal.append("promote-failed", error=str(exc))
                return
            sequences = {seq: value for found in result.sequences.values() for seq, value in found.items()}
            done = self.journal.append("promoted", sequences=sequences, caught_up=result.caught_up,
                                       fenced=result.primary_reachable, notes=result.notes)  # fmt: skip
            ids = self.acknowledged_on_primary()
            try:
                present = db.present_ids(data.clusters[SECONDARY], ids)
            except db.ERRORS as exc:
                self.journal.append("lost-writes-unknown", error=str(exc))
                return
            missing = sorted(set(ids) - present)
            self.journal.append("lost-writes", checked=len(ids), missing_ids=missing, promoted_seq=done["seq"])

    def acknowledged_on_primary(self) -> list[int]:
        """Ids journalled as acknowledged by the primary's database (read back from the journal: the record)."""
        return [
            int(e["id"])
            for e in read_journal(self.journal.path)
            if e["kind"] == "write" and e.get("database") == PRIMARY
        ]

    def await_first_write(self, timeout: float) -> bool:
        """Wait until the new primary acknowledged a write (the writer keeps going meanwhile)."""
        return self.writer.on_standby.wait(timeout)

    def stop(self) -> None:
        self.writer.stop()
        self.journal.append("canary-stop", acknowledged=self.writer.acknowledged)


class StackDataDrill:
    """The data half of a drill on a deployed stack. A stack's application is the team's and has no canary endpoint,
    so no write goes through the service and acknowledged or lost writes are not counted (the report says so).
    Measured instead, through the two databases: the standby's lag before the fault (`bascule data status`'s
    measurement), the promotion (the same `bascule.data.promote` as the command: fence, catch-up, sequences) and how
    long it took, whether the standby had confirmed everything the fenced primary committed (caught up: no
    committed write lost), and the first write the promoted standby accepts from the app role, through a direct
    connection with the app's own password (a temporary table, rolled back: no table of the application is
    touched). The restore fails back (`PulumiStackControl` with its data standby)."""

    def __init__(self, pair: DataPair, journal: Journal, rpo_seconds: float | None = None):
        self.pair, self.journal, self.rpo_seconds = pair, journal, rpo_seconds
        self.accepted = False

    def preflight(self) -> list[str]:
        return preflight_pair(self.pair, self.rpo_seconds, self.journal)

    def start(self) -> None:
        self.journal.append("data-start", canary=False, databases=list(self.pair.databases),
                            why="no canary writer: the stack's application has no canary endpoint")  # fmt: skip
        found = data_status(self.pair)
        lags = [d.lag_seconds for d in found.databases if d.lag_seconds is not None]
        retained = [int(d.slot["retained_bytes"]) for d in found.databases if d.slot and d.slot["retained_bytes"]]
        self.journal.append("replication", lags_s=[round(v, 6) for v in lags],
                            wal_retained_bytes=max(retained, default=None))  # fmt: skip

    def promote(self) -> None:
        """Promote, then ask the promoted standby for a write as the app until it takes one."""
        self.journal.append("promote")
        try:
            result = promote(self.pair, self.journal)
        except (DataRefused, DataError, psycopg.Error) as exc:
            self.journal.append("promote-failed", error=" ".join(str(exc).split()))
            return
        sequences = {seq: value for found in result.sequences.values() for seq, value in found.items()}
        self.journal.append("promoted", sequences=sequences, caught_up=result.caught_up,
                            fenced=result.primary_reachable, notes=result.notes)  # fmt: skip
        deadline, last = time.monotonic() + FIRST_WRITE_SECONDS, None
        while time.monotonic() < deadline:
            last = q.app_probe(self.pair, STANDBY, self.pair.databases[0])
            if last == q.APP_WRITABLE:
                self.accepted = True
                via = f"a direct connection as {self.pair.app_role}"
                self.journal.append("first-write", database=SECONDARY, via=via)
                return
            if last is None:
                break
            time.sleep(0.2)
        self.journal.append("first-write-failed", last=last or "the app role's password is not in the stack's state")

    def await_first_write(self, timeout: float) -> bool:
        return self.accepted

    def stop(self) -> None:
        self.journal.append("data-stop")
