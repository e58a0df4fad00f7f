"""The data standby with real PostgreSQL 15 processes on loopback: replication, promotion, lost writes, restore.

One sandbox with databases serves the module (initdb takes seconds); every test leaves it as primary-with-replica,
and `pair_restored` checks that it really is. Assertions are on rows and journal facts, never on durations.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bascule.data import sql as q
from bascule.data import status as data_status
from bascule.drills.control import SandboxControl
from bascule.drills.data import SandboxDataDrill
from bascule.drills.journal import Journal, read_journal
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.report import render_html, render_markdown, summarize
from bascule.drills.runner import run_drill
from bascule.io.processes import alive
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox, SandboxService
from bascule.sandbox import database as db
from tests.conftest import need_pdns_and_postgres
from tests.test_fault_matrix import until

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]

need_pdns_and_postgres()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Checks every 3 s: after promotion the drill is surely still observing when a test signals it."""
    sandbox = Sandbox.start(
        tmp_path_factory.mktemp("data") / "sandbox", SandboxService(interval_seconds=3, rto_seconds=30), data=True
    )
    yield sandbox
    sandbox.stop()
    assert not any(alive(pid) for pid in sandbox.state.pids.values())
    assert sandbox.state.data is not None
    assert not any(Path(c.directory).exists() for c in sandbox.state.data.clusters.values())


def clusters(box: Sandbox) -> tuple[db.Cluster, db.Cluster]:
    assert box.state.data is not None
    return box.state.data.clusters[PRIMARY], box.state.data.clusters[SECONDARY]


def ids(cluster: db.Cluster) -> set[int]:
    with cluster.connect() as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM canary").fetchall()}


def pair_restored(box: Sandbox) -> None:
    """Primary-with-replica: both servers up, not promoted, replicating, the standby holding every primary row, the
    app role writable on the primary alone."""
    box.refresh()
    assert box.data_state() == "replica"
    assert box.database_alive(PRIMARY) and box.database_alive(SECONDARY)
    primary, standby = clusters(box)
    assert db.replicating(standby)
    until(lambda: ids(standby) == ids(primary), "the standby caught up with the primary")
    found = data_status(box.data_pair())
    assert found.sides["primary"].app_read_only is False and found.sides["standby"].app_read_only is True


def test_rows_written_on_the_primary_reach_the_standby_with_wal_capped(box: Sandbox) -> None:
    primary, standby = clusters(box)
    with primary.connect() as conn:
        new = [int(conn.execute("INSERT INTO canary (site) VALUES ('test') RETURNING id").fetchone()[0])  # type: ignore[index]
               for _ in range(5)]  # fmt: skip
        cap = conn.execute("SHOW max_slot_wal_keep_size").fetchone()
    assert cap is not None and cap[0] == db.WAL_KEEP
    until(lambda: set(new) <= ids(standby), "replicated rows")
    assert db.slot_retained_bytes(primary) is not None
    lags = db.lag_seconds(standby)
    assert len(lags) >= 5 and all(lag >= 0 for lag in lags)


def test_promotion_needs_the_sequence_fix(box: Sandbox) -> None:
    """Logical replication does not carry sequence values: without the fix the standby's first insert reuses id 1."""
    primary, standby = clusters(box)
    with primary.connect() as conn:
        conn.execute("INSERT INTO canary (site) VALUES ('before')")
    until(lambda: ids(primary) <= ids(standby), "replicated rows")
    with standby.connect() as conn:
        q.drop_subscription(conn, db.SUBSCRIPTION, publisher_reachable=True)
    try:
        with standby.connect() as conn, pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO canary (site) VALUES ('promoted, unfixed')")
        with standby.connect() as conn:
            advanced = q.advance_sequences(conn, q.SEQUENCE_GAP)
        assert advanced == {"canary_id_seq": max(ids(standby)) + q.SEQUENCE_GAP}
        with standby.connect() as conn:
            row = conn.execute("INSERT INTO canary (site) VALUES ('promoted, fixed') RETURNING id").fetchone()
        assert row is not None and row[0] == advanced["canary_id_seq"]
    finally:
        box.restore_data()  # the standby, detached and never opened to the app, is re-seeded from the primary
    pair_restored(box)
    assert ids(primary) == ids(standby)


def test_sequences_named_by_defaults_are_advanced_past_every_column(box: Sandbox) -> None:
    """A sequence no column owns but two tables' defaults share (nextval without OWNED BY) is advanced too, past the
    larger of both columns' maxima."""
    # On the standby: tables created on the publisher would join its FOR ALL TABLES publication, and the
    # subscriber, lacking them, would stop applying changes.
    _, standby = clusters(box)
    with standby.connect() as conn:
        conn.execute("CREATE SEQUENCE shared_ids")
        conn.execute("CREATE TABLE orders_a (id bigint DEFAULT nextval('shared_ids'))")
        conn.execute("CREATE TABLE orders_b (id bigint DEFAULT nextval('shared_ids'))")
        conn.execute("INSERT INTO orders_a VALUES (50)")
        conn.execute("INSERT INTO orders_b VALUES (70)")
    try:
        with standby.connect() as conn:
            advanced = q.advance_sequences(conn, q.SEQUENCE_GAP)
        assert advanced["shared_ids"] == 70 + q.SEQUENCE_GAP
        assert "canary_id_seq" in advanced  # the owned sequence is still advanced alongside
        with standby.connect() as conn:
            row = conn.execute("INSERT INTO orders_a DEFAULT VALUES RETURNING id").fetchone()
        assert row is not None and row[0] == 70 + q.SEQUENCE_GAP
        with standby.connect() as conn:  # again: past the row just written (the max now), never back
            assert q.advance_sequences(conn, q.SEQUENCE_GAP)["shared_ids"] == 70 + 2 * q.SEQUENCE_GAP
    finally:
        with standby.connect() as conn:
            conn.execute("DROP TABLE orders_a, orders_b")
            conn.execute("DROP SEQUENCE shared_ids")


def test_lost_writes_are_counted_exactly(box: Sandbox, tmp_path: Path) -> None:
    """Replication is stopped mid-run: exactly the ids acknowledged after it stopped must be reported lost."""
    primary, standby = clusters(box)
    control = SandboxControl(box)
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("plan", plan=DrillPlan(control.target(), Fault.OUTAGE, 30, 30, rpo_seconds=60).as_json())
    drill = SandboxDataDrill(box, control.target(), DrillPlan(control.target(), Fault.OUTAGE, 30, 30).trust, journal)
    drill.start()
    with standby.connect() as conn:
        conn.execute(f"ALTER SUBSCRIPTION {db.SUBSCRIPTION} DISABLE")
    until(lambda: not _apply_worker_running(standby), "the apply worker stopped")
    replicated = ids(standby)
    until(lambda: drill.writer.acknowledged >= len(replicated) + 10, "writes after replication stopped")
    journal.append("injected", fault="outage")
    drill.promote()
    drill.stop()
    journal.close()
    events = read_journal(tmp_path / "journal.jsonl")
    acknowledged = [e["id"] for e in events if e["kind"] == "write" and e["database"] == PRIMARY]
    expected = sorted(set(acknowledged) - replicated)
    assert len(expected) >= 10
    data = summarize(events)["data"]
    assert data["lost_writes"] == len(expected) and data["lost_ids"] == expected
    by_id = {e["id"]: e["t"] for e in events if e["kind"] == "write"}
    survivors = [by_id[i] for i in acknowledged if i not in expected]
    assert data["rpo_observed_s"] == round(max(by_id[i] for i in acknowledged) - max(survivors), 3)
    SandboxControl(box).restore(Fault.OUTAGE)
    pair_restored(box)
    assert set(acknowledged) <= ids(primary)  # merged back: nothing acknowledged is lost after the restore


def _apply_worker_running(standby: db.Cluster) -> bool:
    with standby.connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_subscription WHERE pid IS NOT NULL").fetchone()
    return row is not None and row[0] > 0


def test_data_drill_passes_and_restores_the_pair(box: Sandbox, tmp_path: Path) -> None:
    control = SandboxControl(box)
    plan = DrillPlan(control.target(), Fault.OUTAGE, rto_seconds=30, timeout_seconds=20, rpo_seconds=5)
    journal = Journal(tmp_path / "journal.jsonl")
    run_drill(plan, control, journal, lambda _line: None, SandboxDataDrill(box, plan.target, plan.trust, journal))
    journal.close()
    events = read_journal(tmp_path / "journal.jsonl")
    summary = summarize(events)
    assert summary["status"] == "pass", summary["reasons"]
    data = summary["data"]
    assert data["acknowledged_by_old_primary"] > 0 and data["acknowledged_by_new_primary"] > 0
    assert data["lost_writes"] is not None and data["rpo_observed_s"] is not None
    assert data["first_write_s"] is not None and data["promotion_s"] is not None
    assert data["lag_samples"] > 0 and data["wal_retained_bytes"] is not None
    for text in (render_markdown(summary), render_html(summary, events)):
        assert "Data standby" in text and "acknowledged writes lost" in text
    pair_restored(box)
    acknowledged = {e["id"] for e in events if e["kind"] == "write"}
    assert acknowledged <= ids(clusters(box)[0])


def _cli_drill(box: Sandbox, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    locks, out = tmp_path / "locks", tmp_path / "report"
    proc = subprocess.Popen(
        [*BASCULE, "drill", "--local", "--data", "--fault", "outage", "--sandbox-dir", box.state.directory,
         "--lock-dir", str(locks), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    journal = out / "journal.jsonl"
    until(lambda: journal.exists() and "promoted" in [e["kind"] for e in read_journal(journal)], "promotion", 60)
    return proc, locks, out


def test_sigterm_during_a_data_drill_restores_the_pair(box: Sandbox, tmp_path: Path) -> None:
    proc, locks, out = _cli_drill(box, tmp_path)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    kinds = [e["kind"] for e in read_journal(out / "journal.jsonl")]
    assert "interrupted" in kinds and "restored" in kinds
    assert list(locks.glob("*.lock")) == []
    pair_restored(box)


def test_kill_9_during_a_data_drill_then_recover_restores_the_pair(box: Sandbox, tmp_path: Path) -> None:
    proc, locks, out = _cli_drill(box, tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    box.refresh()
    assert box.data_state() == "promoted"  # the killed drill left the standby promoted
    assert not box.database_alive(PRIMARY)
    recover = subprocess.run([*BASCULE, "drill", "recover", "--lock-dir", str(locks)], capture_output=True,
                             text=True, timeout=120, check=False)  # fmt: skip
    assert recover.returncode == 0, recover.stdout + recover.stderr
    assert list(locks.glob("*.lock")) == []
    pair_restored(box)
    acknowledged = {e["id"] for e in read_journal(out / "journal.jsonl") if e["kind"] == "write"}
    assert acknowledged and acknowledged <= ids(clusters(box)[0])


def test_data_drill_from_scratch_passes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """The README's data command in a fresh environment: it starts its own sandbox, passes, and cleans up.

    Its clusters are made under a temp folder of its own (TMPDIR), so what is left there is the drill's and nobody
    else's: other runs on this machine make and remove clusters under /tmp at the same time. The folder is open to
    the `postgres` user, which runs the servers under root."""
    scratch = Path(tempfile.mkdtemp(prefix="bascule-drill-tmp-"))
    scratch.chmod(0o1777)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(scratch)}
    out = tmp_path / "report"
    try:
        proc = subprocess.run([*BASCULE, "drill", "--local", "--data", "--fault", "outage", "--out", str(out)],
                              capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        data = json.loads((out / "report.json").read_text())["data"]
        for key in ("acknowledged_writes", "lost_writes", "rpo_observed_s", "promotion_s", "first_write_s",
                    "lag_p50_s", "lag_p99_s", "wal_retained_bytes"):  # fmt: skip
            assert data[key] is not None, key
        assert "Data standby" in (out / "report.md").read_text()
        # The drill's own clusters are stopped and removed before it returns: no folder, no process left.
        assert list(scratch.glob("bascule-pg-*")) == []
        assert _processes_under(scratch) == set()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _processes_under(folder: Path) -> set[int]:
    """Processes whose command line names `folder` (a server's -D names its cluster's data folder)."""
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(folder).encode() in (proc / "cmdline").read_bytes():
                found.add(int(proc.name))
        except OSError:
            continue
    return found
