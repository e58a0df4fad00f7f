"""The restore drill's record and its undo, on a real sandbox (PostgreSQL pair, moto's S3 store): the history row,
a SIGTERM mid-run (the drill puts the deleted rows back itself), a SIGKILL mid-run (`bascule drill recover` puts them
back from the journal)."""

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
from bascule.drills.journal import read_journal
from bascule.io.processes import alive
from bascule.sandbox import PRIMARY, Sandbox
from tests.conftest import need_pdns_and_postgres

pytestmark = pytest.mark.sandbox
runner = CliRunner()

need_pdns_and_postgres()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox.start(tmp_path_factory.mktemp("restore-drill") / "sandbox", data=True, backups=True)
    yield sandbox
    sandbox.stop()
    assert not any(alive(pid) for pid in sandbox.state.pids.values())


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
from bascule.drills.restore import run_restore_drill
from bascule.sandbox import Sandbox

box = Sandbox.load(Path(sys.argv[1]))
assert box is not None
control, journal, marker = SandboxControl(box), Path(sys.argv[3]), Path(sys.argv[4])
DrillLock(Path(sys.argv[2]), control.lock_key()).acquire(
    {"journal": str(journal), "fault": "corruption", "control": control.describe(), "owned_sandbox": False}
)
plan = DrillPlan(target=control.target(), fault=Fault.CORRUPTION, rto_seconds=30, timeout_seconds=30)


def progress(line: str) -> None:
    if line.startswith("restoring"):  # the rows are deleted and the standby has them deleted too: hang here
        marker.write_text("hanging")
        time.sleep(600)


run_restore_drill(plan, box, Journal(journal), progress)
"""


def test_a_killed_restore_drill_is_recovered_from_its_journal(box: Sandbox, tmp_path: Path) -> None:
    locks, journal, marker = tmp_path / "locks", tmp_path / "out" / "journal.jsonl", tmp_path / "hanging"
    ids_before = _canary_ids(box)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_DRILL, str(box.dir), str(locks), str(journal),
                             str(marker)])  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the drill never reached its restore step"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    saved = {row[0] for row in next(e for e in read_journal(journal) if e["kind"] == "canary-saved")["rows"]}
    assert saved >= ids_before and not _canary_ids(box) & saved  # the fault is left behind
    assert len(list(locks.glob("*.lock"))) == 1

    recover = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "recover", "--lock-dir", str(locks),
                              "--format", "json"], capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert recover.returncode == 0, recover.stdout + recover.stderr
    (outcome,) = json.loads(recover.stdout)["recovered"]
    assert outcome["outcome"] == "restored"
    assert f"{len(saved)} of the {len(saved)} canary rows it had deleted put back" in outcome["message"]
    assert _canary_ids(box) == saved and list(locks.glob("*.lock")) == []
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
