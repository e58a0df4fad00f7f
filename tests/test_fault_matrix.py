"""The drill fault matrix, with real processes: every fault kind, stopped by SIGINT, SIGTERM or SIGKILL in each phase.

After every case the same promises hold: the primary answers its health path for the service hostname (checked
as a client would, over TLS), DNS answers the primary again, no drill process is left, no lock is left (after
`bascule drill recover` for SIGKILL), and the report says what happened. Assertions are on outcomes, never on
how long anything took; waits only bound how long a broken build may hang.

The sandbox is held by a separate long-lived process that never reaps its children, as a `sandbox up` wrapper
or a CI job would: a site a drill stops then stays a zombie of that holder, which is how `drill recover` once
reported "restored" while the primary stayed down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.drills.control import SandboxControl
from bascule.drills.journal import read_journal
from bascule.drills.lock import read_lock
from bascule.io.processes import alive
from bascule.readiness.site import Trust, check_site
from bascule.sandbox import ADDRESSES, PRIMARY, SECONDARY, Sandbox
from bascule.sandbox.modes import HEALTHY, SLOW
from tests.conftest import empty_lock, have_pdns

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]
HOLDER = """
import signal, sys
from pathlib import Path
from bascule.sandbox import Sandbox, SandboxService
# TTL 3 s: a caching resolver needs seconds, not a moment, to see a switch, so a signal sent once the fault is in
# effect lands while the drill is still observing the failover, even on a loaded machine.
Sandbox.start(Path(sys.argv[1]), SandboxService(ttl=3))
print("ready", flush=True)
signal.pause()
"""

if not have_pdns():
    if os.environ.get("CI"):
        raise RuntimeError("pdns_server is missing in CI: .ci/run must install pdns-server pdns-backend-bind")
    pytest.skip("pdns_server not installed (apt-get install pdns-server pdns-backend-bind)", allow_module_level=True)


def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for a state the system must reach; the timeout only keeps a broken build from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never reached: {what}")


def hold_sandbox(directory: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    return holder


def release_sandbox(directory: Path, holder: subprocess.Popen[str]) -> None:
    box = Sandbox.load(directory)
    if box is not None:
        box.stop()
    holder.kill()
    holder.wait()


@pytest.fixture(scope="module")
def box_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("matrix") / "sandbox"
    holder = hold_sandbox(directory)
    yield directory
    release_sandbox(directory, holder)


def kinds(journal: Path) -> list[str]:
    return [e["kind"] for e in read_journal(journal)] if journal.exists() else []


def start_drill(box: Path, out: Path, locks: Path, fault: str, env: dict[str, str] | None = None) -> Any:
    args = [*BASCULE, "drill", "--local", "--fault", fault, "--sandbox-dir", str(box), "--lock-dir", str(locks),
            "--out", str(out)]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def recover(locks: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASCULE, "drill", "recover", "--lock-dir", str(locks)], capture_output=True, text=True,
                          timeout=120, check=False, env=env)  # fmt: skip


def primary_problems(box: Path) -> list[str]:
    """What a client asking the primary directly for the service hostname would see wrong (TLS and health)."""
    sandbox = Sandbox.load(box)
    assert sandbox is not None
    target = SandboxControl(sandbox).target()
    site = check_site(PRIMARY, ADDRESSES[PRIMARY], target.port, target.hostname, target.health_path,
                      Trust(target.ca_bundle), timeout=5)  # fmt: skip
    return list(site.problems)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if text in proc.joinpath("cmdline").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


def assert_restored(box: Path, out: Path, locks: Path) -> None:
    """The promises that hold after every exit path."""
    assert primary_problems(box) == []
    sandbox = Sandbox.load(box)
    assert sandbox is not None and sandbox.running()
    until(lambda: sandbox.resolve(sandbox.state.service.hostname) == [ADDRESSES[PRIMARY]], "DNS back on the primary")
    assert processes_mentioning(str(out)) == [], "a drill process is left"
    assert list(locks.glob("*.lock")) == []


PHASE_EVENT = {"preflight": "plan", "failover": "injected", "failback": "restored"}
CASES = [
    (fault, sig, phase)
    for fault in ("health", "outage", "switch")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
    for phase in ("preflight", "failover", "failback")
    if (fault, sig, phase) != ("outage", signal.SIGKILL, "failover")  # its own test below, with more checks
]


@pytest.mark.parametrize(("fault", "sig", "phase"), CASES, ids=[f"{f}-{s.name}-{p}" for f, s, p in CASES])
def test_stopped_drill_always_restores(box_dir: Path, tmp_path: Path, fault: str, sig: signal.Signals,
                                       phase: str) -> None:  # fmt: skip
    out, locks = tmp_path / "report", tmp_path / "locks"
    journal = out / "journal.jsonl"
    if phase == "preflight":  # a standby answering its health checks in 3 s keeps the drill in preflight that long
        _site_mode(box_dir, SECONDARY, SLOW)
    try:
        drill = start_drill(box_dir, out, locks, fault)
        until(lambda: PHASE_EVENT[phase] in kinds(journal), f"the drill reaching {phase}")
        drill.send_signal(sig)
        drill.communicate(timeout=60)
    finally:
        _site_mode(box_dir, SECONDARY, HEALTHY)
    if sig is signal.SIGKILL:
        assert drill.returncode == -signal.SIGKILL
        with journal.open("a") as handle:
            handle.write('{"seq": 99, "kind": "pro')  # as if it had been killed in the middle of a write
        fixed = recover(locks)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert kinds(journal)[-2:] == ["torn-line-dropped", "recovered"]
    else:
        assert drill.returncode == 1
    assert_restored(box_dir, out, locks)

    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "fail"
    if sig is signal.SIGKILL:
        assert "the drill process was killed before it ended; `bascule drill recover` finished it" in report["reasons"]
    else:
        assert f"interrupted by {sig.name} during {phase}" in report["reasons"]
    assert report["restore"] == {"preflight": "not-needed", "failover": "recovered" if sig is signal.SIGKILL else "ok",
                                 "failback": "ok"}[phase]  # fmt: skip
    if phase == "preflight":
        assert "inject" not in kinds(journal)
    rebuilt = CliRunner().invoke(app, ["drill", "report", str(journal), "--out", str(tmp_path / "again")])
    assert rebuilt.exit_code == 1, rebuilt.output


def _site_mode(box: Path, role: str, mode: str) -> None:
    sandbox = Sandbox.load(box)
    assert sandbox is not None
    sandbox.set_site_mode(role, mode)


def test_kill9_during_outage_then_recover_brings_the_primary_back(box_dir: Path, tmp_path: Path) -> None:
    out, locks = tmp_path / "report", tmp_path / "locks"
    journal = out / "journal.jsonl"
    before = Sandbox.load(box_dir)
    assert before is not None
    stopped = before.state.pids[PRIMARY]
    drill = start_drill(box_dir, out, locks, "outage")
    until(lambda: "injected" in kinds(journal), "the outage injected")
    drill.kill()
    drill.wait(timeout=30)
    # The stopped primary is a zombie of the process holding the sandbox, which does not reap it.
    assert Path(f"/proc/{stopped}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    assert primary_problems(box_dir) != []

    fixed = recover(locks)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"restored {SandboxControl(before).lock_key()} after a killed drill" in fixed.stdout
    assert primary_problems(box_dir) == []  # the health path answers 200 for the hostname again
    assert_restored(box_dir, out, locks)
    report = json.loads((out / "report.json").read_text())
    assert report["restore"] == "recovered"


def test_concurrent_drills_one_runs_one_is_refused(box_dir: Path, tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    first, second = (start_drill(box_dir, tmp_path / name, locks, "health") for name in ("a", "b"))
    results = sorted((p.wait(timeout=120), p.communicate()[1]) for p in (first, second))
    assert [code for code, _ in results] == [0, 3], results
    assert "another drill" in results[1][1]
    assert_restored(box_dir, tmp_path / "a", locks)
    assert_restored(box_dir, tmp_path / "b", locks)


def test_an_empty_lock_is_refused_then_recovered(box_dir: Path, tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    lock = empty_lock(box_dir, locks)
    drill = start_drill(box_dir, tmp_path / "r", locks, "health")
    _, stderr = drill.communicate(timeout=120)
    assert drill.returncode == 3 and "bascule drill recover" in stderr
    fixed = recover(locks)
    assert fixed.returncode == 0 and "removed an unreadable lock" in fixed.stdout
    assert not lock.exists()


def test_powerdns_killed_mid_drill_then_the_partly_down_sandbox_is_refused(tmp_path: Path) -> None:
    """The switch itself dies: the drill restores and says so; the next drill refuses the broken sandbox instead
    of quietly drilling a temporary one."""
    directory, locks, out = tmp_path / "sandbox", tmp_path / "locks", tmp_path / "report"
    holder = hold_sandbox(directory)
    try:
        drill = start_drill(directory, out, locks, "health")
        until(lambda: "injected" in kinds(out / "journal.jsonl"), "the fault injected")
        sandbox = Sandbox.load(directory)
        assert sandbox is not None
        os.killpg(sandbox.state.pids["pdns"], signal.SIGKILL)
        drill.communicate(timeout=120)
        assert drill.returncode == 1
        report = json.loads((out / "report.json").read_text())
        assert report["failover"]["outcome"] == "abort" and report["restore"] == "ok"
        assert any("DNS switch itself is unreachable" in r for r in report["reasons"])
        assert primary_problems(directory) == []
        assert list(locks.glob("*.lock")) == [] and processes_mentioning(str(out)) == []

        again = start_drill(directory, tmp_path / "second", locks, "health")
        stdout, stderr = again.communicate(timeout=120)
        assert again.returncode == 3
        assert f"the sandbox in {directory} is not fully running (pdns down)" in stderr
        assert "starting a sandbox" not in stdout and not (tmp_path / "second" / "report.json").exists()
    finally:
        release_sandbox(directory, holder)


def test_kill9_while_the_drill_starts_its_own_sandbox_leaves_nothing_running(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    locks = tmp_path / "cache" / "bascule" / "locks"
    drill = subprocess.Popen([*BASCULE, "drill", "--local", "--out", str(tmp_path / "r")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)  # fmt: skip
    until(lambda: len(list(locks.glob("*.lock"))) == 1, "the drill's lock")
    (lock,) = locks.glob("*.lock")
    info = read_lock(lock)
    assert info["owned_sandbox"] is True
    state = Path(info["control"]["directory"]) / "state.json"
    until(lambda: state.exists() and "pdns" in json.loads(state.read_text())["pids"], "PowerDNS started")
    pdns = json.loads(state.read_text())["pids"]["pdns"]
    drill.kill()
    drill.communicate(timeout=30)
    assert alive(pdns)  # left running by the kill, but recorded

    fixed = recover(locks, env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "stopped the sandbox that drill had started" in fixed.stdout
    assert not alive(pdns)
    assert processes_mentioning(info["control"]["directory"]) == []
    assert not Path(info["control"]["directory"]).exists(), "the drill's own sandbox folder is left"
    assert list(locks.glob("*.lock")) == []


def test_a_drill_removes_the_sandbox_folder_it_made(tmp_path: Path) -> None:
    """Its own sandbox's folder (logs, sockets, the CA's private keys) goes with it, even on a dry run."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TMPDIR": str(temp)}
    proc = subprocess.run([*BASCULE, "drill", "--local", "--dry-run", "-q", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in temp.iterdir()) == []
