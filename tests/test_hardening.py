"""Hostile input, as the hardening review found it: every case exits 2 with one line naming the file and the place.

Each case below was a traceback, a hang, a memory blow-up or a silent acceptance before. The CLI runs in-process
(typer's runner) for speed; `test_real_exit_path` runs a few as subprocesses to check the real exit codes.
"""

from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.cli.common import EXIT_INTERNAL
from bascule.drills import history
from bascule.drills.journal import REDACTED, Journal, Redactor, read_journal
from bascule.drills.lock import DrillLock, StaleLock, read_lock
from bascule.drills.stack_control import command_cause
from bascule.io.processes import alive
from bascule.spec import SERVICES_KEY
from tests.conftest import stack_config

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def assert_one_line(result: Any, path: Path, *expected: str, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}"), lines[0]
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return str(lines[0])


# --- stack files (the spec) --------------------------------------------------------------------------------------


def write_stack(tmp_path: Path, services: Any, name: str = "t") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {SERVICES_KEY: services}}))
    return path


def plan(tmp_path: Path, name: str = "t") -> Any:
    return invoke("plan", "--stack", name, "--stacks-dir", str(tmp_path))


def dev() -> dict[str, Any]:
    return copy.deepcopy(stack_config("dev")[SERVICES_KEY][0])


def with_(service: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *head, last = dotted.split(".")
    node = service
    for part in head:
        node = node[part]
    node[last] = value
    return service


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rto_seconds", True, "rto_seconds: expected a number, not true"),
        ("rto_seconds", 1e30, "rto_seconds"),
        ("rto_seconds", 10**9, "rto_seconds"),
        ("primary.image", "", "is not a container image reference"),
        ("secondary.image", "  ", "is not a container image reference"),
    ],
)
def test_spec_values_that_made_no_sense_are_refused(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    path = write_stack(tmp_path, [with_(dev(), field, value)])
    assert_one_line(plan(tmp_path), path, "service 'checkout'", expected)


@pytest.mark.parametrize("address", ["0.0.0.0", "255.255.255.255", "::1", "127.0.0.1", "224.0.0.1", "169.254.1.1"])
def test_endpoint_addresses_no_checker_can_reach_are_refused(tmp_path: Path, address: str) -> None:
    service = dev()
    service["secondary"] = {"kind": "endpoint", "provider": "azure", "region": "francecentral", "address": address}
    path = write_stack(tmp_path, [service])
    assert_one_line(plan(tmp_path), path, f"address '{address}'", "no health checker can reach")


def test_non_utf8_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_bytes(b"config:\n  bascule:services:\n    - name: caf\xe9\n")
    assert_one_line(plan(tmp_path), path, ":3: not UTF-8 text (byte 43: 0xe9)")


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    levels = ["  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text("config:\n" + "\n".join(levels) + f"\n  {SERVICES_KEY}: *a8\n")
    assert path.stat().st_size < 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert_one_line(plan(tmp_path), path, "more than 1,000,000 values once its aliases are expanded")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"


def test_too_many_aliases(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text("config:\n  a: &a x\n  b: [" + ", ".join(["*a"] * 1001) + "]\n")
    assert_one_line(plan(tmp_path), path, ":3:", "more than 1000 aliases")


def test_recursive_alias_and_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(f"config:\n  {SERVICES_KEY}: &me [*me]\n")
    assert_one_line(plan(tmp_path), path, "contains itself")
    path.write_text(f"config:\n  {SERVICES_KEY}: " + "[" * 5000 + "]" * 5000 + "\n")
    assert_one_line(plan(tmp_path), path, "nested deeper than 100 levels")
    path.write_text(f"config:\n  {SERVICES_KEY}: " + "[" * 150 + "]" * 150 + "\n")
    assert_one_line(plan(tmp_path), path, f"config.{SERVICES_KEY}" + "[0]" * 98, "nested deeper than 100 levels")


# --- exports and previews ----------------------------------------------------------------------------------------

RESOURCE = {
    "urn": "urn:pulumi:p::b::aws:ec2/vpc:Vpc::net",
    "type": "aws:ec2/vpc:Vpc",
    "custom": True,
    "inputs": {"region": "eu-west-3", "tags": {"workload": "pay", "criticality": "critical"}},
}


def export(tmp_path: Path, doc: Any, raw: bytes | None = None) -> tuple[Path, Any]:
    path = tmp_path / "state.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(doc))
    return path, invoke("check", "--export", str(path))


def export_of(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"version": 3, "deployment": {"resources": list(resources)}}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"version": 3, "deployment": []}, "deployment: expected an object, got a list"),
        (export_of(), "deployment.resources: no resources"),
        (export_of({**RESOURCE, "inputs": [1, 2]}), "deployment.resources[0].inputs: expected an object, got a list"),
        (export_of({**RESOURCE, "outputs": "x"}), "deployment.resources[0].outputs: expected an object, got a string"),
        (export_of({**RESOURCE, "inputs": {"tags": ["workload=pay"]}}),
         "deployment.resources[0].inputs.tags: expected an object of tags, got a list"),
        (export_of(RESOURCE, 5), "deployment.resources[1]: expected a resource object, got a number"),
        ({"version": True, "deployment": {}}, "version True is not supported"),
        (export_of({**RESOURCE, "custom": "yes"}), "deployment.resources[0].custom: expected true or false"),
    ],
)  # fmt: skip
def test_malformed_exports(tmp_path: Path, doc: Any, expected: str) -> None:
    path, result = export(tmp_path, doc)
    assert_one_line(result, path, expected)


def test_export_with_a_parent_cycle_ends(tmp_path: Path) -> None:
    a = {**RESOURCE, "urn": "urn:a", "custom": False, "type": "x:y:Z", "parent": "urn:b"}
    b = {**RESOURCE, "urn": "urn:b", "custom": False, "type": "x:y:Z", "parent": "urn:a"}
    path, result = export(tmp_path, export_of(RESOURCE, a, b))
    assert_one_line(result, path, "parent chain loops back to")


def test_non_utf8_and_deep_exports(tmp_path: Path) -> None:
    path, result = export(tmp_path, None, raw=b'{"version": 3, "deployment": {"resources": ["\xff"]}}')
    assert_one_line(result, path, "not UTF-8 text (byte 45: 0xff)")
    deep = export_of({**RESOURCE, "inputs": {"x": json.loads("[" * 500 + "]" * 500)}})
    path, result = export(tmp_path, deep)
    assert_one_line(result, path, "deployment.resources[0].inputs.x[0][0]", "nested deeper than 100 levels")
    path, result = export(tmp_path, None, raw=b"[" * 100_000 + b"]" * 100_000)
    assert_one_line(result, path, "nested deeper than 100 levels")


def test_preview_config_as_a_list(tmp_path: Path) -> None:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"config": ["aws:region"], "steps": [{"op": "create", "newState": RESOURCE}]}))
    assert_one_line(invoke("check", "--preview-json", str(path)), path, "config: expected an object of stack config")


# --- waivers and policy config -----------------------------------------------------------------------------------


def waivers(tmp_path: Path, text: str | bytes) -> tuple[Path, Any]:
    path = tmp_path / "waivers.yaml"
    path.write_bytes(text if isinstance(text, bytes) else textwrap.dedent(text).encode())
    return path, invoke("check", "--stack", "dev", "--stacks-dir", str(stack_dir()), "--waivers", str(path))


def stack_dir() -> Path:
    from tests.conftest import STACKS

    return STACKS


WAIVER = """\
    waivers:
      - rule: bascule-single-region
        workload: payments
        reason: {reason}
        owner: {owner}
        expires: {expires}
"""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Dates are text as Pulumi reads them (issue 24.3); the waiver's own model refuses an impossible one.
        (
            {"expires": "2027-02-30"},
            "waivers[0].expires: Input should be a valid date or datetime, day value is outside",
        ),
        ({"owner": "'   '"}, "waivers[0].owner: String should have at least 1 character"),
        ({"reason": "'  '"}, "waivers[0].reason: String should have at least 3 characters"),
    ],
)
def test_bad_waivers(tmp_path: Path, fields: dict[str, str], expected: str) -> None:
    values = {"reason": "contract signed", "owner": "ops@example.com", "expires": "2027-03-31", **fields}
    path, result = waivers(tmp_path, WAIVER.format(**values))
    assert_one_line(result, path, expected)


def test_non_utf8_waivers(tmp_path: Path) -> None:
    path, result = waivers(tmp_path, b"waivers:\n  - owner: \xc3\x28\n")
    assert_one_line(result, path, ":2: not UTF-8 text")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"all": 5}, "all: expected an object or an enforcement level"),
        ({"all": ["mandatory"]}, "all: expected an object or an enforcement level"),
        ({"bascule-single-region": {"criticalValues": []}}, "criticalValues: Tuple should have at least 1 item"),
        ({"bascule-single-region": {"criticalValues": [" "]}}, "criticalValues[0]: String should have at least"),
        ({"bascule-rto-budget": {"defaultRtoSeconds": True}}, "defaultRtoSeconds: Input should be a valid integer"),
        ({"bascule-rto-budget": {"enforcementLevel": ["x"]}}, 'enforcementLevel: ["x"] is not one of'),
        ({"bascule-rto-budget": {"a\nb\x1e": 1}}, "bascule-rto-budget: a\\nb\\x1e: Extra inputs are not permitted"),
    ],
)
def test_bad_policy_config(tmp_path: Path, config: Any, expected: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(config))
    result = invoke("check", "--stack", "dev", "--stacks-dir", str(stack_dir()), "--config", str(path))
    assert_one_line(result, path, expected)


# --- drill options ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value"), [("--rto", "nan"), ("--rto", "-1"), ("--timeout", "inf"),
                                               ("--window", "nan")])  # fmt: skip
def test_drill_numbers_must_be_numbers(tmp_path: Path, option: str, value: str) -> None:
    result = invoke("drill", "--local", option, value, "--sandbox-dir", str(tmp_path), "--lock-dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {option}: {float(value)} is not a number of " + (
        "minutes from 0 to 10080 (a week: the period of a weekly schedule)"
        if option == "--window"
        else "seconds greater than 0 and at most 604800 (7 days, the longest rto_seconds a spec takes)"
    )


def test_an_unknown_choice_is_named_without_pydantics_error_kind(tmp_path: Path) -> None:
    result = invoke("drill", "--local", "--fault", "bogus", "--sandbox-dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --fault: 'bogus' is not one of 'health', 'outage', 'switch', 'corruption' (see `bascule drill --help`)\n"
    )


# --- untrusted text and markup ------------------------------------------------------------------------------------


def test_markup_in_errors_is_printed_literally(tmp_path: Path) -> None:
    (tmp_path / "x[").mkdir()
    path = tmp_path / "x[" / "bold] [secret].json"  # the path holds `[/bold] [secret]`
    path.write_text("{")
    result = invoke("check", "--export", str(path))
    assert_one_line(result, path, "not valid JSON")
    assert "x[/bold] [secret].json" in result.stderr


def test_markup_in_spec_values_is_printed_literally(tmp_path: Path) -> None:
    path = write_stack(tmp_path, [with_(dev(), "primary.image", "[/red] nope")])
    line = assert_one_line(plan(tmp_path), path, "'[/red] nope' is not a container image reference")
    assert "MarkupError" not in line


# --- secrets -----------------------------------------------------------------------------------------------------


def test_redaction_runs_on_data_and_catches_every_form() -> None:
    pem = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\nz0Cq8wEAAQ==\n-----END KEY-----"
    redact = Redactor([8080, "p@ss w/rd", pem, "ab1"])
    event = redact.data({"http_port": 8080, "port_text": "listening on 8080", "other": 18080, "n": 80,
                         "url": "postgres://u:p%40ss%20w%2Frd@db", "json": json.dumps({"pw": "p@ss w/rd"}),
                         "log": "key line z0Cq8wEAAQ== seen", "short": "token ab1 and cab12"})  # fmt: skip
    assert event == {
        "http_port": REDACTED, "port_text": f"listening on {REDACTED}", "other": 18080, "n": 80,
        "url": f"postgres://u:{REDACTED}@db", "json": json.dumps({"pw": REDACTED}),
        "log": f"key line {REDACTED} seen", "short": f"token {REDACTED} and cab12",
    }  # fmt: skip


def test_numeric_secret_keeps_the_journal_readable(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", Redactor([8080]))
    journal.append("plan", plan={"target": {"http_port": 8080}})
    journal.close()
    (event,) = read_journal(tmp_path / "j.jsonl")
    assert event["plan"]["target"]["http_port"] == REDACTED


def test_pulumi_up_failure_keeps_the_cause() -> None:
    from pulumi.automation.errors import CommandError

    class Result:
        def __str__(self) -> str:
            return "\n code: 255\n stdout: Updating (prod)\n stderr: warning: x\nerror: update failed: AccessDenied"

    assert command_cause(CommandError(Result())) == "exit 255: error: update failed: AccessDenied"  # type: ignore[arg-type]


# --- journal, locks, processes -----------------------------------------------------------------------------------


def test_journal_repairs_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.append("plan", plan={})
    journal.close()
    with path.open("a") as handle:
        handle.write('{"seq": 1, "kind": "inj')  # the writer died here
    journal = Journal(path)
    journal.append("recovered")
    journal.close()
    assert [e["kind"] for e in read_journal(path)] == ["plan", "torn-line-dropped", "recovered"]


def test_history_skips_a_torn_tail_and_appends_on_a_line_of_its_own(tmp_path: Path) -> None:
    row = {"service": "checkout", "target": "t", "fault": "health", "rto_seconds": 300, "status": "pass",
           "failover": {"http_s": 4.0}, "failback": {}}  # fmt: skip
    history.append(tmp_path, {**row, "started": "2026-11-01"}, tmp_path)
    with (tmp_path / history.HISTORY_FILE).open("a") as handle:
        handle.write('{"started": "2026-11-02", "serv')  # the runner died here
    assert [r["started"] for r in history.read(tmp_path)] == ["2026-11-01"]
    history.append(tmp_path, {**row, "started": "2026-11-03"}, tmp_path)
    assert [r["started"] for r in history.read(tmp_path)] == ["2026-11-01", "2026-11-03"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [("[1]", ":2: not a history row (no text started, service, fault, status)"),
     ('{"started": "x", "service": "a", "fault": "health"}', ":2: not a history row (no text status)"),
     ("{not json", ":2: not JSON (Expecting property name enclosed in double quotes); fix or remove that line")],
)  # fmt: skip
def test_a_bad_history_row_is_exit_2_naming_file_and_line(tmp_path: Path, line: str, expected: str) -> None:
    good = '{"started": "x", "service": "a", "fault": "health", "status": "pass"}'
    (tmp_path / history.HISTORY_FILE).write_text(f"{good}\n{line}\n{good}\n")
    for args in (("drill", "history", "--history", str(tmp_path)),
                 ("audit", "--stack", "dev", "--stacks-dir", str(stack_dir()), "--history", str(tmp_path))):  # fmt: skip
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert f"{tmp_path / history.HISTORY_FILE}{expected}" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [('{"directory": 1\n', "(2:1: not valid JSON (Expecting ',' delimiter); truncated?)"),
     ('{"pids": {}}', "(KeyError: 'service')"),
     ("[]", "(expected an object, got a list)")],
)  # fmt: skip
def test_a_corrupt_sandbox_state_is_exit_2_with_what_to_do(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "state.json").write_text(text)
    for args in (("sandbox", "status", "--sandbox-dir", str(tmp_path)), ("sandbox", "down", "--sandbox-dir", str(tmp_path)),
                 ("verify", "--local", "--sandbox-dir", str(tmp_path)),
                 ("drill", "--local", "--sandbox-dir", str(tmp_path), "--lock-dir", str(tmp_path / "locks"))):  # fmt: skip
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {tmp_path / 'state.json'}: not a sandbox state Bascule can read {expected}")
        assert line.endswith(f"then remove {tmp_path}")


def test_lock_is_never_visible_empty_and_an_empty_one_does_not_block_forever(tmp_path: Path) -> None:
    lock = DrillLock(tmp_path, "sandbox:x")
    lock.acquire({"journal": "j"})
    assert read_lock(lock.path)["key"] == "sandbox:x"
    assert [p.name for p in tmp_path.iterdir()] == [lock.path.name]  # no temporary file left beside it
    lock.release()
    lock.path.write_text("")  # as a crash mid-write of a non-atomic writer would leave it
    with pytest.raises(StaleLock):
        DrillLock(tmp_path, "sandbox:x").acquire({"journal": "j"})
    result = invoke("drill", "recover", "--lock-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "removed an unreadable lock" in result.stdout
    DrillLock(tmp_path, "sandbox:x").acquire({"journal": "j"})


def test_a_zombie_that_is_not_our_child_is_not_alive() -> None:
    """The grandchild exits; its parent (a shell, not us) does not reap it for a while: it stays a zombie."""
    script = (
        "import os, sys, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        zombie = int(parent.stdout.readline())
        for _ in range(100):
            if Path(f"/proc/{zombie}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
                break
            subprocess.run(["sleep", "0.02"], check=True)
        assert not alive(zombie)
        assert alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()


# The leader exits at SIGTERM at once; its child ignores SIGTERM and keeps running: what a PostgreSQL backend still
# finishing its work looks like to a `stop` that waited for the leader alone.
_LEADER_AND_STUBBORN_CHILD = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                          "print('ready', flush=True); time.sleep(300)"], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(300)
"""


def _sandbox_with_one_process(tmp_path: Path) -> tuple[Any, int]:
    from bascule.sandbox.sandbox import Sandbox, SandboxService, SandboxState

    box = Sandbox(SandboxState(directory=str(tmp_path), dns_port=1, http_port=2, https_port=3, pdns_version="4.9",
                               service=SandboxService()))  # fmt: skip
    box._spawn("primary", [sys.executable, "-c", _LEADER_AND_STUBBORN_CHILD])
    log = tmp_path / "primary.log"
    for _ in range(200):
        if log.read_text().strip().isdigit():
            break
        subprocess.run(["sleep", "0.05"], check=True)
    return box, int(log.read_text().strip())


def test_a_sandbox_stops_only_once_every_process_of_it_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The data-sandbox flake: `stop` waited for each leader only, so a drill returned with a database's child still
    running. Now the whole group is waited for, and what ignores the polite signal gets SIGKILL."""
    from bascule.io.processes import group_running
    from bascule.sandbox import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "STOP_GRACE_SECONDS", 0.5)
    box, child = _sandbox_with_one_process(tmp_path)
    leader = box.state.pids["primary"]
    assert alive(child) and group_running(leader)
    assert box.stop() == []
    assert not alive(child) and not alive(leader) and group_running(leader) == []


def test_what_outlives_sigkill_is_reported_not_waited_for_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process stuck in the kernel (a disk that does not answer) cannot be killed: `stop` gives up after its
    bound and says which, and `sandbox down` prints it as a warning."""
    from bascule.sandbox import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "STOP_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(sandbox_module, "KILL_GRACE_SECONDS", 0.2)
    box, _child = _sandbox_with_one_process(tmp_path)
    monkeypatch.setattr(sandbox_module, "group_running", lambda _pgid: [4242])  # as if one would not die
    result = invoke("sandbox", "down", "--sandbox-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "warning: primary: still running after SIGKILL (pids 4242); stop it by hand"
    assert box.state.pids == {} or not (tmp_path / "state.json").exists()


# --- exit codes ---------------------------------------------------------------------------------------------------


def test_an_internal_error_is_exit_70_and_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bascule.cli.check as check_cli

    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(check_cli, "check", boom)
    result = invoke("check", "--stack", "dev", "--stacks-dir", str(stack_dir()))
    assert result.exit_code == EXIT_INTERNAL
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("internal error: KeyError: 'surprise' at ") and "(a bug in Bascule, exit 70)" in line


def test_usage_errors_stay_usage_errors() -> None:
    """Option parsing happens inside the guarded group: a bad option value is exit 2 from typer, not an internal error."""
    result = invoke("check", "--format", "bogus")
    assert result.exit_code == 2
    assert "internal error" not in result.output and "'bogus' is not one of" in result.output


def test_real_exit_path(tmp_path: Path) -> None:
    """The same through the real entry point: exit codes and stderr as CI sees them."""
    bad = tmp_path / "state.json"
    bad.write_text(json.dumps({"version": 3, "deployment": []}))
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "check", "--export", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == f"error: {bad}: deployment: expected an object, got a list\n"


def test_progress_and_pulumi_output_print_literally(capsys: pytest.CaptureFixture[str]) -> None:
    """Drill progress and `pulumi up` lines go through the shared console: markup in them is text."""
    from bascule.cli.common import out

    out.print("  pulumi up: [/bold] unbalanced, [secret] kept, [red]not red[/red]")
    assert capsys.readouterr().out == "  pulumi up: [/bold] unbalanced, [secret] kept, [red]not red[/red]\n"


def test_non_utf8_pulumi_project_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_bytes(b"name: caf\xe9\nruntime: python\n")
    result = invoke("check", "--program", str(tmp_path))
    assert_one_line(result, tmp_path, "Pulumi.yaml:1: not UTF-8 text")
