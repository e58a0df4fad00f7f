"""`bascule data` and `verify --data` against real PostgreSQL 15: promotion with and without a reachable primary,
fencing proven by writes as the app role, failback with every row once, each broken-replication mode named, an
interrupted promote or failback finished (by running it again, or by `drill recover`), and a stack's pair read from a
state export. Each test leaves the pair as it found it: primary-with-replica (`restored`).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bascule.data import FAILBACK, PROMOTE, DataRefused, StepResult, failback, problems, promote, status
from bascule.data import sql as q
from bascule.drills.data_ops import DataTarget, run_operation
from bascule.drills.journal import read_journal
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox, SandboxService
from bascule.sandbox import database as db
from tests.conftest import need_pdns_and_postgres, standby_resource
from tests.test_fault_matrix import until

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]

need_pdns_and_postgres()


def server_processes(folders: list[str]) -> set[int]:
    """Running processes started from one of these cluster folders (their command line names it)."""
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if any(folder.encode() in cmdline for folder in folders):
            found.add(int(proc.name))
    return found


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """An RPO of 2 s: a lag beyond it is seen by waiting 2 s, not 30."""
    sandbox = Sandbox.start(tmp_path_factory.mktemp("data-commands") / "sandbox", SandboxService(rpo_seconds=2),
                            data=True)  # fmt: skip
    assert sandbox.state.data is not None
    folders = [c.directory for c in sandbox.state.data.clusters.values()]
    yield sandbox
    sandbox.stop()
    # Stop returns only once every server process is gone: nothing is left for the next test to trip over.
    assert server_processes(folders) == set()
    assert not any(Path(folder).exists() for folder in folders)


@pytest.fixture(autouse=True)
def restored(box: Sandbox) -> Iterator[None]:
    """Each test starts from, and is put back to, primary-with-replica, whatever it left."""
    yield
    box.restore_data()
    assert box.data_state() == "replica"
    assert problems(status(box.data_pair())) == []


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASCULE, *args], capture_output=True, text=True, timeout=180, check=False, env=env)


def clusters(box: Sandbox) -> tuple[db.Cluster, db.Cluster]:
    assert box.state.data is not None
    return box.state.data.clusters[PRIMARY], box.state.data.clusters[SECONDARY]


@contextmanager
def as_app(box: Sandbox, cluster: db.Cluster, **options: str) -> Iterator[psycopg.Connection[Any]]:
    """A session as the application's login, on the database beside one site (`options`: libpq's, as a client
    could pass them)."""
    assert box.state.data is not None
    with psycopg.connect(cluster.conninfo(user=db.APP_ROLE, password=box.state.data.app_password),
                         autocommit=True, **options) as conn:  # fmt: skip
        yield conn


def insert(conn: psycopg.Connection[Any], site: str, count: int = 1) -> list[int]:
    return [int(conn.execute("INSERT INTO canary (site) VALUES (%s) RETURNING id", (site,)).fetchone()[0])  # type: ignore[index]
            for _ in range(count)]  # fmt: skip


def rows(cluster: db.Cluster) -> dict[int, str]:
    with cluster.connect() as conn:
        return {int(i): str(s) for i, s in conn.execute("SELECT id, site FROM canary").fetchall()}


FENCED, READ_ONLY, WRITABLE = "fenced", "read-only", "writable"


def app_gets(box: Sandbox, cluster: db.Cluster, **options: str) -> str:
    """What the application's login gets on `cluster` when it writes a row: FENCED (its login refused: NOLOGIN),
    READ_ONLY (the insert refused: a replica's guard) or WRITABLE (the insert committed)."""
    try:
        with as_app(box, cluster, **options) as conn:
            try:
                insert(conn, "fence-probe")
            except psycopg.errors.ReadOnlySqlTransaction:
                return READ_ONLY
    except psycopg.OperationalError as exc:
        assert "is not permitted to log in" in str(exc), exc
        return FENCED
    return WRITABLE


class Stop(Exception):
    """Stands for the process being killed between two steps."""


def stop_after(step: str) -> Callable[[StepResult], None]:
    def on_step(result: StepResult) -> None:
        if result.step == step and result.status == "done":
            raise Stop(step)

    return on_step


def test_status_json_reports_subscription_slot_and_measured_lag(box: Sandbox) -> None:
    proc = cli("data", "status", "--local", "--sandbox-dir", box.state.directory, "-f", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["state"] == "replica" and doc["problems"] == [] and doc["rpo_seconds"] == 2
    assert doc["sides"]["primary"]["app_read_only"] is False and doc["sides"]["standby"]["app_read_only"] is True
    assert doc["sides"]["primary"]["app_login"] is doc["sides"]["standby"]["app_login"] is True
    assert doc["sides"]["primary"]["wal_level"] == doc["sides"]["standby"]["wal_level"] == "logical"
    (found,) = doc["databases"]
    sub = found["subscription"]
    assert sub["enabled"] is True and isinstance(sub["worker_pid"], int) and sub["errors"] == 0
    assert sub["latest_end_lsn"] and sub["latest_end_time"] and sub["last_msg_receipt_time"]
    slot = found["slot"]
    assert slot["wal_status"] == "reserved" and slot["safe_wal_size"] > 0 and slot["active"] is True
    assert isinstance(found["lag_bytes"], int) and 0 <= found["lag_seconds"] < 2 and found["lag_over_seconds"] is None
    assert box.state.data is not None and box.state.data.app_password not in proc.stdout + proc.stderr


def test_promote_fences_the_reachable_primary_and_failback_brings_every_row_back_once(
    box: Sandbox, tmp_path: Path
) -> None:
    primary, standby = clusters(box)
    with as_app(box, primary) as conn:
        before = insert(conn, "before", 3)
    until(lambda: set(before) <= set(rows(standby)), "replicated rows")
    journal, locks = tmp_path / "journal.jsonl", tmp_path / "locks"
    common = ["--local", "--sandbox-dir", box.state.directory, "--journal", str(journal), "--lock-dir", str(locks)]
    proc = cli("data", "promote", *common, "-f", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"] == "done" and result["primary_reachable"] and result["caught_up"] == {"bascule": True}
    (fence,) = [s for s in result["steps"] if s["step"] == "fence-primary"]
    assert fence["status"] == "done" and "a login as the app is refused" in fence["detail"]
    assert app_gets(box, primary) == FENCED  # the old primary takes no more of the app's writes ...
    # ... whatever the client asks for: the fence is the role's LOGIN, which no session can turn back on.
    assert app_gets(box, primary, options="-c default_transaction_read_only=off") == FENCED
    with as_app(box, standby) as conn:  # the new one takes all of them: inserts, updates, deletes
        after = insert(conn, "after", 3)
        conn.execute("UPDATE canary SET site = 'updated on the standby' WHERE id = %s", (before[0],))
        conn.execute("DELETE FROM canary WHERE id = %s", (before[1],))
    assert min(after) >= max(before) + q.SEQUENCE_GAP

    proc = cli("data", "failback", *common)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = {before[0]: "updated on the standby", before[2]: "before"} | dict.fromkeys(after, "after")
    on_primary = rows(primary)
    assert {i: on_primary.get(i) for i in expected} == expected and before[1] not in on_primary
    until(lambda: rows(standby) == rows(primary), "the standby a copy of the primary again")
    assert app_gets(box, standby) == READ_ONLY  # a replica again: the app may log in to read, read-only by default
    with as_app(box, primary) as conn:
        assert insert(conn, "after failback")[0] > max(after)  # the primary's sequence is past the standby's rows
    events = read_journal(journal)
    assert [e["operation"] for e in events if e["kind"] == "data-done"] == [PROMOTE, FAILBACK]
    assert box.state.data is not None and box.state.data.app_password not in journal.read_text()
    assert list(locks.glob("*.lock")) == []


def test_promote_without_the_primary_then_failback_keeps_the_rows_of_both_sides(box: Sandbox) -> None:
    """The primary dies with writes the standby never got (its subscription was off): promotion goes on without
    fencing it, promote again fences it once it is back, and failback keeps its orphans beside the standby's rows."""
    primary, standby = clusters(box)
    pair = box.data_pair()
    with as_app(box, primary) as conn:
        shipped = insert(conn, "shipped", 2)
    until(lambda: set(shipped) <= set(rows(standby)), "replicated rows")
    with standby.connect() as conn:
        conn.execute(f"ALTER SUBSCRIPTION {db.SUBSCRIPTION} DISABLE")
    with as_app(box, primary) as conn:
        orphans = insert(conn, "orphan", 2)
    box.kill_database(PRIMARY)

    result = promote(pair)
    assert not result.primary_reachable and result.caught_up == {"bascule": False}
    assert any("not fenced" in note for note in result.notes)
    assert [s.status for s in result.steps if s.step == "fence-primary"] == ["skipped"]
    with as_app(box, standby) as conn:
        written = insert(conn, "on the standby", 2)
    assert not set(orphans) & set(rows(standby))

    box.start_database(PRIMARY)  # back, and not fenced: promote again does it
    assert app_gets(box, primary) == WRITABLE
    again = promote(pair)
    assert {s.step for s in again.steps if s.status == "done"} == {"fence-primary", "record-primary"}
    assert app_gets(box, primary) == FENCED

    back = failback(pair)
    assert [s.detail.split(";")[0] for s in back.steps if s.step == "subscribe-standby"] == ["re-seeded"]
    on_primary = rows(primary)
    assert set(shipped) | set(orphans) | set(written) <= set(on_primary)
    assert len(rows(standby)) == len(on_primary)
    until(lambda: rows(standby) == rows(primary), "the standby re-seeded from the primary")


def test_promote_refuses_a_primary_it_cannot_fence_and_fences_as_a_login_without_superuser(box: Sandbox) -> None:
    """The primary's admin as the clouds' are: NOSUPERUSER with CREATEROLE. Without a way to see and end the app's
    sessions, nothing is changed unless forced; a member of the app role (as the sync job makes the Flexible Server
    admin) needs nothing more: the fence holds, ends a session that was open before it, and refuses new logins."""
    primary, _ = clusters(box)
    with primary.connect("postgres") as conn:
        conn.execute("CREATE ROLE limited_admin LOGIN CREATEROLE PASSWORD 'limited-pw'")
    with primary.connect() as conn:
        conn.execute("GRANT CREATE ON SCHEMA public TO limited_admin")  # RDS: the master user owns its databases
        conn.execute(f"CREATE TABLE IF NOT EXISTS {q.TABLE} (site text PRIMARY KEY)")
        conn.execute(f"ALTER TABLE {q.TABLE} OWNER TO limited_admin")
    pair = box.data_pair()
    limited = replace(pair, primary=replace(pair.primary, user="limited_admin", password="limited-pw"))
    try:
        with pytest.raises(DataRefused) as caught:
            promote(limited)
        assert f"run `GRANT {db.APP_ROLE} TO limited_admin` there" in str(caught.value)
        assert app_gets(box, primary) == WRITABLE and box.data_state() == "replica"  # nothing was changed
        forced = promote(limited, force_reason="drill of the refusal", dry_run=True)
        assert forced.steps[0].step == "fence-primary" and forced.steps[0].status == "skipped"
        assert "forced (drill of the refusal)" in forced.steps[0].detail

        with primary.connect("postgres") as conn:
            conn.execute(f"GRANT {db.APP_ROLE} TO limited_admin")
        assert problems(status(limited)) == []  # status reads everything it needs without superuser
        with as_app(box, primary) as held:
            result = promote(limited)
            assert result.outcome == "done" and result.caught_up == {"bascule": True}
            with pytest.raises(psycopg.OperationalError):  # ended by the fence
                held.execute("SELECT 1")
        assert app_gets(box, primary) == FENCED
    finally:
        box.restore_data()
        with primary.connect() as conn:
            conn.execute(f"ALTER TABLE {q.TABLE} OWNER TO {db.USER}")
            conn.execute("REVOKE CREATE ON SCHEMA public FROM limited_admin")
        with primary.connect("postgres") as conn:
            conn.execute("DROP ROLE limited_admin")


def test_a_stale_app_password_costs_the_proof_by_login_not_the_fence(box: Sandbox) -> None:
    """The app's password in the state no longer the database's (rotated by hand): the login probe cannot run, so
    the fence rests on the catalogs and the sessions, and says so; it is not refused for it."""
    primary, _ = clusters(box)
    pair = box.data_pair()
    stale = replace(pair, primary=replace(pair.primary, app_password="not-the-password"))
    result = promote(stale)
    (fence,) = [s for s in result.steps if s.step == "fence-primary"]
    assert fence.status == "done" and "no proof by login (the app's login failed: " in fence.detail
    assert "password authentication failed" in fence.detail and "not-the-password" not in fence.detail
    assert app_gets(box, primary) == FENCED


def test_when_failback_refuses_the_documented_way_back_works(box: Sandbox) -> None:
    """docs/data.md, "When failback refuses": the failback slot gone, failback refuses and changes nothing; the
    three steps it documents (rows copied by hand, the standby fenced and its marker reset, failback) end with a
    replica of the primary and every row once."""
    primary, standby = clusters(box)
    pair = box.data_pair()
    promote(pair)
    with as_app(box, standby) as conn:
        written = insert(conn, "on the standby", 2)
    with standby.connect() as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (q.reverse_slot(db.DATABASE),))
    with pytest.raises(DataRefused, match="no failback slot"):
        failback(pair)
    assert box.data_state() == "promoted" and app_gets(box, standby) == WRITABLE
    # 1. the standby's rows copied to the primary by hand
    with standby.connect() as conn:
        copied = conn.execute("SELECT id, site FROM canary WHERE id = ANY(%s)", (written,)).fetchall()
    with primary.connect() as conn:
        for row in copied:
            conn.execute("INSERT INTO canary (id, site) VALUES (%s, %s)", row)
    # 2. the standby fenced, its marker reset
    with standby.connect() as conn:
        conn.execute(f"ALTER ROLE {db.APP_ROLE} NOLOGIN")
        conn.execute(
            f"UPDATE {q.TABLE} SET state = 'replica', writable_since = NULL, caught_up = false WHERE site = 'standby'"
        )
    # 3. failback
    result = failback(pair)
    assert [s.detail.split(";")[0] for s in result.steps if s.step == "subscribe-standby"] == ["re-seeded"]
    assert box.data_state() == "replica"
    assert (app_gets(box, primary), app_gets(box, standby)) == (WRITABLE, READ_ONLY)
    until(lambda: rows(standby) == rows(primary), "the standby re-seeded from the primary")
    assert set(written) <= set(rows(primary))


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("subscription-disabled", "subscription bascule_sub is disabled"),
        ("slot-unreserved", "slot bascule_sub is unreserved"),
        ("slot-lost", "slot bascule_sub is lost"),
        ("lagging", "replication lag exceeds the RPO (2 s)"),
    ],
)
def test_each_broken_replication_makes_verify_fail_naming_it(box: Sandbox, mode: str, cause: str) -> None:
    where = ["--sandbox-dir", box.state.directory]
    proc = cli("sandbox", "data", mode, *where)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = cli("verify", "--local", "--data", *where, "-f", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (service,) = json.loads(proc.stdout)["services"]
    assert any(p.startswith("data: database bascule: ") and cause in p for p in service["problems"]), service
    assert service["data"]["state"] == "replica"
    assert all(site["ready"] for site in service["sites"])  # the sites are fine: only the data is not
    proc = cli("sandbox", "data", "healthy", *where)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = cli("verify", "--local", "--data", *where)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok  data replica: bascule lag" in proc.stdout


def test_a_data_drill_refuses_to_start_on_broken_replication(box: Sandbox, tmp_path: Path) -> None:
    where = ["--sandbox-dir", box.state.directory, "--lock-dir", str(tmp_path / "locks")]
    assert cli("sandbox", "data", "subscription-disabled", "--sandbox-dir", box.state.directory).returncode == 0
    proc = cli("drill", "--local", "--data", "--dry-run", *where, "-f", "json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert any("subscription bascule_sub is disabled" in p for p in json.loads(proc.stdout)["preflight"]["problems"])


def test_an_interrupted_promote_is_finished_by_running_it_again(box: Sandbox) -> None:
    primary, standby = clusters(box)
    pair = box.data_pair()
    with pytest.raises(Stop):
        promote(pair, on_step=stop_after("stop-subscription"))
    found = status(pair)
    assert found.state == "promoting"
    assert any("a promotion was interrupted" in p for p in problems(found))
    # Half way, nobody takes the app's writes: the old primary refuses the app's login, the standby is still a
    # replica, read-only by default.
    assert (app_gets(box, primary), app_gets(box, standby)) == (FENCED, READ_ONLY)
    proc = cli("data", "promote", "--local", "--sandbox-dir", box.state.directory, "-f", "json",
               "--journal", str(Path(box.state.directory) / "journal.jsonl"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = {s["step"]: s["status"] for s in json.loads(proc.stdout)["steps"]}
    assert steps["stop-subscription"] == "already" and steps["failback-slot"] == "done"
    assert box.data_state() == "promoted" and app_gets(box, standby) == WRITABLE


def test_drill_recover_finishes_an_interrupted_promote_and_failback(box: Sandbox, tmp_path: Path) -> None:
    primary, standby = clusters(box)
    locks, journal = tmp_path / "locks", tmp_path / "data-journal.jsonl"
    target = DataTarget(sandbox_dir=box.state.directory)

    def killed(operation: str, step: str) -> None:
        """Run the operation under its lock until `step`, then leave the lock as a killed process does."""
        with pytest.raises(Stop):
            run_operation(operation, target, box.data_pair(), journal, locks, on_step=stop_after(step))
        (lock,) = locks.glob("*.lock")
        info = json.loads(lock.read_text())
        lock.write_text(json.dumps(info | {"pid": 999_999_999}))  # its process is gone
        proc = cli("drill", "recover", "--lock-dir", str(locks), "-f", "json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert [o["outcome"] for o in json.loads(proc.stdout)["recovered"]] == ["data-finished"]
        assert list(locks.glob("*.lock")) == []

    killed(PROMOTE, "failback-slot")
    assert box.data_state() == "promoted" and (app_gets(box, primary), app_gets(box, standby)) == (FENCED, WRITABLE)
    with as_app(box, standby) as conn:
        written = insert(conn, "between", 2)
    killed(FAILBACK, "replay")
    assert box.data_state() == "replica" and (app_gets(box, primary), app_gets(box, standby)) == (WRITABLE, READ_ONLY)
    assert set(written) <= set(rows(primary))
    kinds = [e["kind"] for e in read_journal(journal)]
    assert kinds.count("recovering") == 2 and kinds.count("data-done") == 2


def _stack(box: Sandbox, tmp_path: Path, *drop: str) -> tuple[Path, dict[str, str]]:
    """A Pulumi project whose `pulumi` answers `stack export --show-secrets` with a state holding a PostgresStandby
    whose `bascule_data` points at the sandbox's clusters (as the component would at RDS and Flexible Server)."""
    resource = standby_resource(box)
    for key in drop:
        del resource["outputs"]["bascule_data"][key]
    project, bin_dir = tmp_path / "project", tmp_path / "bin"
    project.mkdir()
    bin_dir.mkdir()
    (project / "Pulumi.yaml").write_text("name: shop\nruntime: python\n")
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"version": 3, "deployment": {"resources": [resource]}}))
    fake = bin_dir / "pulumi"
    fake.write_text(f'#!/bin/sh\ncase "$*" in *"stack export"*) cat {export};; *version*) echo v3.272.0;; esac\n'
                    "exit 0\n")  # fmt: skip
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return project, {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_the_stack_path_reads_the_pair_from_the_state_and_reaches_real_databases(box: Sandbox, tmp_path: Path) -> None:
    project, env = _stack(box, tmp_path)
    on_stack = ["--stack", "prod", "--cwd", str(project)]
    proc = cli("data", "status", *on_stack, "-f", "json", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["state"] == "replica" and doc["source"] == "stack 'prod' (service 'checkout')"
    assert doc["sides"]["primary"]["provider"] == "aws-rds" and doc["databases"][0]["slot"]["wal_status"] == "reserved"
    proc = cli("data", "promote", *on_stack, "--dry-run", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "would   fence-primary on primary" in proc.stdout and "dry run: nothing was changed" in proc.stdout
    assert box.data_state() == "replica" and app_gets(box, clusters(box)[0]) == WRITABLE
    for cluster in clusters(box):
        assert cluster.password not in proc.stdout + proc.stderr


def test_a_stack_state_missing_a_contract_key_is_refused_naming_it(box: Sandbox, tmp_path: Path) -> None:
    project, env = _stack(box, tmp_path, "wal_keep_mb")
    proc = cli("data", "status", "--stack", "prod", "--cwd", str(project), env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "stack 'prod'" in proc.stderr and "'wal_keep_mb'" in proc.stderr and "Traceback" not in proc.stderr
