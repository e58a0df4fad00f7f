"""The fault matrix, on loopback with real processes: PowerDNS, two HTTP sites, the drill engine.

No DNS or HTTP is mocked. Assertions are on outcomes recorded in the journal (which site answered,
whether restore ran), never on how many seconds something took.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bascule.drills.control import SandboxControl
from bascule.drills.journal import Journal, read_journal
from bascule.drills.lock import DrillLock
from bascule.drills.plan import FAILOVER_FAULTS, DrillPlan, Fault
from bascule.drills.recovery import Outcome, recover_locks
from bascule.drills.report import summarize
from bascule.drills.runner import run_drill
from bascule.io.processes import alive
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox, SandboxError, SandboxService
from bascule.sandbox import sandbox as sandbox_module
from bascule.sandbox.modes import HEALTHY, SLOW, UNHEALTHY
from tests.conftest import have_pdns

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]


if not have_pdns():
    if os.environ.get("CI"):
        raise RuntimeError("pdns_server is missing in CI: .ci/run must install pdns-server pdns-backend-bind")
    pytest.skip("pdns_server not installed (apt-get install pdns-server pdns-backend-bind)", allow_module_level=True)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox.start(tmp_path / "sandbox")
    yield box
    box.stop()
    assert not any(alive(pid) for pid in box.state.pids.values())


def plan_for(control: SandboxControl, fault: Fault, timeout: float = 15.0) -> DrillPlan:
    return DrillPlan(target=control.target(), fault=fault, rto_seconds=10, timeout_seconds=timeout, dns_abort_after=8)


def drill(control: SandboxControl, fault: Fault, tmp_path: Path, timeout: float = 15.0) -> dict[str, Any]:
    journal = Journal(tmp_path / "journal.jsonl")
    run_drill(plan_for(control, fault, timeout), control, journal, lambda _line: None)
    journal.close()
    return summarize(read_journal(tmp_path / "journal.jsonl"))


def kinds(path: Path) -> list[str]:
    return [e["kind"] for e in read_journal(path)]


@pytest.mark.parametrize("fault", FAILOVER_FAULTS)
def test_each_fault_fails_over_and_back(sandbox: Sandbox, tmp_path: Path, fault: Fault) -> None:
    summary = drill(SandboxControl(sandbox), fault, tmp_path)
    assert summary["status"] == "pass", summary["reasons"]
    fo, fb = summary["failover"], summary["failback"]
    assert fo["outcome"] == fb["outcome"] == "reached"
    assert fo["detection_s"] <= fo["dns_all_s"]
    kinds = fo["by_resolver_kind_s"]
    if sandbox.state.resolver_port:  # the caching resolver can only see the switch after the authoritative one
        assert kinds["authoritative"] <= kinds["recursive"] == fo["dns_all_s"]
    elif os.environ.get("CI"):
        raise AssertionError("pdns-recursor is missing in CI: scripts/setup.sh installs it")
    assert summary["restore"] == "ok"
    # Restored for real: healthy primary process, original LUA record, and DNS back on the primary.
    assert sandbox.site_alive(PRIMARY)
    assert sandbox.control_file(PRIMARY).read_text() == HEALTHY
    assert "IN LUA A" in (Path(sandbox.state.directory) / "zone.db").read_text()
    assert sandbox.resolve(sandbox.state.service.hostname) == ["127.0.0.2"]


def test_slow_primary_counts_as_down(sandbox: Sandbox, tmp_path: Path) -> None:
    class Slow(SandboxControl):
        def inject(self, fault: Fault, deadline: datetime) -> None:
            self.sandbox.set_site_mode(PRIMARY, SLOW)

    summary = drill(Slow(sandbox), Fault.HEALTH, tmp_path)
    assert summary["failover"]["outcome"] == "reached"
    assert summary["status"] == "pass"


def test_both_sites_down_is_no_healthy_site_not_a_pass(sandbox: Sandbox, tmp_path: Path) -> None:
    class BothDown(SandboxControl):
        def inject(self, fault: Fault, deadline: datetime) -> None:
            self.sandbox.stop_site(SECONDARY)
            self.sandbox.stop_site(PRIMARY)

        def restore(self, fault: Fault) -> None:
            self.sandbox.start_site(SECONDARY)
            super().restore(fault)

    summary = drill(BothDown(sandbox), Fault.OUTAGE, tmp_path, timeout=6)
    assert summary["status"] == "fail"
    assert summary["failover"]["no_healthy_site_probes"] > 0
    assert any(r.startswith("no healthy site") for r in summary["reasons"])
    assert sandbox.running()


def test_dns_server_killed_mid_drill_fails_clearly_and_restores(sandbox: Sandbox, tmp_path: Path) -> None:
    class KillDns(SandboxControl):
        def inject(self, fault: Fault, deadline: datetime) -> None:
            super().inject(fault, deadline)
            os.killpg(self.sandbox.state.pids["pdns"], signal.SIGKILL)

    summary = drill(KillDns(sandbox), Fault.HEALTH, tmp_path)
    assert summary["status"] == "fail"
    assert summary["failover"]["outcome"] == "abort"
    assert "DNS switch itself is unreachable" in summary["failover"]["abort_reason"]
    assert summary["restore"] == "ok"
    assert sandbox.control_file(PRIMARY).read_text() == HEALTHY


def test_flapping_primary_cannot_oscillate_faster_than_its_checks(sandbox: Sandbox) -> None:
    """The switch only changes on a health check, and only after the failures PowerDNS really waits for."""
    stop = threading.Event()

    def flap() -> None:
        mode = UNHEALTHY
        while not stop.is_set():
            sandbox.set_site_mode(PRIMARY, mode)
            mode = HEALTHY if mode == UNHEALTHY else UNHEALTHY
            stop.wait(0.2)

    flapper = threading.Thread(target=flap)
    window = 6.0
    answers = []
    flapper.start()
    try:
        end = time.monotonic() + window
        while time.monotonic() < end:
            answers.append(tuple(sandbox.resolve(sandbox.state.service.hostname)))
            time.sleep(0.05)
    finally:
        stop.set()
        flapper.join()
        sandbox.set_site_mode(PRIMARY, HEALTHY)
    changes = sum(1 for a, b in itertools.pairwise(answers) if a != b)
    checks = window / (sandbox.state.service.interval_seconds * sandbox.state.effective_failures)
    assert len(answers) > 50
    assert changes <= checks + 1, f"{changes} DNS changes in {window} s with ~{checks:.0f} checks"


def _cli(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([*BASCULE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for_event(journal: Path, kind: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and kind in kinds(journal):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {kind} event in {journal}")


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """Checks every 3 s: a wide window after `injected` in which the drill is surely still observing."""
    box = Sandbox.start(tmp_path / "slow", SandboxService(interval_seconds=3, ttl=1, rto_seconds=30))
    yield box
    box.stop()


def test_sigkill_mid_drill_then_recover_restores(slow_sandbox: Sandbox, tmp_path: Path) -> None:
    locks, out = tmp_path / "locks", tmp_path / "report"
    proc = _cli(["drill", "--local", "--sandbox-dir", slow_sandbox.state.directory, "--lock-dir", str(locks),
                 "--out", str(out)])  # fmt: skip
    _wait_for_event(out / "journal.jsonl", "injected")
    proc.kill()
    proc.wait(timeout=10)
    assert slow_sandbox.control_file(PRIMARY).read_text() == UNHEALTHY  # the fault is left behind
    assert len(list(locks.glob("*.lock"))) == 1

    again = _cli(["drill", "--local", "--sandbox-dir", slow_sandbox.state.directory, "--lock-dir", str(locks),
                  "--out", str(tmp_path / "second")])  # fmt: skip
    _, stderr = again.communicate(timeout=30)
    assert again.returncode == 3
    assert "bascule drill recover" in stderr

    recover = subprocess.run([*BASCULE, "drill", "recover", "--lock-dir", str(locks)], capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert recover.returncode == 0, recover.stderr
    assert slow_sandbox.control_file(PRIMARY).read_text() == HEALTHY
    assert list(locks.glob("*.lock")) == []
    assert kinds(out / "journal.jsonl")[-1] == "recovered"
    report = json.loads((out / "report.json").read_text())
    assert report["restore"] == "recovered"


_LIBRARY_DRILL = """
import sys
from pathlib import Path

from bascule.drills.control import SandboxControl
from bascule.drills.journal import Journal
from bascule.drills.lock import DrillLock
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.runner import run_drill
from bascule.sandbox import Sandbox

box = Sandbox.load(Path(sys.argv[1]))
assert box is not None
control, journal = SandboxControl(box), Path(sys.argv[3])
DrillLock(Path(sys.argv[2]), control.lock_key()).acquire(
    {"journal": str(journal), "fault": "health", "control": control.describe(), "owned_sandbox": False}
)
plan = DrillPlan(target=control.target(), fault=Fault.HEALTH, rto_seconds=30, timeout_seconds=60)
run_drill(plan, control, Journal(journal), lambda _line: None)
"""
"""A drill through the library alone, as a program embedding Bascule would run one: lock, run, no CLI."""


def test_a_killed_drill_is_recovered_through_the_library_alone(slow_sandbox: Sandbox, tmp_path: Path) -> None:
    """No `bascule` command anywhere: a library drill is SIGKILLed mid-fault, `recover_locks` restores it."""
    locks, journal = tmp_path / "locks", tmp_path / "report" / "journal.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _LIBRARY_DRILL, slow_sandbox.state.directory, str(locks),
                             str(journal)])  # fmt: skip
    _wait_for_event(journal, "injected")
    proc.kill()
    proc.wait(timeout=10)
    assert slow_sandbox.control_file(PRIMARY).read_text() == UNHEALTHY  # the fault is left behind
    assert len(list(locks.glob("*.lock"))) == 1

    outcomes: list[Outcome] = []
    progress: list[str] = []
    assert recover_locks(locks, outcomes.append, progress.append) is True
    assert [o.outcome for o in outcomes] == ["restored"]
    assert slow_sandbox.control_file(PRIMARY).read_text() == HEALTHY  # the primary is back
    assert slow_sandbox.running()  # not the drill's own sandbox: left running
    assert list(locks.glob("*.lock")) == []  # the lock is gone
    assert kinds(journal)[-1] == "recovered"
    assert json.loads((journal.parent / "report.json").read_text())["restore"] == "recovered"
    assert progress == [f"report updated in {journal.parent}"]
    assert recover_locks(locks, outcomes.append) is True and len(outcomes) == 1  # nothing left to do


def test_sigterm_restores_before_exit(slow_sandbox: Sandbox, tmp_path: Path) -> None:
    locks, out = tmp_path / "locks", tmp_path / "report"
    proc = _cli(["drill", "--local", "--sandbox-dir", slow_sandbox.state.directory, "--lock-dir", str(locks),
                 "--out", str(out)])  # fmt: skip
    _wait_for_event(out / "journal.jsonl", "injected")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 1
    events = kinds(out / "journal.jsonl")
    assert "interrupted" in events and "restored" in events
    assert slow_sandbox.control_file(PRIMARY).read_text() == HEALTHY
    assert list(locks.glob("*.lock")) == []
    assert json.loads((out / "report.json").read_text())["reasons"][0] == "interrupted by SIGTERM during failover"


def test_locked_target_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    DrillLock(locks, SandboxControl(sandbox).lock_key()).acquire({"journal": "elsewhere"})
    proc = subprocess.run([*BASCULE, "drill", "--local", "--sandbox-dir", sandbox.state.directory,
                           "--lock-dir", str(locks), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 3
    assert "another drill" in proc.stderr
    assert not (tmp_path / "r" / "report.json").exists()


def test_preflight_refuses_when_secondary_is_unhealthy(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_site_mode(SECONDARY, UNHEALTHY)
    control = SandboxControl(sandbox)
    journal = Journal(tmp_path / "journal.jsonl")
    plan = DrillPlan(target=control.target(), fault=Fault.HEALTH, rto_seconds=10, timeout_seconds=5,
                     preflight_timeout=1)  # fmt: skip
    run_drill(plan, control, journal, lambda _line: None)
    journal.close()
    events = kinds(tmp_path / "journal.jsonl")
    assert "inject" not in events and events[-1] == "refused"
    summary = summarize(read_journal(tmp_path / "journal.jsonl"))
    assert summary["exit_code"] == 3
    assert summary["reasons"] == ["secondary 127.0.0.3: health /healthz for checkout.sandbox.test answered HTTP 503"]
    assert sandbox.control_file(PRIMARY).read_text() == HEALTHY


def test_main_command_twice_leaves_nothing_behind(tmp_path: Path) -> None:
    """The README's main command, end to end, in a fresh environment: two runs, no leftovers.

    The drill's sandbox is made under a temp folder of this test's own (TMPDIR), so a process left there is this
    drill's and nobody else's: other runs on the same machine start and stop sandboxes under /tmp at the same time."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(scratch)}
    for run in ("one", "two"):
        out = tmp_path / run
        proc = subprocess.run([*BASCULE, "drill", "--local", "--out", str(out)], capture_output=True, text=True,
                              timeout=120, env=env, cwd=tmp_path, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert sorted(p.name for p in out.iterdir()) == ["journal.jsonl", "report.html", "report.json", "report.md"]
        assert "<svg" in (out / "report.html").read_text()
    assert list((tmp_path / "cache" / "bascule" / "locks").glob("*.lock")) == []
    assert list(scratch.glob("bascule-sandbox-*")) == []
    leftovers = [p for p in Path("/proc").glob("[0-9]*") if _cmdline_has(p, str(scratch))]
    assert leftovers == []


def _cmdline_has(proc: Path, needle: str) -> bool:
    try:
        return needle in (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def test_dry_run_changes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    proc = subprocess.run([*BASCULE, "drill", "--local", "--dry-run", "--sandbox-dir", sandbox.state.directory,
                           "--out", str(tmp_path / "r"), "--lock-dir", str(tmp_path / "locks")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "preflight ok" in proc.stdout
    assert not (tmp_path / "r").exists()


def test_missing_pdns_gives_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda _name: None)
    monkeypatch.setattr(sandbox_module.os, "access", lambda _path, _mode: False)
    with pytest.raises(SandboxError, match="apt-get install pdns-server pdns-backend-bind"):
        Sandbox.start(tmp_path / "none")


def test_powerdns_comes_up_on_another_port_when_its_port_is_taken_before_it_binds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A port found free is not reserved. The DNS port the sandbox is given first is one this test holds bound (UDP
    and TCP, as PowerDNS binds both): the server's log says "Address already in use", the sandbox chooses another
    port, and PowerDNS answers there."""
    real_free_port, real_dns_bound = sandbox_module._free_port, Sandbox._dns_bound
    address = sandbox_module.DNS_ADDRESS
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        taken = real_free_port([address], socket.SOCK_DGRAM)  # free on UDP and TCP a moment ago
        udp.bind((address, taken))
        tcp.bind((address, taken))
        tcp.listen()
        offered: list[int] = []
        refused: list[str] = []

        def free_port(addresses: list[str], kind: int = socket.SOCK_STREAM) -> int:
            if kind == socket.SOCK_DGRAM and not offered:  # the first DNS port: the sandbox's PowerDNS
                offered.append(taken)
                return taken
            return real_free_port(addresses, kind)

        def dns_bound(self: Sandbox, timeout: float = 10.0) -> bool:
            bound = real_dns_bound(self, timeout)
            if not bound:
                refused.append((self.dir / "pdns.log").read_text(errors="replace"))
            return bound

        monkeypatch.setattr(sandbox_module, "_free_port", free_port)
        monkeypatch.setattr(Sandbox, "_dns_bound", dns_bound)
        box = Sandbox.start(tmp_path / "sandbox")
        try:
            assert offered == [taken]
            assert len(refused) == 1 and "Address already in use" in refused[0], refused
            assert box.state.dns_port != taken
            assert box.resolve(box.state.service.hostname) == ["127.0.0.2"]
            assert box.resolve(box.state.service.hostname, port=taken) == []  # the holder is no DNS server
        finally:
            box.stop()
        assert not any(alive(pid) for pid in box.state.pids.values())


def test_a_crashing_restore_is_recorded_not_lost(sandbox: Sandbox, tmp_path: Path) -> None:
    class BrokenRestore(SandboxControl):
        def restore(self, fault: Fault) -> None:
            raise RuntimeError("credentials expired")

    summary = drill(BrokenRestore(sandbox), Fault.HEALTH, tmp_path, timeout=5)
    assert summary["restore"] == "failed" and summary["status"] == "fail"
    assert "restore failed" in summary["reasons"]
    events = read_journal(tmp_path / "journal.jsonl")
    assert [e["error"] for e in events if e["kind"] == "restore-failed"] == ["RuntimeError: credentials expired"]
    SandboxControl(sandbox).restore(Fault.HEALTH)
