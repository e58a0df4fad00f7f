"""A drill's own faults on the real sandbox: a full disk under the journal, a stop in the last failback round, a
stop while the reports are written, a standby that is not ready (refused, or forced on record).

The full disk is real: a 64 KiB tmpfs (root only; skipped otherwise) filled to a few KiB, so the journal hits
ENOSPC part-way through the failover.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bascule.drills import session as session_module
from bascule.drills.control import SandboxControl
from bascule.drills.journal import Journal, Redactor, read_journal
from bascule.drills.lock import DrillLock
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.runner import DrillInterrupted, Observation, run_drill, signals_interrupt
from bascule.drills.session import drill_session
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox
from bascule.sandbox.modes import HEALTHY, UNBOUND

pytestmark = pytest.mark.sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox.start(tmp_path / "sandbox")
    yield box
    box.stop()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs with about 6 KiB free: a drill journal fills it within its first probes."""
    mount = tmp_path / "full"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        (mount / "filler").write_bytes(b"x" * (free - 6 * 1024))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _restored(sandbox: Sandbox) -> bool:
    state = Sandbox.load(sandbox.dir)
    return (
        state is not None
        and not state.state.switched
        and sandbox.resolve(state.state.service.hostname) == ["127.0.0.2"]
    )


def test_a_full_disk_never_keeps_the_fault(sandbox: Sandbox, full_disk: Path, tmp_path: Path) -> None:
    """ENOSPC during failover: the drill still restores, releases its lock (the restore happened) and says why
    there is no report; exit 1."""
    control = SandboxControl(sandbox)
    plan = DrillPlan(control.target(), Fault.SWITCH, rto_seconds=30, timeout_seconds=15)
    locks = tmp_path / "locks"
    result = drill_session(plan, control, full_disk / "r", locks, {"journal": "j", "fault": "switch"}, Redactor(),
                           lambda _line: None)  # fmt: skip
    assert _restored(sandbox)
    assert result.exit_code == 1 and result.summary is None and not result.lock_kept
    assert not list(locks.glob("*.lock"))
    assert any("No space left on device" in p and "nothing is left in place" in p for p in result.problems), (
        result.problems
    )


def test_recover_converges_with_the_disk_still_full(sandbox: Sandbox, full_disk: Path, tmp_path: Path) -> None:
    """A killed drill's journal sits on the full disk: `drill recover` restores, cannot note it, clears the lock."""
    journal = Journal(full_disk / "r" / "journal.jsonl")
    plan = DrillPlan(SandboxControl(sandbox).target(), Fault.SWITCH, rto_seconds=30, timeout_seconds=15)
    journal.append("plan", plan=plan.as_json())
    journal.append("inject", fault="switch")
    journal.close()
    assert journal.write_error is None
    sandbox.set_switched(True)
    (full_disk / "more").write_bytes(b"x" * (os.statvfs(full_disk).f_bavail * os.statvfs(full_disk).f_frsize))
    locks = tmp_path / "locks"
    lock = DrillLock(locks, control_key := SandboxControl(sandbox).lock_key())
    lock.acquire({"journal": str(journal.path), "fault": "switch", "control": SandboxControl(sandbox).describe()})
    record = json.loads(lock.path.read_text())
    lock.path.write_text(json.dumps({**record, "pid": 999_999_999}))  # the drill is dead
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "recover", "--lock-dir", str(locks)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"restored {control_key}" in proc.stdout
    assert "were not updated: [Errno 28] No space left on device" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert _restored(sandbox) and not lock.path.exists()


def _stop_in_the_last_failback_round(observation: Observation) -> None:
    if (
        observation.phase == "failback"
        and observation.http.get("site") == PRIMARY
        and all(result.site == PRIMARY for _, result in observation.dns)
    ):
        os.kill(os.getpid(), signal.SIGTERM)  # recorded by signals_interrupt's handler, as a real SIGTERM is


def test_a_stop_in_the_last_failback_round_is_not_dropped(sandbox: Sandbox, tmp_path: Path) -> None:
    control = SandboxControl(sandbox)
    plan = DrillPlan(control.target(), Fault.SWITCH, rto_seconds=30, timeout_seconds=15)
    journal = Journal(tmp_path / "journal.jsonl")
    with signals_interrupt(), pytest.raises(DrillInterrupted):
        run_drill(plan, control, journal, lambda _line: None, watch=_stop_in_the_last_failback_round)
    journal.close()
    kinds = [e["kind"] for e in read_journal(journal.path)]
    assert kinds[-2:] == ["reached", "interrupted"] and "end" not in kinds
    assert read_journal(journal.path)[-1]["phase"] == "failback"


def test_a_stop_while_reports_are_written_still_leaves_them(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = session_module.write_reports

    def signalled(out_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGTERM)
        return real(out_dir, events)

    monkeypatch.setattr(session_module, "write_reports", signalled)
    control = SandboxControl(sandbox)
    plan = DrillPlan(control.target(), Fault.SWITCH, rto_seconds=30, timeout_seconds=15)
    result = drill_session(plan, control, tmp_path / "r", tmp_path / "locks", {"journal": "j"}, Redactor(),
                           lambda _line: None, history_dir=tmp_path / "h")  # fmt: skip
    assert (tmp_path / "r" / "report.html").is_file()
    assert len((tmp_path / "h" / "history.jsonl").read_text().splitlines()) == 1
    assert result.interrupted == "SIGTERM" and result.exit_code == 1
    assert result.summary is not None and result.summary["status"] == "pass"
    assert any("arrived after the drill ended" in p for p in result.problems)


def test_an_unready_standby_is_refused_unless_forced_on_record(sandbox: Sandbox, tmp_path: Path) -> None:
    control = SandboxControl(sandbox)
    sandbox.set_site_mode(SECONDARY, UNBOUND)
    try:
        plan = DrillPlan(control.target(), Fault.SWITCH, rto_seconds=30, timeout_seconds=6)
        refused = drill_session(plan, control, tmp_path / "a", tmp_path / "locks", {}, Redactor(), lambda _l: None)
        assert refused.exit_code == 3 and not sandbox.state.switched
        forced_plan = DrillPlan(control.target(), Fault.SWITCH, rto_seconds=30, timeout_seconds=6,
                                force_reason="standby rebuild window, approved by ops")  # fmt: skip
        forced = drill_session(forced_plan, control, tmp_path / "b", tmp_path / "locks", {}, Redactor(),
                               lambda _l: None)  # fmt: skip
    finally:
        sandbox.set_site_mode(SECONDARY, HEALTHY)
    assert forced.summary is not None and forced.summary["forced"]["reason"].startswith("standby rebuild")
    assert any("secondary" in p for p in forced.summary["forced"]["overridden"])
    assert "**Forced** (standby rebuild window" in (tmp_path / "b" / "report.md").read_text()
    assert "standby rebuild window" in (tmp_path / "b" / "report.html").read_text()
    assert _restored(sandbox)


def test_the_drill_command_with_its_reports_on_a_full_disk(sandbox: Sandbox, full_disk: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bascule.cli", "drill", "--local", "--sandbox-dir", str(sandbox.dir), "--fault",
               "switch", "--timeout", "15", "--out", str(full_disk / "r"), "--lock-dir", str(tmp_path / "locks")]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the journal could not be written" in proc.stderr and "nothing is left in place" in proc.stderr
    assert "Traceback" not in proc.stderr and "fault may still be in place" not in proc.stderr
    assert _restored(sandbox) and not list((tmp_path / "locks").glob("*.lock"))


def _failing(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("injected after the lock was taken")


@pytest.mark.parametrize("where", ["Journal", "signals_interrupt", "run_drill", "_write_records"])
def test_any_failure_after_the_lock_is_taken_releases_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A bug anywhere between taking the lock and the records (exit 70) must not leave a lock that blocks the
    sandbox until `drill recover`: nothing was injected, so nothing is left to recover."""
    from typer.testing import CliRunner

    from bascule.cli.app import app

    monkeypatch.setattr(session_module, where, _failing)
    locks = tmp_path / "locks"
    result = CliRunner().invoke(app, ["drill", "--local", "--sandbox-dir", str(sandbox.dir), "--lock-dir",
                                      str(locks), "--out", str(tmp_path / "r"), "--timeout", "15"])  # fmt: skip
    assert result.exit_code == 70, result.output
    assert "injected after the lock was taken" in result.stderr
    assert list(locks.glob("*.lock")) == []
    assert _restored(sandbox)


def test_a_failure_after_the_lock_of_an_own_sandbox_releases_it_and_stops_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bascule.cli.app import app
    from bascule.io.processes import alive

    started: list[Sandbox] = []
    real_start = Sandbox.start

    def start(*args: Any, **kwargs: Any) -> Sandbox:
        started.append(real_start(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(Sandbox, "start", start)
    monkeypatch.setattr(session_module, "run_drill", _failing)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # the default sandbox folder is per checkout: none runs in this one
    locks = tmp_path / "locks"
    result = CliRunner().invoke(app, ["drill", "--local", "--lock-dir", str(locks), "--out", str(tmp_path / "r")])
    assert result.exit_code == 70, result.output
    assert list(locks.glob("*.lock")) == []
    (box,) = started
    assert not box.dir.exists() and not any(alive(pid) for pid in box.state.pids.values())
