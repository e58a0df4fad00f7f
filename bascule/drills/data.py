"""The data half of a drill: a canary writer through the service, promotion of the standby, lost writes counted.

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

import httpx
import psycopg

from bascule.data import DataError
from bascule.data import problems as data_problems
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
        """The data half's readiness, as `verify --data` judges it: both databases up, the standby a replica whose
        subscription runs, its slot safe and its lag within the RPO; a drill must start from primary-with-replica."""
        problems = []
        data = self.sandbox.state.data
        if data is None:
            problems.append(f"the sandbox in {self.sandbox.dir} has no databases (start it with `sandbox up --data`)")
        else:
            pair = self.sandbox.data_pair()
            if self.rpo_seconds is not None:
                pair = replace(pair, rpo_seconds=self.rpo_seconds)
            try:
                problems += data_problems(data_status(pair))
            except (DataError, psycopg.Error) as exc:
                problems.append(f"replication state unreadable: {exc}")
        self.journal.append("data-preflight", ok=not problems, problems=problems)
        return problems

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
