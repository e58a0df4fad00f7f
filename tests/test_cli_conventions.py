"""The CLI's output conventions, for every command: `--format/-f`, `--quiet/-q`, the result alone on stdout when it
is for a program, prose on stderr then, spinners only on a terminal, hints that repeat the user's folders.

The commands that need no sandbox run here in-process (typer's runner keeps stdout and stderr apart); the ones that
need the sandbox run as real processes in `test_cli_conventions_sandbox.py`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer._click.core import Command
from typer.core import TyperGroup
from typer.testing import CliRunner

from bascule.cli import common
from bascule.cli.app import _COMMANDS, _load, app
from bascule.drills import history
from bascule.drills.history import history_markdown
from bascule.drills.journal import Journal
from bascule.drills.runner import Observation, status_line
from bascule.readiness.probes import DnsResult
from bascule.readiness.target import Resolver
from tests.conftest import STACKS
from tests.test_drill_report import Recorder, good_drill
from tests.test_drill_report import plan as drill_plan

runner = CliRunner()


def commands() -> Iterator[tuple[str, Command]]:
    """Every command a user can run, by its full name: `plan`, `drill`, `drill recover`, `sandbox up`, ..."""
    for name in _COMMANDS:
        command = _load(name)
        if isinstance(command, TyperGroup):
            if command.invoke_without_command:  # `bascule drill` runs a drill itself
                yield name, command
            for sub, subcommand in command.commands.items():
                yield f"{name} {sub}", subcommand
        else:
            yield name, command


ALL = dict(commands())


def options(command: Command) -> dict[str, list[str]]:
    return {p.name or "": [*p.opts, *p.secondary_opts] for p in command.params}


def test_the_command_list_is_complete() -> None:
    assert set(ALL) == {"plan", "check", "verify", "audit", "drill", "drill recover", "drill report",
                        "drill history", "data status", "data promote", "data failback", "sandbox up",
                        "sandbox down", "sandbox status", "sandbox site", "sandbox data", "sandbox renew",
                        "sandbox acme", "policy-pack init", "status publish", "watch", "incident show",
                        "incident classify", "incident close", "backup take", "backup list", "backup verify",
                        "backup restore"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_command_has_format_and_quiet(name: str) -> None:
    (fmt,) = [p for p in ALL[name].params if "--format" in p.opts]
    assert fmt.opts == ["--format", "-f"] and fmt.default == "text"
    assert "json" in [choice.value for choice in fmt.type_descriptor.annotation]  # type: ignore[attr-defined]
    (quiet,) = [p for p in ALL[name].params if p.name == "quiet"]
    assert quiet.opts == ["--quiet", "-q"]


def test_deprecated_json_is_hidden_and_only_where_it_was() -> None:
    having = sorted(name for name, command in ALL.items() if "as_json" in options(command))
    assert having == ["drill history", "plan", "sandbox status"]
    for name in having:
        (param,) = [p for p in ALL[name].params if p.name == "as_json"]
        assert param.hidden  # type: ignore[attr-defined]


def test_dir_flags_table_matches_the_commands() -> None:
    """Hints repeat a folder under the flag the hinted command really has; no command's folder is forgotten."""
    for name, command in ALL.items():
        found = options(command)
        listed = common.dir_flags(f"bascule {name}")
        assert {n for n in found if n in ("sandbox_dir", "lock_dir", "stacks_dir")} == set(listed), name
        for param, flag in listed.items():
            assert flag in found[param], (name, param, flag)


# --- stdout carries the result alone ------------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    bucket = {"urn": "urn:pulumi:s::p::aws:s3/bucketV2:BucketV2::b", "custom": True, "type": "aws:s3/bucketV2:BucketV2",
              "id": "b", "inputs": {"region": "eu-west-3"}, "outputs": {}}  # fmt: skip
    path.write_text(json.dumps({"version": 3, "deployment": {"resources": [bucket]}}))
    return path


@pytest.fixture
def history_dir(tmp_path: Path) -> Path:
    summary = {"started": "2025-01-01T09:17:00Z", "service": "a|b", "target": "sandbox", "fault": "health",
               "status": "pass", "rto_seconds": 10, "failover": {"dns_all_s": 1.0, "http_s": 1.5},
               "failback": {"http_s": 1.2}}  # fmt: skip
    history.append(tmp_path / "h", summary, tmp_path)
    history.append(tmp_path / "h", {**summary, "started": "2025-01-08T09:17:00Z", "status": "fail"}, tmp_path)
    return tmp_path / "h"


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "drill" / "journal.jsonl"
    record = Journal(path)
    for event in good_drill().events:
        record.append(event.pop("kind"), **{k: v for k, v in event.items() if k not in ("seq", "t", "wall")})
    record.close()
    return path


def machine_commands(tmp_path: Path, export: Path, history_dir: Path, journal: Path) -> dict[str, list[str]]:
    return {
        "plan": ["plan", "--stack", "dev", "--stacks-dir", str(STACKS)],
        "check": ["check", "--export", str(export)],
        "audit": ["audit", "--export", str(export)],
        "drill history": ["drill", "history", "--history", str(history_dir)],
        "drill report": ["drill", "report", str(journal)],
        "drill recover": ["drill", "recover", "--lock-dir", str(tmp_path / "locks")],
        "sandbox down": ["sandbox", "down", "--sandbox-dir", str(tmp_path / "no-sandbox")],
        "policy-pack init": ["policy-pack", "init", str(tmp_path / "pack"), "--force"],
    }


@pytest.mark.parametrize("name", ["plan", "check", "audit", "drill history", "drill report", "drill recover",
                                  "sandbox down", "policy-pack init"])  # fmt: skip
def test_json_on_stdout_alone(name: str, tmp_path: Path, export: Path, history_dir: Path, journal: Path) -> None:
    args = machine_commands(tmp_path, export, history_dir, journal)[name]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the whole of stdout is one JSON document: nothing else is on it
    quiet = runner.invoke(app, [*args, "-f", "json", "-q"])
    assert canonical(json.loads(quiet.stdout)) == canonical(json.loads(result.stdout))
    assert quiet.exit_code == result.exit_code


def canonical(document: Any) -> Any:
    """A list compared as a set of rows: the offline engine's resource order may differ from run to run."""
    return sorted(json.dumps(row, sort_keys=True) for row in document) if isinstance(document, list) else document


def test_prose_goes_to_stdout_beside_text_to_stderr_beside_json_and_nowhere_when_quiet(tmp_path: Path) -> None:
    text = runner.invoke(app, ["policy-pack", "init", str(tmp_path / "a")])
    assert "policy pack written" in text.stdout and "try: pulumi preview" in text.stdout and text.stderr == ""
    machine = runner.invoke(app, ["policy-pack", "init", str(tmp_path / "b"), "--format", "json"])
    assert "try: pulumi preview" in machine.stderr and "try:" not in machine.stdout
    assert json.loads(machine.stdout)["files"][-1] == str(tmp_path / "b" / "requirements.txt")
    quiet = runner.invoke(app, ["policy-pack", "init", str(tmp_path / "c"), "-q"])
    assert quiet.stdout.startswith("policy pack written") and "try:" not in quiet.output and quiet.stderr == ""
    assert quiet.exit_code == text.exit_code == machine.exit_code == 0


def test_drill_report_prose_moves_and_the_drill_code_stays(journal: Path) -> None:
    text = runner.invoke(app, ["drill", "report", str(journal)])
    assert text.exit_code == 0 and "PASS" in text.stdout and "reports:" in text.stdout
    machine = runner.invoke(app, ["drill", "report", str(journal), "-f", "json"])
    assert json.loads(machine.stdout) == json.loads((journal.parent / "report.json").read_text())
    assert "reports:" in machine.stderr
    quiet = runner.invoke(app, ["drill", "report", str(journal), "-q"])
    assert "PASS" in quiet.stdout and "reports:" not in quiet.output


@pytest.mark.parametrize(("verdict", "code"), [("pass", 0), ("fail", 1), ("refused", 3)])
def test_drill_report_exits_with_the_drills_code(tmp_path: Path, verdict: str, code: int) -> None:
    """Pass; fail (HTTP moved after 4 s against an RTO of 1 s); refused (preflight failed, nothing injected)."""
    recorder = good_drill(rto=1 if verdict == "fail" else 10)
    if verdict == "refused":
        recorder = Recorder(drill_plan())
        recorder.add(0.1, "preflight", ok=False, problems=["secondary down"])
        recorder.add(0.2, "refused", reasons=["secondary down"])
    # Written as the runner would have, with the recorded times (a Journal would stamp the test's own clock).
    (tmp_path / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in recorder.events))
    for fmt in ("text", "json"):
        result = runner.invoke(app, ["drill", "report", str(tmp_path / "journal.jsonl"), "-f", fmt])
        assert result.exit_code == code, result.output
    assert (json.loads(result.stdout)["status"], json.loads(result.stdout)["exit_code"]) == (verdict, code)


def test_check_notes_go_to_stderr_and_quiet_drops_them(export: Path) -> None:
    result = runner.invoke(app, ["check", "--export", str(export), "-f", "sarif"])
    assert "0 critical workloads found" in result.stderr and json.loads(result.stdout)["version"] == "2.1.0"
    quiet = runner.invoke(app, ["check", "--export", str(export), "-f", "sarif", "-q"])
    assert quiet.stderr == "" and quiet.exit_code == result.exit_code == 0


def test_check_output_file_verdict_line_follows_the_format(export: Path, tmp_path: Path) -> None:
    text = runner.invoke(app, ["check", "--export", str(export), "-o", str(tmp_path / "r.txt"), "-q"])
    assert text.stdout.strip() and text.stderr == ""  # the verdict line stays with --quiet
    machine = runner.invoke(app, ["check", "--export", str(export), "-f", "json", "-o", str(tmp_path / "r.json")])
    assert machine.stdout == "" and machine.stderr.strip().splitlines()[-1] == text.stdout.strip()


# --- the old --json still works ------------------------------------------------------------------------------------


def test_deprecated_json_flag_still_works_and_says_so(history_dir: Path) -> None:
    new = runner.invoke(app, ["drill", "history", "--history", str(history_dir), "--format", "json"])
    old = runner.invoke(app, ["drill", "history", "--history", str(history_dir), "--json"])
    assert old.exit_code == new.exit_code == 0
    assert json.loads(old.stdout) == json.loads(new.stdout)
    assert old.stderr.strip().splitlines() == ["deprecated: --json will be removed; use --format json (same output)"]
    assert new.stderr == ""
    clash = runner.invoke(app, ["drill", "history", "--history", str(history_dir), "--json", "-f", "markdown"])
    assert clash.exit_code == 2 and "--json and --format markdown disagree" in clash.stderr


def test_plan_json_alias_gives_the_same_document() -> None:
    args = ["plan", "--stack", "dev", "--stacks-dir", str(STACKS)]
    new = runner.invoke(app, [*args, "-f", "json"])
    old = runner.invoke(app, [*args, "--json"])
    assert canonical(json.loads(old.stdout)) == canonical(json.loads(new.stdout))
    assert "deprecated: --json" in old.stderr


# --- drill history as Markdown (the job summary) ---------------------------------------------------------------------


def test_history_markdown_is_a_table_with_escaped_cells(history_dir: Path) -> None:
    result = runner.invoke(app, ["drill", "history", "--history", str(history_dir), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "### Drill history (2 drills)"
    assert lines[2] == "| service (fault) | runs | passed | last HTTP failover | median | trend | recent |"
    assert lines[3] == "|---|---|---|---|---|---|---|"
    assert lines[4] == "| a\\|b (health) | 2 | 1 | 1.50 s | 1.50 s | steady | 1.5 1.5 |"
    assert "─" not in result.stdout and "┃" not in result.stdout  # no rich table drawing
    assert history_markdown({}, 0).splitlines()[-1] == "|---|---|---|---|---|---|---|"


# --- hints repeat the folders the user chose ------------------------------------------------------------------------


def test_hint_repeats_a_chosen_sandbox_dir_quoted(tmp_path: Path) -> None:
    folder = tmp_path / "my box"
    result = runner.invoke(app, ["verify", "--local", "--sandbox-dir", str(folder)])
    assert result.exit_code == 2
    assert f"start one with `bascule sandbox up --sandbox-dir '{folder}'`" in result.stderr
    status = runner.invoke(app, ["sandbox", "status", "--sandbox-dir", str(folder)])
    assert status.exit_code == 1 and f"`bascule sandbox up --sandbox-dir '{folder}'`" in status.stderr


def test_hint_adds_nothing_for_folders_left_at_their_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = runner.invoke(app, ["verify", "--local"])
    assert result.exit_code == 2 and "start one with `bascule sandbox up`" in result.stderr


def test_drill_hint_names_the_chosen_lock_dir_and_sandbox_dir(tmp_path: Path) -> None:
    """A named sandbox that is not there: the hint to start it carries its folder under `sandbox up`'s flag."""
    box, locks = tmp_path / "box", tmp_path / "locks"
    result = runner.invoke(app, ["drill", "--local", "--sandbox-dir", str(box), "--lock-dir", str(locks)])
    assert result.exit_code == 2
    assert f"start one with `bascule sandbox up --sandbox-dir {box}`" in result.stderr


def test_with_dirs_picks_each_commands_own_flags() -> None:
    """Inside a command that was given all three folders, each hinted command gets the ones it takes."""
    seen: dict[str, str] = {}

    def probe() -> None:
        for hint in ("`bascule drill recover`", "`bascule sandbox down` and `bascule sandbox up --data`",
                     "`bascule drill --local`", "`bascule drill --stack dev --service x`", "`bascule drill report J`",
                     "`bascule sandbox up --sandbox-dir /given`"):  # fmt: skip
            seen[hint] = common.with_dirs(hint)

    probe_app = typer.Typer()

    @probe_app.command()
    def main(sandbox_dir: common.SandboxDir = None, lock_dir: common.LockDir = None,
             stacks_dir: common.StacksDir = Path("stacks")) -> None:  # fmt: skip
        probe()

    result = runner.invoke(probe_app, ["--sandbox-dir", "/b", "--lock-dir", "/l", "--stacks-dir", "/s"])
    assert result.exit_code == 0, result.output
    assert seen == {
        "`bascule drill recover`": "`bascule drill recover --lock-dir /l`",
        "`bascule sandbox down` and `bascule sandbox up --data`":
            "`bascule sandbox down --sandbox-dir /b` and `bascule sandbox up --data --sandbox-dir /b`",
        "`bascule drill --local`": "`bascule drill --local --sandbox-dir /b --lock-dir /l`",
        "`bascule drill --stack dev --service x`":
            "`bascule drill --stack dev --service x --sandbox-dir /b --lock-dir /l --stacks-dir /s`",
        "`bascule drill report J`": "`bascule drill report J`",
        "`bascule sandbox up --sandbox-dir /given`": "`bascule sandbox up --sandbox-dir /given`",
    }  # fmt: skip


# --- progress: spinners on a terminal only; the live line names each resolver -----------------------------------


def fake_terminal(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=200, markup=False, highlight=False)
    monkeypatch.setattr(common, "err", console)
    return buffer


@pytest.mark.parametrize(("terminal", "quiet", "drawn"), [(True, False, True), (False, False, False),
                                                         (True, True, False)])  # fmt: skip
def test_spinner_only_on_a_terminal_and_not_quiet(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, quiet: bool, drawn: bool
) -> None:
    buffer = fake_terminal(monkeypatch, terminal)
    monkeypatch.setattr(common, "mode", lambda: common.OutputMode(quiet=quiet))
    with common.working("planning [bold]x[/]") as status:
        status("now [red]y")
    assert ("planning [bold]x[/]" in buffer.getvalue() or "now [red]y" in buffer.getvalue()) is drawn
    if not drawn:
        assert buffer.getvalue() == ""


def test_prose_in_a_pipe_is_never_broken_at_the_console_width(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(common, "out", Console(file=buffer, width=160, markup=False, highlight=False))
    sentence = "a progress line naming resolvers " * 8
    common.say(sentence)
    assert buffer.getvalue() == sentence + "\n"


def test_plan_in_a_pipe_draws_no_spinner() -> None:
    result = runner.invoke(app, ["plan", "--stack", "dev", "--stacks-dir", str(STACKS)])
    assert result.exit_code == 0 and result.stderr == ""


def observation(resolvers: list[tuple[Resolver, DnsResult]], http: dict[str, Any]) -> Observation:
    return Observation("failover", 3.25, tuple(resolvers), http)


def test_status_line_names_which_resolver_is_which() -> None:
    auth = Resolver("sandbox-authoritative", "127.0.0.1", 5301)
    rec = Resolver("sandbox-recursor", "127.0.0.1", 5302, "recursive")
    ns = Resolver("ns-1.awsdns-01.org", "205.251.192.1", 53)
    public = Resolver("1.1.1.1", "1.1.1.1", 53, "recursive")
    line = status_line(observation(
        [(auth, DnsResult(auth.name, ["192.0.2.2"], "secondary", None, 1)),
         (rec, DnsResult(rec.name, ["192.0.2.1"], "primary", None, 1)),
         (ns, DnsResult(ns.name, [], None, "Timeout: 1 s", 1)),
         (public, DnsResult(public.name, ["192.0.2.1"], "primary", None, 1))],
        {"site": "primary", "error": None},
    ))  # fmt: skip
    assert line == ("failover +3.2 s | authoritative 127.0.0.1:5301 -> secondary | recursor 127.0.0.1:5302 -> primary"
                    " | authoritative 205.251.192.1:53 (ns-1.awsdns-01.org) -> Timeout: 1 s"
                    " | recursor 1.1.1.1:53 -> primary | HTTP -> primary")  # fmt: skip
    failing = status_line(observation([], {"site": None, "error": "HTTP 503 from primary"}))
    assert failing.endswith("| HTTP failed: HTTP 503 from primary")
