"""Promotion and failback of a data pair, one implementation for the sandbox and for deployed stacks.

Each operation is a list of steps; each step first asks the databases whether it is already done, so an
interrupted operation is finished by running it again (or by `bascule drill recover`, which does just that), and a
dry run asks the same questions and changes nothing. Every step goes to the journal as it completes.

Who may write is told through the databases themselves (docs/data.md): on the side that must not take writes the
app role is fenced, `ALTER ROLE ... NOLOGIN` (and read-only, belt and braces) with its sessions ended, which no
client can undo; on the writer it may log in and write. A replica's app role may log in to read, read-only by
default: a guard against an application that does not ask to write, not a fence (`bascule.data.sql.AppRole`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg import sql

from bascule.data import sql as q
from bascule.data.pair import PRIMARY, STANDBY, DataError, DataPair, Sessions, one_line
from bascule.data.status import database_state
from bascule.spec.data import FAILING_BACK, PROMOTED, PROMOTING, REPLICA, WRITER_STATES

PROMOTE, FAILBACK = "promote", "failback"
CATCH_UP_SECONDS = 30.0
"""How long promotion waits for the standby to confirm everything the fenced primary wrote (zero loss when it does;
the promotion goes on either way, recording whether it caught up)."""
FENCE_SECONDS = 10.0
"""How long fencing keeps ending the app's sessions from before the fence until none is left."""
REPLAY_SECONDS = 300.0
"""How long failback waits for the primary to replay what the standby wrote since promotion, or for a re-seeded
standby to copy its tables; past it the step fails and running failback again keeps waiting."""


class Recorder(Protocol):
    """Where each fact goes as it happens: `bascule.drills.journal.Journal` (a drill's, or the data commands')."""

    def append(self, kind: str, **data: Any) -> dict[str, Any]: ...


class DataRefused(Exception):
    """The operation is unsafe or impossible as things stand; nothing was changed. Exit 3."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class StepFailed(DataError):
    """A step failed part way: what is done stays done, and running the operation again continues from here."""

    def __init__(self, step: str, where: str, error: str):
        super().__init__(f"{step} on {where}: {error}")
        self.step, self.where, self.error = step, where, error


@dataclass(frozen=True)
class StepResult:
    step: str
    where: str
    status: str
    """done (changed now), already (found done), would (dry run: not done yet), skipped (not needed here)."""
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"step": self.step, "where": self.where, "status": self.status, "detail": self.detail}


@dataclass
class OperationResult:
    operation: str
    service: str
    source: str
    dry_run: bool
    outcome: str = "done"
    """done, nothing-to-do (already in the asked state), planned (dry run)."""
    steps: list[StepResult] = field(default_factory=list)
    forced: str | None = None
    primary_reachable: bool = True
    notes: list[str] = field(default_factory=list)
    """What the operator must know afterwards (the primary was not fenced, no failback slot, ...)."""
    sequences: dict[str, dict[str, int]] = field(default_factory=dict)
    """Database -> sequence -> its next value, as advanced on the side that became writable."""
    caught_up: dict[str, bool] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"operation": self.operation, "service": self.service, "source": self.source, "dry_run": self.dry_run,
                "outcome": self.outcome, "forced": self.forced, "primary_reachable": self.primary_reachable,
                "steps": [s.as_json() for s in self.steps], "notes": self.notes, "sequences": self.sequences,
                "caught_up": self.caught_up}  # fmt: skip


class _Quiet:
    def append(self, kind: str, **data: Any) -> dict[str, Any]:
        return {}


OnStep = Callable[[StepResult], None]


def _does(text: str, action: Callable[..., object], *args: Any, **kwargs: Any) -> Callable[[], str]:
    """A step's action: call `action(*args, **kwargs)`, then say `text`."""

    def act() -> str:
        action(*args, **kwargs)
        return text

    return act


class _Run:
    """Runs steps in order: each is checked, then done unless it is done already (or this is a dry run)."""

    def __init__(self, result: OperationResult, journal: Recorder, on_step: OnStep | None):
        self.result, self.journal, self.on_step = result, journal, on_step

    def step(self, name: str, where: str, does: str, done: Callable[[], str | None], act: Callable[[], str]) -> bool:
        """`done()` says why the step is already done (None: it is not); `act()` does it and says what it did.
        Returns whether the step was done now (False: already done, or a dry run)."""
        try:
            already = done()
            if already is not None:
                return self._record(StepResult(name, where, "already", already), False)
            if self.result.dry_run:
                return self._record(StepResult(name, where, "would", does), False)
            detail = act()
        except (DataError, psycopg.Error) as exc:
            error = exc.error if isinstance(exc, StepFailed) else one_line(exc)
            self.journal.append("data-failed", operation=self.result.operation, step=name, where=where, error=error)
            raise StepFailed(name, where, error) from exc
        return self._record(StepResult(name, where, "done", detail), True)

    def skip(self, name: str, where: str, why: str) -> None:
        self._record(StepResult(name, where, "skipped", why), False)

    def _record(self, result: StepResult, changed: bool) -> bool:
        self.result.steps.append(result)
        self.journal.append("data-step", operation=self.result.operation, **result.as_json())
        if self.on_step is not None:
            self.on_step(result)
        return changed


def _fence(pair: DataPair, sessions: Sessions, side: str) -> tuple[str, list[str]]:
    """Make `side` refuse the app: its role NOLOGIN (and read-only, belt and braces), every session from before
    ended. Returns what was done and proven, and what still lets the app in (empty when fenced)."""
    conn = sessions.get(side, pair.databases[0])
    since = q.set_app_role(conn, pair.app_role, login=False, read_only=True)
    ended, remaining = 0, 1
    deadline = time.monotonic() + FENCE_SECONDS
    while remaining and time.monotonic() < deadline:
        # Again until none is left: a session still logging in when the role changed may have passed the login
        # check, and shows its user in pg_stat_activity only once it has finished starting, after the first pass.
        ended += q.end_sessions(conn, pair.app_role, since)
        remaining = q.old_sessions(conn, pair.app_role, since)
        if remaining:
            time.sleep(0.1)
    left = []
    if remaining:
        left.append(f"{remaining} app sessions from before the fence are still open")
    role = q.app_role(conn, pair.app_role)
    if role is None or not role.fenced:
        left.append(f"{pair.app_role} may still log in")
    proofs = []
    for database in pair.databases:
        probe = q.app_probe(pair, side, database)
        if probe in (q.APP_READ_ONLY, q.APP_WRITABLE):
            left.append(f"database {database}: a login as {pair.app_role} was accepted ({probe})")
        elif probe is None:
            proofs.append("the app's password is unknown here: checked through the catalogs and the sessions")
        elif probe != q.APP_REFUSED:  # the login could not be tried (a stale password): the catalogs still say
            proofs.append(f"database {database}: no proof by login ({probe})")
    proof = "; ".join(dict.fromkeys(proofs)) or "a login as the app is refused"
    return f"{pair.app_role} NOLOGIN and read-only, {ended} sessions ended, {proof}", left


def _open(pair: DataPair, sessions: Sessions, side: str) -> str:
    """Make `side` the writer: the app role may log in and write; its sessions from before (read-only, or none on a
    fenced side) are ended so they reconnect writable; a write as the app proves it where its password is known."""
    conn = sessions.get(side, pair.databases[0])
    since = q.set_app_role(conn, pair.app_role, login=True, read_only=False)
    ended = q.end_sessions(conn, pair.app_role, since)
    probe = q.app_probe(pair, side, pair.databases[0])
    if probe in (q.APP_REFUSED, q.APP_READ_ONLY):
        raise DataError(f"{pair.app_role} was opened, but a write as the app found it {probe}")
    proofs = {q.APP_WRITABLE: ", a write as the app is accepted", None: ""}
    proof = proofs.get(probe, f"; no proof by a write ({probe})")
    return f"{pair.app_role} may log in and write; {ended} read-only sessions ended so they reconnect writable{proof}"


def _is(pair: DataPair, sessions: Sessions, side: str, writable: bool) -> str | None:
    """A step's `done`: why the app role on `side` is already as wanted (writable, or a replica's read-only guard
    that may log in), else None."""
    role = q.app_role(sessions.get(side, pair.databases[0]), pair.app_role)
    if role is not None and role.login and role.read_only == (not writable):
        return "already writable" if writable else "already read-only, and may log in to read"
    return None


def _fence_preconditions(pair: DataPair, sessions: Sessions, side: str) -> list[str]:
    """What would stop `side` being fenced, checked before anything is changed."""
    conn = sessions.get(side, pair.databases[0])
    if q.app_role(conn, pair.app_role) is None:
        return [f"{side} {pair.endpoint(side).address}: there is no role {pair.app_role} to fence"]
    if q.fence_rights(conn, pair.app_role):
        user = pair.endpoint(side).user
        return [f"{side} {pair.endpoint(side).address}: {user} cannot see and end the app's sessions, so the fence "
                f"would not hold for sessions already open; run `GRANT {pair.app_role} TO {user}` there as the "
                f"role that created {pair.app_role} (or `GRANT pg_signal_backend, pg_read_all_stats TO {user}`); "
                "on the standby the sync job does it at its next run"]  # fmt: skip
    return []


def _writable(pair: DataPair, sessions: Sessions, side: str) -> bool:
    role = q.app_role(sessions.get(side, pair.databases[0]), pair.app_role)
    return role is not None and role.writable


def _records(pair: DataPair, sessions: Sessions, side: str) -> dict[str, dict[str, Any] | None]:
    return {db: q.read_record(sessions.get(side, db), side) for db in pair.databases}


def _subscriptions(pair: DataPair, sessions: Sessions) -> dict[str, dict[str, Any] | None]:
    return {db: q.subscription(sessions.get(STANDBY, db), pair.subscriptions[db]) for db in pair.databases}


def promote(
    pair: DataPair,
    journal: Recorder | None = None,
    force_reason: str | None = None,
    dry_run: bool = False,
    on_step: OnStep | None = None,
    catch_up_seconds: float = CATCH_UP_SECONDS,
) -> OperationResult:
    """Make the standby the writer: fence the old primary when reachable, wait for the standby to confirm what it
    wrote, stop the subscription, keep a failback slot, advance the sequences, record it, open the standby's app role.

    Refuses (`DataRefused`, nothing changed) when the standby cannot be reached, or the primary is reachable but
    cannot be fenced (its admin may not end sessions, the fence does not hold), or a failback is half done; a
    `force_reason` overrides the last two and is recorded. Raises `StepFailed` when a step fails part way.
    """
    result = OperationResult(PROMOTE, pair.service, pair.source, dry_run, forced=force_reason)
    return _operate(
        pair,
        journal or _Quiet(),
        result,
        lambda sessions, recorder: _promote(pair, sessions, recorder, result, on_step, catch_up_seconds),
    )


def _operate(
    pair: DataPair, journal: Recorder, result: OperationResult, steps: Callable[[Sessions, Recorder], None]
) -> OperationResult:
    """Run an operation's `steps` over one set of sessions to the pair; a refusal is journalled, then raised."""
    with Sessions(pair) as sessions:
        try:
            steps(sessions, journal)
        except DataRefused as exc:
            journal.append("data-refused", operation=result.operation, reasons=exc.reasons)
            raise
    return result


def _promote(
    pair: DataPair, sessions: Sessions, journal: Recorder, result: OperationResult, on_step: OnStep | None,
    catch_up_seconds: float,
) -> None:  # fmt: skip
    if not sessions.reachable(STANDBY):
        raise DataRefused([f"the standby {pair.standby.address} cannot be reached ({sessions.error(STANDBY)}): "
                           "there is nothing to promote"])  # fmt: skip
    primary_up = result.primary_reachable = sessions.reachable(PRIMARY)
    records, subs = _records(pair, sessions, STANDBY), _subscriptions(pair, sessions)
    writable = _writable(pair, sessions, STANDBY)
    states = {db: database_state(records[db], subs[db], writable) for db in pair.databases}
    if set(states.values()) == {PROMOTED} and writable and not primary_up:
        result.outcome = "nothing-to-do"
        result.notes.append("already promoted: the standby is the writer")
        return
    problems = []
    if FAILING_BACK in states.values():
        problems.append("a failback is half done: finish it with `bascule data failback` before promoting again")
    fence_problems = _fence_preconditions(pair, sessions, PRIMARY) if primary_up else []
    problems += fence_problems
    if problems and result.forced is None:
        raise DataRefused(problems)
    journal.append("data-operation", operation=PROMOTE, service=pair.service, source=pair.source,
                   dry_run=result.dry_run, primary_reachable=primary_up, forced=result.forced,
                   overridden=problems)  # fmt: skip
    run = _Run(result, journal, on_step)
    fenced = False
    if primary_up and not fence_problems:
        fenced = _promote_fence(pair, sessions, run, result)
    elif primary_up:
        run.skip("fence-primary", PRIMARY, f"forced ({result.forced}): {'; '.join(fence_problems)}")
        result.notes.append(f"the primary was NOT fenced (forced: {result.forced}); its app can still write there")
    else:
        run.skip("fence-primary", PRIMARY, f"unreachable: {sessions.error(PRIMARY)}")
        result.notes.append("the primary could not be reached, so it was not fenced: if it still runs, its app can "
                            "still write there; `bascule data promote` again fences it once reachable")  # fmt: skip
    for db in pair.databases:
        _promote_database(pair, sessions, run, result, db, records[db], subs[db], fenced, catch_up_seconds)
    run.step("open-standby", STANDBY, f"let {pair.app_role} log in and write on the standby, end its read-only "
             "sessions", lambda: _is(pair, sessions, STANDBY, writable=True),
             lambda: _open(pair, sessions, STANDBY))  # fmt: skip
    result.outcome = "planned" if result.dry_run else "done"
    journal.append("data-done", operation=PROMOTE, outcome=result.outcome, notes=result.notes,
                   sequences=result.sequences, caught_up=result.caught_up)  # fmt: skip


def _promote_fence(pair: DataPair, sessions: Sessions, run: _Run, result: OperationResult) -> bool:
    """Fence the reachable primary; when the fence does not hold, undo it and refuse (unless forced)."""
    left: list[str] = []

    def act() -> str:
        done, found = _fence(pair, sessions, PRIMARY)
        left.extend(found)
        if found and result.forced is None:
            q.set_app_role(sessions.get(PRIMARY, pair.databases[0]), pair.app_role, login=True, read_only=False)
            raise DataRefused([f"the primary {pair.primary.address} still lets the app in after fencing: "
                               f"{'; '.join(found)}; the fence was undone"])  # fmt: skip
        return done + (f"; forced ({result.forced}) although {'; '.join(found)}" if found else "")

    run.step("fence-primary", PRIMARY, f"make {pair.app_role} NOLOGIN (and read-only) on the primary, end its "
             "sessions, check that a login as the app is refused", lambda: None, act)  # fmt: skip
    return not left


def _promote_database(
    pair: DataPair, sessions: Sessions, run: _Run, result: OperationResult, db: str, record: dict[str, Any] | None,
    sub: dict[str, Any] | None, fenced: bool, catch_up_seconds: float,
) -> None:  # fmt: skip
    standby = f"{STANDBY}/{db}"
    name = pair.subscriptions[db]

    def conn() -> psycopg.Connection[Any]:
        return sessions.get(STANDBY, db)

    detail: dict[str, Any] = dict((record or {}).get("detail") or {})
    if record is None or record.get("state") not in (PROMOTING, PROMOTED):
        forward_slot = (sub or {}).get("slot_name") or name
        tables = q.subscribed_tables(conn(), name) if sub is not None else []
        detail = {"tables": tables}  # a new promotion: nothing of an earlier one carries over
        run.step("begin", standby, f"record the promotion as begun (forward slot {forward_slot}, {len(tables)} "
                 "tables)", lambda: None,
                 _does("promotion begun", q.write_record, conn(), STANDBY, state=PROMOTING, operation=PROMOTE,
                       forced=result.forced, forward_slot=forward_slot, writable_since=None, caught_up=None,
                       reverse_slot=None, detail=detail))  # fmt: skip
    resuming = record is not None and record.get("state") in (PROMOTING, PROMOTED)
    caught_up = resuming and bool((record or {}).get("caught_up"))
    if fenced and sub is not None and not sub["enabled"]:
        run.skip("catch-up", standby, f"subscription {name} is disabled: the standby cannot catch up")
        result.notes.append(f"database {db}: the subscription was disabled, so the standby lacks what the primary "
                            "wrote since; that is lost to it")  # fmt: skip
    elif fenced and sub is not None:
        slot_name = str(sub.get("slot_name") or name)

        def catch_up() -> str:
            nonlocal caught_up
            target = q.flush_lsn(sessions.get(PRIMARY, db))
            took = q.wait_confirmed(sessions.get(PRIMARY, db), slot_name, target, catch_up_seconds)
            caught_up = took is not None
            q.write_record(conn(), STANDBY, state=PROMOTING, caught_up=caught_up)  # kept if the promotion resumes
            if not caught_up:
                result.notes.append(f"database {db}: the standby had not confirmed the fenced primary's last writes "
                                    f"within {catch_up_seconds:g} s: what it lacked is lost to it")  # fmt: skip
            return (f"the standby confirmed the primary's position {target} in {took:.2f} s" if caught_up
                    else f"NOT caught up with {target} within {catch_up_seconds:g} s")  # fmt: skip

        run.step("catch-up", standby, "wait for the standby to confirm everything the fenced primary wrote",
                 lambda: None, catch_up)  # fmt: skip
    result.caught_up[db] = caught_up
    run.step("stop-subscription", standby,
             f"disable and drop subscription {name}" + ("" if sessions.reachable(PRIMARY)
                                                        else " (its slot on the unreachable primary detached)"),
             lambda: "no subscription" if q.subscription(conn(), name) is None else None,
             _does("dropped", q.drop_subscription, conn(), name, sessions.reachable(PRIMARY)))  # fmt: skip
    tables = list(detail.get("tables") or [])
    reverse = q.reverse_slot(db)
    if tables:
        run.step("failback-publication", standby, f"publish the {len(tables)} replicated tables back "
                 f"({q.REVERSE_PUBLICATION})",
                 lambda: "exists" if q.publication_exists(conn(), q.REVERSE_PUBLICATION) else None,
                 _does("created", q.create_publication, conn(), q.REVERSE_PUBLICATION, tables))  # fmt: skip
        slot_error: list[str] = []

        def make_slot() -> str:
            try:
                q.create_slot(conn(), reverse)
            except psycopg.Error as exc:  # promotion must not wait on failback's needs: noted, failback refuses
                slot_error.append(one_line(exc))
                result.notes.append(f"database {db}: no failback slot ({one_line(exc)}): `bascule data failback` "
                                    "will refuse; see docs/data.md")  # fmt: skip
                return f"NOT created: {one_line(exc)}"
            return "created: from now on the standby keeps every change for failback"

        run.step("failback-slot", standby, f"create the logical slot {reverse} that keeps every change for failback",
                 lambda: "exists" if q.slot(conn(), reverse) is not None else None, make_slot)  # fmt: skip
        kept = None if slot_error else reverse
    else:
        run.skip("failback-slot", standby, "no replicated tables recorded: nothing to publish back")
        result.notes.append(f"database {db}: no failback slot (no replicated tables were recorded)")
        kept = None

    def advance() -> str:
        result.sequences[db] = q.advance_sequences(conn(), q.SEQUENCE_GAP)
        return ", ".join(f"{s} -> {v}" for s, v in result.sequences[db].items()) or "no sequences"

    run.step("advance-sequences", standby, f"move every sequence past its column's max (+{q.SEQUENCE_GAP})",
             lambda: "done before" if record and record.get("state") == PROMOTED else None, advance)  # fmt: skip
    if record and record.get("state") == PROMOTED:
        result.sequences.setdefault(db, dict((record.get("detail") or {}).get("sequences") or {}))
    detail.update(sequences=result.sequences.get(db, {}))
    run.step("record", standby, "record the promotion (promoted, writable from now)",
             lambda: "recorded" if record and record.get("state") == PROMOTED else None,
             lambda: _does("promoted", q.write_record, conn(), STANDBY, state=PROMOTED, operation=PROMOTE,
                           forced=result.forced, writable_since="now", caught_up=caught_up,
                           reverse_slot=kept or (record or {}).get("reverse_slot"), detail=detail)())  # fmt: skip
    if sessions.reachable(PRIMARY):
        run.step("record-primary", f"{PRIMARY}/{db}", "record on the primary that it is fenced",
                 lambda: "recorded" if (q.read_record(sessions.get(PRIMARY, db), PRIMARY) or {}).get("state")
                 == "fenced" else None,
                 _does("fenced", q.write_record, sessions.get(PRIMARY, db), PRIMARY, state="fenced",
                       operation=PROMOTE, forced=result.forced))  # fmt: skip


def failback(
    pair: DataPair,
    journal: Recorder | None = None,
    dry_run: bool = False,
    on_step: OnStep | None = None,
    replay_seconds: float = REPLAY_SECONDS,
) -> OperationResult:
    """Return a promoted pair to primary-with-replica, with every row written on the standby on the primary once.

    Why reverse replication, not a re-seed of the primary: promotion left a logical slot on the standby, made before
    the standby took its first write, so it holds exactly what the standby did since (inserts, updates and deletes, in
    commit order, nothing from before). The primary subscribes to it and replays it: nothing is copied twice and
    nothing is missed, and rows the old primary acknowledged but never shipped (the promotion's lost writes) stay on
    it rather than being overwritten, which re-seeding the primary from the standby would do, after copying the
    whole database across clouds while the service waits. A key-by-key merge was not chosen either: it cannot tell a
    row the standby deleted from one the standby never had.

    Steps: record the failback as begun; drop the forward slot a detached subscription left on the primary; subscribe
    the primary to the failback slot; fence the standby; wait until the primary has replayed everything; drop the
    failback subscription, slot and publication; advance the primary's sequences past the standby's rows; subscribe
    the standby again (copy_data = false when it had confirmed every primary write at promotion, else re-seeded:
    its tables emptied and copied whole); record it; open the primary's app role.

    Refuses (`DataRefused`, nothing changed) when either side cannot be reached, the standby cannot be fenced, or its
    failback slot is missing or lost (then what it wrote cannot be replayed: docs/data.md, "When failback refuses").
    Raises `StepFailed` when a step fails part way (running failback again continues).
    """
    result = OperationResult(FAILBACK, pair.service, pair.source, dry_run)
    return _operate(
        pair,
        journal or _Quiet(),
        result,
        lambda sessions, recorder: _failback(pair, sessions, recorder, result, on_step, replay_seconds),
    )


def _failback(
    pair: DataPair, sessions: Sessions, journal: Recorder, result: OperationResult, on_step: OnStep | None,
    replay_seconds: float,
) -> None:  # fmt: skip
    down = [f"the {side} {pair.endpoint(side).address} cannot be reached ({sessions.error(side)})"
            for side in (STANDBY, PRIMARY) if not sessions.reachable(side)]  # fmt: skip
    if down:
        raise DataRefused([*down, "failback needs both databases; run it again once they answer"])
    records, subs = _records(pair, sessions, STANDBY), _subscriptions(pair, sessions)
    writable = _writable(pair, sessions, STANDBY)
    states = {db: database_state(records[db], subs[db], writable) for db in pair.databases}
    primary_fenced = not _writable(pair, sessions, PRIMARY)
    guarded = _is(pair, sessions, STANDBY, writable=False) is not None
    if set(states.values()) == {REPLICA} and guarded and not primary_fenced:
        result.outcome = "nothing-to-do"
        result.notes.append("not promoted: the primary is the writer and the standby its replica")
        return
    problems = _fence_preconditions(pair, sessions, STANDBY)
    replay = {db: bool((records[db] or {}).get("writable_since")) or (writable and states[db] == PROMOTED)
              for db in pair.databases}  # fmt: skip
    for db in pair.databases:
        if not replay[db]:
            continue
        record = records[db] or {}
        slot = q.slot(sessions.get(STANDBY, db), q.reverse_slot(db))
        replaying = q.subscription(sessions.get(PRIMARY, db), q.REVERSE_SUBSCRIPTION) is not None
        if slot is None and not (record.get("state") == FAILING_BACK and not replaying and _replayed(record)):
            problems.append(f"database {db}: the standby has no failback slot {q.reverse_slot(db)} "
                            f"({'never made at promotion' if not record.get('reverse_slot') else 'it was dropped'}): "
                            "what it wrote since promotion cannot be replayed; see docs/data.md, \"When failback "
                            "refuses\"")  # fmt: skip
        elif slot is not None and slot["wal_status"] == "lost":
            problems.append(f"database {db}: the standby's failback slot {q.reverse_slot(db)} is lost (its WAL was "
                            "removed): what it wrote since promotion cannot be replayed; see docs/data.md")  # fmt: skip
    if problems:
        raise DataRefused(problems)
    if not primary_fenced and PROMOTED in states.values():
        result.notes.append("the primary was not fenced while the standby was promoted: rows its app wrote meanwhile "
                            "stay beside the standby's, and a key both sides used stops the replay (the step then "
                            "fails, naming it in the primary's log)")  # fmt: skip
    journal.append("data-operation", operation=FAILBACK, service=pair.service, source=pair.source,
                   dry_run=result.dry_run, replay=replay)  # fmt: skip
    run = _Run(result, journal, on_step)
    for db in pair.databases:
        _failback_begin(pair, sessions, run, db, records[db], replay[db])
    run.step("fence-standby", STANDBY, f"make {pair.app_role} NOLOGIN (and read-only) on the standby, end its "
             "sessions, check that a login as the app is refused", lambda: None,
             lambda: _fence_standby(pair, sessions))  # fmt: skip
    for db in pair.databases:
        if replay[db]:
            _failback_replay(pair, sessions, run, db, replay_seconds)
        else:
            run.skip("replay", f"{PRIMARY}/{db}", "the standby never took the app's writes: nothing to replay")
        _drop_failback_objects(pair, sessions, run, db)

        def advance(db: str = db) -> str:
            result.sequences[db] = q.advance_sequences(sessions.get(PRIMARY, db), 1)
            return ", ".join(f"{s} -> {v}" for s, v in result.sequences[db].items()) or "no sequences"

        run.step("advance-sequences", f"{PRIMARY}/{db}", "move every sequence past its column's max (the standby's "
                 "rows included)", lambda: None, advance)  # fmt: skip
        caught_up = bool((records[db] or {}).get("caught_up"))
        result.caught_up[db] = caught_up
        _subscribe_standby(pair, sessions, run, db, caught_up, replay_seconds)
        run.step(
            "record",
            f"{STANDBY}/{db}",
            "record the failback (a replica again)",
            lambda: None,
            _does("replica", _record_failed_back, sessions, db),
        )
    run.step("open-primary", PRIMARY, f"let {pair.app_role} log in and write on the primary, end its read-only "
             "sessions", lambda: _is(pair, sessions, PRIMARY, writable=True),
             lambda: _open(pair, sessions, PRIMARY))  # fmt: skip
    run.step("guard-standby", STANDBY, f"let {pair.app_role} log in to the standby again, read-only by default (the "
             "replica's guard)", lambda: _is(pair, sessions, STANDBY, writable=False),
             _does(f"{pair.app_role} may log in, read-only by default", q.set_app_role,
                   sessions.get(STANDBY, pair.databases[0]), pair.app_role, login=True, read_only=True))  # fmt: skip
    result.outcome = "planned" if result.dry_run else "done"
    journal.append("data-done", operation=FAILBACK, outcome=result.outcome, notes=result.notes,
                   sequences=result.sequences, caught_up=result.caught_up)  # fmt: skip


def _record_failed_back(sessions: Sessions, db: str) -> None:
    q.write_record(
        sessions.get(STANDBY, db),
        STANDBY,
        state=REPLICA,
        operation=FAILBACK,
        writable_since=None,
        reverse_slot=None,
        forced=None,
        caught_up=None,
        forward_slot=None,
        detail={},
    )
    q.write_record(sessions.get(PRIMARY, db), PRIMARY, state="primary", operation=FAILBACK, forced=None)


def _promotion_detail(record: dict[str, Any] | None) -> dict[str, Any]:
    """What the promotion recorded (tables, sequences), without an earlier failback's progress."""
    return {k: v for k, v in dict((record or {}).get("detail") or {}).items() if k in ("tables", "sequences")}


def _replayed(record: dict[str, Any]) -> bool:
    """The failback record says the primary replayed everything (the failback slot may then be gone)."""
    return bool((record.get("detail") or {}).get("replayed"))


def _fence_standby(pair: DataPair, sessions: Sessions) -> str:
    done, left = _fence(pair, sessions, STANDBY)
    if left:
        raise DataError(f"the standby still lets the app in after fencing: {'; '.join(left)}")
    return done


def _failback_begin(
    pair: DataPair, sessions: Sessions, run: _Run, db: str, record: dict[str, Any] | None, replay: bool
) -> None:
    conn = sessions.get(STANDBY, db)
    run.step("begin", f"{STANDBY}/{db}", "record the failback as begun",
             lambda: "begun before" if record and record.get("state") == FAILING_BACK else None,
             _does("failback begun", q.write_record, conn, STANDBY, state=FAILING_BACK, operation=FAILBACK,
                   detail={**_promotion_detail(record), "replay": replay}))  # fmt: skip
    forward = (record or {}).get("forward_slot") or pair.subscriptions[db]
    primary = sessions.get(PRIMARY, db)

    def stale() -> str | None:
        found = q.slot(primary, forward)
        return "no slot left" if found is None or q.subscription(conn, pair.subscriptions[db]) is not None else None

    run.step("drop-stale-slot", f"{PRIMARY}/{db}", f"drop the slot {forward} the detached subscription left (it "
             "retains WAL until dropped)", stale, _does("dropped", q.drop_slot, primary, forward))  # fmt: skip
    if replay:
        run.step("subscribe-primary", f"{PRIMARY}/{db}", f"subscribe the primary to the standby's failback slot "
                 f"{q.reverse_slot(db)} (copy_data = false: only what the standby did since promotion)",
                 lambda: "subscribed" if q.subscription(primary, q.REVERSE_SUBSCRIPTION) is not None
                 or _replayed(record or {}) else None,
                 _does("subscribed", q.create_subscription, primary, q.REVERSE_SUBSCRIPTION,
                       pair.standby.conninfo(db), q.REVERSE_PUBLICATION, copy_data=False,
                       slot=q.reverse_slot(db)))  # fmt: skip


def _failback_replay(pair: DataPair, sessions: Sessions, run: _Run, db: str, replay_seconds: float) -> None:
    standby = sessions.get(STANDBY, db)

    def replay() -> str:
        target = q.flush_lsn(standby)  # the standby is fenced: nothing is written after this
        took = q.wait_confirmed(standby, q.reverse_slot(db), target, replay_seconds)
        if took is None:
            raise DataError(f"the primary has not replayed the standby's changes up to {target} within "
                            f"{replay_seconds:g} s; run failback again to keep waiting")  # fmt: skip
        record = q.read_record(standby, STANDBY) or {}
        q.write_record(standby, STANDBY, state=FAILING_BACK, detail={**dict(record.get("detail") or {}),
                                                                        "replayed": True})  # fmt: skip
        return f"the primary replayed everything up to {target} in {took:.2f} s"

    run.step("replay", f"{PRIMARY}/{db}", "wait until the primary has replayed everything the standby wrote",
             lambda: "replayed before" if _replayed(q.read_record(standby, STANDBY) or {}) else None,
             replay)  # fmt: skip


def _drop_failback_objects(pair: DataPair, sessions: Sessions, run: _Run, db: str) -> None:
    primary, standby = sessions.get(PRIMARY, db), sessions.get(STANDBY, db)
    run.step(
        "drop-failback-subscription",
        f"{PRIMARY}/{db}",
        f"drop {q.REVERSE_SUBSCRIPTION} (and with it the standby's failback slot)",
        lambda: "none" if q.subscription(primary, q.REVERSE_SUBSCRIPTION) is None else None,
        _does("dropped", q.drop_subscription, primary, q.REVERSE_SUBSCRIPTION, publisher_reachable=True),
    )
    run.step("drop-failback-slot", f"{STANDBY}/{db}", f"drop {q.reverse_slot(db)} and {q.REVERSE_PUBLICATION}",
             lambda: "none" if q.slot(standby, q.reverse_slot(db)) is None
             and not q.publication_exists(standby, q.REVERSE_PUBLICATION) else None,
             lambda: _drop_slot_and_publication(standby, db))  # fmt: skip


def _drop_slot_and_publication(standby: psycopg.Connection[Any], db: str) -> str:
    if q.slot(standby, q.reverse_slot(db)) is not None:
        q.drop_slot(standby, q.reverse_slot(db))
    q.drop_publication(standby, q.REVERSE_PUBLICATION)
    return "dropped"


def _subscribe_standby(
    pair: DataPair, sessions: Sessions, run: _Run, db: str, copy_free: bool, wait_seconds: float
) -> None:
    """The forward subscription again: without a copy when the standby already holds all the primary has (it
    confirmed every write at promotion, and the primary has since replayed the standby's), else re-seeded."""
    standby = sessions.get(STANDBY, db)
    name = pair.subscriptions[db]

    def done() -> str | None:
        sub = q.subscription(standby, name)
        if sub is None or not sub["enabled"] or sub["tables_not_ready"]:
            return None
        slot = q.slot(sessions.get(PRIMARY, db), str(sub["slot_name"] or name))
        return "replicating" if slot is not None and slot["wal_status"] != "lost" else None

    does = (f"subscribe the standby again ({name}, copy_data = false: it holds everything the primary has)"
            if copy_free else f"re-seed the standby: empty its copies of the published tables, subscribe again "
            f"({name}) with copy_data = true")  # fmt: skip
    run.step(
        "subscribe-standby",
        f"{STANDBY}/{db}",
        does,
        done,
        lambda: resubscribe(pair, sessions, db, copy=not copy_free, wait_seconds=wait_seconds),
    )


def resubscribe(pair: DataPair, sessions: Sessions, db: str, copy: bool | None, wait_seconds: float) -> str:
    """Make the standby's forward subscription healthy and wait until every table is copied. A usable one (its slot
    on the primary kept) is enabled if disabled. Otherwise it is (re)created: without a copy when `copy` is False
    (the standby is known to hold everything), else re-seeded: the standby's copies of the published tables
    emptied, then copied whole. `copy=None` decides: a missing subscription, or one whose slot is gone or lost,
    missed changes that only a copy brings back."""
    standby, primary = sessions.get(STANDBY, db), sessions.get(PRIMARY, db)
    name, publication = pair.subscriptions[db], pair.publications[db]
    sub = q.subscription(standby, name)
    slot = q.slot(primary, str((sub or {}).get("slot_name") or name)) if sub is not None else None
    usable = sub is not None and slot is not None and slot["wal_status"] != "lost"
    if usable and not copy:
        assert sub is not None
        did = "already replicating"
        if not sub["enabled"]:
            q.enable_subscription(standby, name, True)
            did = "enabled"
    else:
        copy = True if sub is not None or copy is None else copy
        if sub is not None:
            q.drop_subscription(standby, name, publisher_reachable=slot is not None)
        if copy:
            tables = q.published_tables(primary, publication)
            emptied = [t for t in tables if t != q.TABLE]
            if emptied:
                standby.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.SQL(t) for t in emptied)))
            if q.TABLE in tables:  # the primary's row arrives with the copy; the standby's own row stays
                standby.execute(sql.SQL("DELETE FROM {} WHERE site = %s").format(sql.SQL(q.TABLE)), (PRIMARY,))
        stale = q.slot(primary, name)
        if stale is not None and not stale["active"]:  # a slot of that name would make CREATE SUBSCRIPTION fail
            q.drop_slot(primary, name)
        q.create_subscription(standby, name, pair.publisher(db), publication, copy_data=copy)
        did = "re-seeded" if copy else "subscribed"
    took = _wait_ready(standby, primary, name, wait_seconds)
    if took is None:
        raise DataError(f"subscription {name} has no running worker with every table copied after {wait_seconds:g} "
                        "s; running the operation again keeps waiting")  # fmt: skip
    return f"{did}; replicating after {took:.2f} s"


def _wait_ready(
    standby: psycopg.Connection[Any], primary: psycopg.Connection[Any], name: str, timeout: float
) -> float | None:
    """Seconds until the subscription's worker runs, every table is synchronised and its slot on the primary is
    safe again (reserved or extended: a slot left unreserved is lost at the next checkpoint), or None past
    `timeout`. TRUNCATE, used to re-seed, needs the TRUNCATE privilege
    (https://www.postgresql.org/docs/15/sql-truncate.html)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        sub = q.subscription(standby, name)
        if sub is not None and sub["worker_pid"] is not None and not sub["tables_not_ready"]:
            slot = q.slot(primary, str(sub["slot_name"] or name))
            if slot is not None and slot["wal_status"] in ("reserved", "extended"):
                return time.monotonic() - start
        time.sleep(0.1)
    return None


def resync(pair: DataPair, wait_seconds: float = REPLAY_SECONDS) -> list[str]:
    """Forward replication healthy again on an unpromoted pair, whatever broke it (a disabled subscription, a lost
    slot): what `sandbox data healthy` and a drill's restore run after `failback`. Returns what it did per database.
    Refuses (`DataRefused`) a promoted pair: that is failback's job."""
    with Sessions(pair) as sessions:
        records, subs = _records(pair, sessions, STANDBY), _subscriptions(pair, sessions)
        writable = _writable(pair, sessions, STANDBY)
        promoted = [db for db in pair.databases
                    if database_state(records[db], subs[db], writable) in WRITER_STATES]  # fmt: skip
        if promoted:
            raise DataRefused([f"database {db} is promoted: `bascule data failback` returns it" for db in promoted])
        return [f"{db}: {resubscribe(pair, sessions, db, copy=None, wait_seconds=wait_seconds)}"
                for db in pair.databases]  # fmt: skip
