"""The CLI's output conventions on the commands that need the sandbox, as real processes against a real one.

`--format json` leaves exactly one JSON document on stdout (checked with `json.loads` and, where installed, `jq`),
prose goes to stderr, `--quiet` leaves only the result, a drill on a terminal shows a live line naming each
resolver while stdout stays clean, and hints repeat the folders the user chose.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import empty_lock, have_pdns

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]
JQ = shutil.which("jq")

if not have_pdns():
    if os.environ.get("CI"):
        raise RuntimeError("pdns_server is missing in CI: scripts/setup.sh installs pdns-server pdns-backend-bind")
    pytest.skip("pdns_server not installed (apt-get install pdns-server pdns-backend-bind)", allow_module_level=True)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASCULE, *args], capture_output=True, text=True, timeout=timeout, check=False)


def parsed(proc: subprocess.CompletedProcess[str]) -> object:
    """stdout as one JSON document, also through `jq` when it is installed (CI installs it: scripts/setup.sh)."""
    document = json.loads(proc.stdout)
    if JQ is None and os.environ.get("CI"):
        raise RuntimeError("jq is missing in CI: scripts/setup.sh installs it")
    if JQ is not None:
        through = subprocess.run([JQ, "-c", "."], input=proc.stdout, capture_output=True, text=True, check=True)
        assert json.loads(through.stdout) == document
    return document


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sandbox started by `bascule sandbox up --format json`, stopped by `bascule sandbox down --format json`."""
    directory = tmp_path_factory.mktemp("conventions") / "box"
    up = cli("sandbox", "up", "--sandbox-dir", str(directory), "--format", "json")
    assert up.returncode == 0, up.stderr
    status = parsed(up)
    assert isinstance(status, dict) and status["answer"] == ["127.0.0.2"] and status["directory"] == str(directory)
    assert f"`bascule drill --local --sandbox-dir {directory}`" in up.stderr  # the hint, on stderr, with the folder
    yield directory
    down = cli("sandbox", "down", "--sandbox-dir", str(directory), "--format", "json")
    assert down.returncode == 0 and parsed(down) == {"directory": str(directory), "stopped": True}


def test_sandbox_status_site_and_verify_print_json_alone(box: Path) -> None:
    status = cli("sandbox", "status", "--sandbox-dir", str(box), "-f", "json")
    assert status.returncode == 0 and parsed(status)["processes"] == {  # type: ignore[index]
        "primary": True, "secondary": True, "pdns": True, "recursor": True}  # fmt: skip
    site = cli("sandbox", "site", "secondary", "healthy", "--sandbox-dir", str(box), "-f", "json")
    assert site.returncode == 0 and parsed(site) == {"role": "secondary", "mode": "healthy"}
    verify = cli("verify", "--local", "--sandbox-dir", str(box), "-f", "json", "-q")
    assert verify.returncode == 0 and verify.stderr == ""
    assert [s["ready"] for s in parsed(verify)["services"]] == [True]  # type: ignore[index]


def test_dry_run_json_is_one_document_with_the_plan_and_the_preflight(box: Path, tmp_path: Path) -> None:
    proc = cli("drill", "--local", "--dry-run", "--format", "json", "--sandbox-dir", str(box),
               "--lock-dir", str(tmp_path / "locks"), "--out", str(tmp_path / "r"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    document = parsed(proc)
    assert isinstance(document, dict) and set(document) == {"plan", "preflight"}
    assert document["preflight"] == {"ok": True, "problems": []}
    assert document["plan"]["target"]["hostname"] == "checkout.sandbox.test"
    assert "preflight: waiting" in proc.stderr  # progress is prose: on stderr beside JSON
    assert not (tmp_path / "r").exists()


def test_refused_dry_run_still_prints_its_json_and_exits_3(box: Path, tmp_path: Path) -> None:
    assert cli("sandbox", "site", "secondary", "unhealthy", "--sandbox-dir", str(box)).returncode == 0
    try:
        proc = cli("drill", "--local", "--dry-run", "-f", "json", "-q", "--sandbox-dir", str(box),
                   "--lock-dir", str(tmp_path / "locks"))  # fmt: skip
    finally:
        assert cli("sandbox", "site", "secondary", "healthy", "--sandbox-dir", str(box)).returncode == 0
    assert proc.returncode == 3
    document = parsed(proc)
    assert document["preflight"]["ok"] is False  # type: ignore[index]
    assert proc.stderr.startswith("error: preflight: secondary 127.0.0.3: health /healthz")


def test_quiet_json_drill_prints_the_summary_alone_and_report_agrees(box: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = cli("drill", "--local", "-f", "json", "-q", "--sandbox-dir", str(box), "--lock-dir", str(tmp_path / "l"),
               "--out", str(out), "--history", str(tmp_path / "h"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet: no progress, no "reports:", no "history:"
    summary = parsed(proc)
    assert summary == json.loads((out / "report.json").read_text())
    report = cli("drill", "report", str(out / "journal.jsonl"), "-f", "json")
    assert report.returncode == 0 and parsed(report) == summary
    history = cli("drill", "history", "--history", str(tmp_path / "h"), "-f", "json")
    assert list(parsed(history)) == ["checkout (health)"]  # type: ignore[call-overload]


def test_on_a_terminal_a_live_line_names_each_resolver_while_stdout_stays_json(box: Path, tmp_path: Path) -> None:
    """stderr is a pseudo-terminal (as in a shell), stdout a pipe (as in `| jq`)."""
    primary, replica = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # the terminal's other side closed: the drill has exited
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "250"}
    proc = subprocess.run([*BASCULE, "drill", "--local", "-f", "json", "--sandbox-dir", str(box),
                           "--lock-dir", str(tmp_path / "l"), "--out", str(tmp_path / "r")],
                          stdout=subprocess.PIPE, stderr=replica, env=env, timeout=120, check=False)  # fmt: skip
    os.close(replica)
    reader.join(timeout=10)
    os.close(primary)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["status"] == "pass"
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    assert re.search(r"failover \+\d+\.\d s \| authoritative 127\.0\.0\.1:\d+ -> \w+ \| recursor 127\.0\.0\.1:\d+ -> ",
                     screen), screen[-2000:]  # fmt: skip
    assert "failback +" in screen and "reports:" in screen


def test_a_stale_lock_hint_names_the_chosen_lock_dir(box: Path, tmp_path: Path) -> None:
    locks = tmp_path / "my locks"
    empty_lock(box, locks)
    proc = cli("drill", "--local", "--sandbox-dir", str(box), "--lock-dir", str(locks))
    assert proc.returncode == 3
    assert f"run `bascule drill recover --lock-dir '{locks}'` to restore" in proc.stderr
    recover = cli("drill", "recover", "--lock-dir", str(locks), "-f", "json")
    assert recover.returncode == 0
    assert [o["outcome"] for o in parsed(recover)["recovered"]] == ["removed-unreadable"]  # type: ignore[index]


def test_a_drill_asking_for_other_settings_than_the_running_sandbox_warns_even_when_quiet(
    box: Path, tmp_path: Path
) -> None:
    """The sandbox runs the fast defaults; stack dev's checkout has 10 s checks, 3 failures and a 60 s TTL."""
    stacks = Path(__file__).resolve().parents[1] / "stacks"
    proc = cli("drill", "--local", "--dry-run", "-q", "--sandbox-dir", str(box), "--lock-dir", str(tmp_path / "l"),
               "--stack", "dev", "--service", "checkout", "--stacks-dir", str(stacks))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        f"warning: the sandbox in {box} already runs with interval 1 s, 2 failures, TTL 1 s, RTO 15 s, RPO 5 s, not "
        "interval 10 s, 3 failures, TTL 60 s, RTO 300 s, RPO 60 s: this drill uses the running sandbox's; "
        f"`bascule sandbox down --sandbox-dir {box}` first to drill with the other ones"
    )


def test_sandbox_status_text_is_words_not_python_reprs(box: Path) -> None:
    proc = cli("sandbox", "status", "--sandbox-dir", str(box))
    assert proc.returncode == 0, proc.stderr
    lines = {label.strip(): value for label, _, value in (line.partition(": ") for line in proc.stdout.splitlines())}
    assert lines["DNS answers"] == "127.0.0.2 (primary)"
    assert lines["processes"] == "primary up, secondary up, pdns up, recursor up"
    assert lines["databases"] == "none (`bascule sandbox up --data`)"
    assert not re.search(r"[\[\]{}]|\bNone\b|\bTrue\b", proc.stdout)


def test_text_dry_run_prints_the_plan_as_lines_not_json(box: Path, tmp_path: Path) -> None:
    proc = cli("drill", "--local", "--dry-run", "-q", "--sandbox-dir", str(box), "--lock-dir", str(tmp_path / "l"))
    assert proc.returncode == 0, proc.stderr
    assert "{" not in proc.stdout
    assert "         fault: health" in proc.stdout.splitlines()
    assert re.search(r"^     resolvers: authoritative 127\.0\.0\.1:\d+; recursor 127\.0\.0\.1:\d+$", proc.stdout, re.M)


def test_a_piped_drill_names_each_resolver_in_its_progress(box: Path, tmp_path: Path) -> None:
    proc = cli("drill", "--local", "--sandbox-dir", str(box), "--lock-dir", str(tmp_path / "l"),
               "--out", str(tmp_path / "r"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dns=" not in proc.stdout
    moved = r"^  failover \+[\d.]+ s \| authoritative 127\.0\.0\.1:\d+ -> secondary \| recursor 127\.0\.0\.1:\d+ -> "
    assert re.search(moved, proc.stdout, re.M), proc.stdout


def test_sandbox_up_again_is_fine_as_asked_and_refused_with_other_settings(box: Path) -> None:
    again = cli("sandbox", "up", "--sandbox-dir", str(box), "-q")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("sandbox already running: checkout.sandbox.test answered by 127.0.0.1:")
    other = cli("sandbox", "up", "--sandbox-dir", str(box), "--data")
    assert other.returncode == 3
    assert other.stderr == (
        f"error: a sandbox already runs in {box} with no databases, not with databases; stop it first with "
        f"`bascule sandbox down --sandbox-dir {box}`\n"
    )
    assert cli("sandbox", "status", "--sandbox-dir", str(box)).returncode == 0  # still the same one, still running
