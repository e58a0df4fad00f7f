"""The restore drill's record and its undo, on a real sandbox (PostgreSQL pair, moto's S3 store): the history row,
a SIGTERM mid-run (the drill puts the deleted rows back itself), a SIGKILL mid-run (`bascule drill recover` puts them
back from the journal, and drops a fresh database the drill left), a journal that refuses `inject` (nothing deleted),
a row the application commits during the drill (never deleted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.drills import history
from bascule.drills import restore as restore_module
from bascule.drills.canary_undo import rows_may_be_missing
from bascule.drills.control import SandboxControl
from bascule.drills.journal import Journal, read_journal
from bascule.drills.plan import DrillPlan, Fault
from bascule.sandbox import PRIMARY, Sandbox
from tests.conftest import backup_sandbox, need_pdns_and_postgres

pytestmark = pytest.mark.sandbox
runner = CliRunner()

need_pdns_and_postgres()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from backup_sandbox(tmp_path_factory, "restore-drill")


def _canary_ids(box: Sandbox) -> set[int]:
    assert box.state.data is not None
    with box.state.data.clusters[PRIMARY].connect() as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM canary").fetchall()}


def _databases(box: Sandbox) -> set[str]:
    assert box.state.data is not None
    with box.state.data.clusters[PRIMARY].connect("postgres") as conn:
        return {str(r[0]) for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def _drill(box: Sandbox, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "out"
    result = runner.invoke(app, ["drill", "--local", "--data", "--fault", "corruption", "--sandbox-dir", str(box.dir),
                                 "--out", str(out), "--lock-dir", str(tmp_path / "locks"), *extra])  # fmt: skip
    return result.exit_code, json.loads((out / "report.json").read_text())


def test_the_restore_drill_appends_its_history_row(box: Sandbox, tmp_path: Path) -> None:
    code, report = _drill(box, tmp_path, "--history", str(tmp_path / "h"))
    assert code == 0, report["reasons"]
    (row,) = history.read(tmp_path / "h")
    assert row["fault"] == "corruption" and row["status"] == "pass" and row["service"] == report["service"]
    assert row["restore_s"] == report["data"]["restore_s"] > 0
    assert row["backup_age_s"] == report["data"]["backup_age_s"] >= 0
    assert row["writes_lost"] == 10 and row["backup"] == report["data"]["backup"]
    assert row["failover_http_s"] is None  # no failover in a restore drill
    assert history.trend([row])[f"{row['service']} (corruption)"]["passed"] == 1


def test_sigterm_mid_restore_puts_the_deleted_rows_back(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = restore_module.restore

    def signalled(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # recorded by the drill's handler, as a real SIGTERM is
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_module, "restore", signalled)
    ids_before = _canary_ids(box)
    code, report = _drill(box, tmp_path, "--history", str(tmp_path / "h"))
    assert code == 1
    events = read_journal(tmp_path / "out" / "journal.jsonl")
    kinds = [e["kind"] for e in events]
    assert kinds.index("canary-saved") < kinds.index("inject") < kinds.index("injected")
    assert "repaired" not in kinds and kinds[-3:] == ["interrupted", "restore", "restored"]
    saved = {row[0] for row in next(e for e in events if e["kind"] == "canary-saved")["rows"]}
    assert _canary_ids(box) == saved == ids_before | saved  # every row deleted is back, the 10 after the backup too
    assert report["status"] == "fail" and "interrupted by SIGTERM during restore" in report["reasons"]
    assert report["data"]["undone_rows"] == len(saved)
    assert list((tmp_path / "locks").glob("*.lock")) == []  # nothing left in place: no lock for recover
    assert not any(name.startswith("restore_") for name in _databases(box))
    assert history.read(tmp_path / "h")[0]["status"] == "fail"


_KILLED_DRILL = """
import sys, time
from pathlib import Path

from bascule.drills.control import SandboxControl
from bascule.drills.journal import Journal
from bascule.drills.lock import DrillLock
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills import restore
from bascule.sandbox import Sandbox

box = Sandbox.load(Path(sys.argv[1]))
assert box is not None
control, journal, marker = SandboxControl(box), Path(sys.argv[3]), Path(sys.argv[4])
DrillLock(Path(sys.argv[2]), control.lock_key()).acquire(
    {"journal": str(journal), "fault": "corruption", "control": control.describe(), "owned_sandbox": False}
)
plan = DrillPlan(target=control.target(), fault=Fault.CORRUPTION, rto_seconds=30, timeout_seconds=30)
hang_at = sys.argv[5]


def hang(*_args: object) -> None:
    marker.write_text("hanging")
    time.sleep(600)


def progress(line: str) -> None:
    if hang_at == "restoring" and line.startswith("restoring"):  # rows deleted, on the standby too: hang here
        hang()


class Hanging(Journal):
    def append(self, kind: str, **data: object) -> dict[str, object]:
        if hang_at == kind:  # killed between `canary-saved` and `inject`, as a disk that refused `inject` leaves it
            hang()
        return super().append(kind, **data)


if hang_at == "drop":  # killed after `repaired`, before the fresh database is dropped
    restore.drop_database = hang
restore.run_restore_drill(plan, box, Hanging(journal), progress)
"""


def _killed_at(box: Sandbox, tmp_path: Path, hang_at: str) -> tuple[Path, Path]:
    """A restore drill in its own process, SIGKILLed at `hang_at`; its lock folder and journal."""
    locks, journal, marker = tmp_path / "locks", tmp_path / "out" / "journal.jsonl", tmp_path / "hanging"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_DRILL, str(box.dir), str(locks), str(journal),
                             str(marker), hang_at])  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"the drill never reached {hang_at}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert len(list(locks.glob("*.lock"))) == 1
    return locks, journal


def _recover(locks: Path) -> dict[str, Any]:
    recover = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "recover", "--lock-dir", str(locks),
                              "--format", "json"], capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert recover.returncode == 0, recover.stdout + recover.stderr
    (outcome,) = json.loads(recover.stdout)["recovered"]
    assert list(locks.glob("*.lock")) == []
    return dict(outcome)


def test_a_killed_restore_drill_is_recovered_from_its_journal(box: Sandbox, tmp_path: Path) -> None:
    ids_before = _canary_ids(box)
    locks, journal = _killed_at(box, tmp_path, "restoring")
    saved = {row[0] for row in next(e for e in read_journal(journal) if e["kind"] == "canary-saved")["rows"]}
    assert saved >= ids_before and not _canary_ids(box) & saved  # the fault is left behind

    outcome = _recover(locks)
    assert outcome["outcome"] == "restored"
    assert f"{len(saved)} of the {len(saved)} canary rows it had deleted put back" in outcome["message"]
    assert _canary_ids(box) == saved
    recovered = read_journal(journal)[-1]
    assert recovered["kind"] == "recovered" and recovered["rows"] == len(saved)
    report = json.loads((journal.parent / "report.json").read_text())
    assert report["status"] == "fail" and report["data"]["undone_rows"] == len(saved)
    assert any("`bascule drill recover` finished it" in r for r in report["reasons"])


def test_backup_restore_history_row_and_a_listing_the_audit_reads(box: Sandbox, tmp_path: Path) -> None:
    from bascule.audit.workloads import read_backups_status

    result = runner.invoke(app, ["backup", "restore", "--local", "--sandbox-dir", str(box.dir), "--to",
                                 "restored_for_history", "--history", str(tmp_path / "h")])  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = history.read(tmp_path / "h")
    assert (row["fault"], row["status"]) == ("backup-restore", "pass") and row["restore_s"] > 0
    assert row["target"].startswith("local sandbox backups of ") and row["backup_age_s"] >= 0
    for command in ("list", "verify"):
        saved = tmp_path / f"{command}.json"
        result = runner.invoke(app, ["backup", command, "--local", "--sandbox-dir", str(box.dir), "-f", "json"])
        assert result.exit_code == 0, result.output
        saved.write_text(result.stdout)
        (entry,) = read_backups_status([saved]) or []
        assert entry["stack"] is None and entry["service"] == row["service"]
        assert entry["databases"][0]["age_s"] >= 0 and entry["databases"][0]["finished_at"]


def test_recover_decides_by_the_saved_rows_not_by_inject(box: Sandbox, tmp_path: Path) -> None:
    """Killed after `canary-saved` and before `inject` (a disk that refused `inject` leaves the same journal): the
    rows are put back all the same; here they are deleted by hand, as the drill could have deleted them."""
    locks, journal = _killed_at(box, tmp_path, "inject")
    kinds = [e["kind"] for e in read_journal(journal)]
    assert "canary-saved" in kinds and "inject" not in kinds
    saved = {row[0] for row in next(e for e in read_journal(journal) if e["kind"] == "canary-saved")["rows"]}
    assert box.state.data is not None
    with box.state.data.clusters[PRIMARY].connect() as conn:
        conn.execute("DELETE FROM canary WHERE id = ANY(%s)", (sorted(saved),))
    outcome = _recover(locks)
    assert outcome["outcome"] == "restored", outcome
    assert f"{len(saved)} of the {len(saved)} canary rows it had deleted put back" in outcome["message"]
    assert _canary_ids(box) >= saved


def test_a_drill_killed_after_its_repair_has_its_fresh_database_dropped(box: Sandbox, tmp_path: Path) -> None:
    locks, journal = _killed_at(box, tmp_path, "drop")
    events = read_journal(journal)
    assert events[-1]["kind"] == "repaired" and "fresh-dropped" not in {e["kind"] for e in events}
    fresh = next(e for e in events if e["kind"] == "backup-restore")["database"]
    assert fresh in _databases(box)
    outcome = _recover(locks)
    assert outcome["outcome"] == "restored" and f"the restore's database {fresh} dropped" in outcome["message"]
    assert fresh not in _databases(box)


class _RefusingInject(Journal):
    """A journal whose disk fills after the `canary-saved` line: `inject` is recorded in memory only."""

    def append(self, kind: str, **data: Any) -> dict[str, Any]:
        if kind == "inject" and self.write_error is None:
            self.write_error = f"{self.path}: No space left on device"
        return super().append(kind, **data)


def test_a_journal_that_refuses_inject_aborts_before_the_delete(box: Sandbox, tmp_path: Path) -> None:
    control = SandboxControl(box)
    plan = DrillPlan(target=control.target(), fault=Fault.CORRUPTION, rto_seconds=30, timeout_seconds=30)
    journal = _RefusingInject(tmp_path / "journal.jsonl")
    restore_module.run_restore_drill(plan, box, journal, lambda _line: None)
    saved = {row[0] for row in next(e for e in read_journal(journal.path) if e["kind"] == "canary-saved")["rows"]}
    assert _canary_ids(box) >= saved  # nothing deleted
    assert "abort" in journal.kinds and not journal.kinds & {"injected", "restore"}
    assert not rows_may_be_missing(journal.kinds)


def test_a_row_committed_during_the_drill_is_not_deleted(box: Sandbox, tmp_path: Path) -> None:
    """The application writes between the drill's read of the rows and its `DELETE`: the drill deletes exactly the
    rows it journalled, so the new row is never deleted unsaved."""
    assert box.state.data is not None
    primary = box.state.data.clusters[PRIMARY]
    late: list[int] = []

    def progress(line: str) -> None:
        if line.startswith("fault:"):  # after `canary-saved`, just before the DELETE
            with primary.connect() as conn:
                row = conn.execute("INSERT INTO canary (site) VALUES ('app') RETURNING id").fetchone()
                assert row is not None
                late.append(int(row[0]))

    control = SandboxControl(box)
    plan = DrillPlan(target=control.target(), fault=Fault.CORRUPTION, rto_seconds=30, timeout_seconds=30)
    journal = Journal(tmp_path / "journal.jsonl")
    restore_module.run_restore_drill(plan, box, journal, progress)
    events = read_journal(journal.path)
    saved = {row[0] for row in next(e for e in events if e["kind"] == "canary-saved")["rows"]}
    (new,) = late
    assert new not in saved and new in _canary_ids(box)  # the rows after the backup are lost by design, not this one
    injected = next(e for e in events if e["kind"] == "injected")
    assert injected["deleted_rows"] == len(saved)
    assert next(e for e in events if e["kind"] == "replicated")["reached"] is True
    assert "repaired" in journal.kinds and "fresh-dropped" in journal.kinds


def test_a_failure_before_the_drill_starts_releases_its_lock(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a bug) while the target is read, before the drill's signal handling: nothing was deleted, so the
    lock goes and the next drill is not refused as stale."""

    def interrupted(_self: SandboxControl) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(SandboxControl, "target", interrupted)
    result = runner.invoke(app, ["drill", "--local", "--data", "--fault", "corruption", "--sandbox-dir", str(box.dir),
                                 "--out", str(tmp_path / "out"), "--lock-dir", str(tmp_path / "locks")])  # fmt: skip
    assert result.exit_code != 0
    assert list((tmp_path / "locks").glob("*.lock")) == []
