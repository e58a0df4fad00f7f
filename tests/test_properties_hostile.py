"""Properties for the classes of hostile input and fault issue 24 (and issue 21's first-use items) found by hand.

Each class is a property over every member the suite can enumerate or generate, so the next variant is found by
the suite, not by a user: every command into a closed pipe; every option's help; any float for a seconds target;
stale and reused pids; dates, binaries and duplicate keys in stack config; trailing newlines, control, bidi and
surrogate characters in every user-facing spec string; damaged files Bascule wrote itself; untrusted text in
Markdown, terminal and XML output.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bascule.cli.app import _COMMANDS, _load, app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
PROFILE = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _command_paths() -> list[list[str]]:
    """Every command and subcommand, as the words that name it on the command line."""
    found: list[list[str]] = [[]]

    def walk(words: list[str], command: Any) -> None:
        found.append(words)
        for name, child in getattr(command, "commands", {}).items():
            walk([*words, name], child)

    for name in _COMMANDS:
        walk([name], _load(name))
    return found


COMMANDS = _command_paths()


# --- 21.7: a closed stdout ends quietly with exit 0 ----------------------------------------------------------------


def _into_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`bascule ARGS` with stdout a pipe whose reader has already gone, as after `| head -c 1`."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "bascule.cli", *args], stdout=write, stderr=subprocess.PIPE,
                              cwd=ROOT, timeout=300, check=False)  # fmt: skip
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        [*words, "--help"] for words in COMMANDS
    ] + [["--version"], ["plan", "--stack", "dev", "-f", "json"], ["plan", "--stack", "dev"],
         ["check", "--stack", "dev", "-f", "sarif"]],
    ids=lambda args: " ".join(args),
)  # fmt: skip
def test_every_command_into_a_closed_pipe_ends_quietly_with_exit_0(args: list[str]) -> None:
    proc = _into_closed_pipe(*args)
    assert (proc.returncode, proc.stderr.decode()) == (0, "")


def test_a_verdict_still_exits_1_when_stdout_is_open(tmp_path: Path) -> None:
    """Only a broken pipe becomes 0: an error's exit code is kept when the reader is still there."""
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "sandbox", "status", "--sandbox-dir", str(tmp_path)],
                          capture_output=True, cwd=ROOT, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1 and b"no sandbox in" in proc.stderr


# --- 21.7: help shows no Python types ------------------------------------------------------------------------------

PYTHON_TYPES = re.compile(r"<[^>]*\b(?:str|bool|int|float|list|dict|Path|None)\b[^>]*>")


@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words) or "bascule")
def test_help_shows_no_python_types(words: list[str]) -> None:
    result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    options = result.output.split("Arguments")[0] if "Arguments" in result.output else result.output
    found = [line for line in options.splitlines() if PYTHON_TYPES.search(line) and "--" in line]
    assert not found, found


def test_sandbox_folder_has_one_flag_name_and_a_deprecated_alias(tmp_path: Path) -> None:
    new = runner.invoke(app, ["sandbox", "status", "--sandbox-dir", str(tmp_path)])
    old = runner.invoke(app, ["sandbox", "status", "--dir", str(tmp_path)])
    assert new.exit_code == old.exit_code == 1
    assert "deprecated: --dir will be removed; use --sandbox-dir" in old.stderr
    assert f"`bascule sandbox up --sandbox-dir {tmp_path}`" in old.stderr  # the hint carries the new name
    assert "--dir " not in runner.invoke(app, ["sandbox", "status", "--help"]).output


def test_default_sandbox_folder_is_per_checkout(tmp_path: Path) -> None:
    from bascule.sandbox import default_state_dir

    one, two = tmp_path / "one", tmp_path / "two"
    for clone in (one, two):
        (clone / ".git").mkdir(parents=True)
        (clone / "sub").mkdir()
    assert default_state_dir(one) == default_state_dir(one / "sub")
    assert default_state_dir(one) != default_state_dir(two)


# --- 24.4 and 24.6: every duration option is finite and within its bound ----------------------------------------


def _duration_options() -> list[tuple[list[str], str, Any]]:
    """Every option whose value a `Duration` checks, with the words of its command, found in the command tree."""
    from bascule.cli.common import Duration

    found = []

    def walk(words: list[str], command: Any) -> None:
        for param in command.params:
            owner = _closure_duration(param.callback)
            if isinstance(owner, Duration):
                found.append((words, param.opts[0], owner))
        for name, child in getattr(command, "commands", {}).items():
            walk([*words, name], child)

    for name in _COMMANDS:
        walk([name], _load(name))
    return found


def _closure_duration(callback: Any, depth: int = 3) -> Any:
    """The `Duration` a callback checks with: typer wraps the option's callback, which closes over its Duration."""
    for cell in getattr(callback, "__closure__", None) or ():
        value = cell.cell_contents
        if type(value).__name__ == "Duration":
            return value
        if callable(value) and depth:
            found = _closure_duration(value, depth - 1)
            if found is not None:
                return found
    return None


DURATION_OPTIONS = _duration_options()
TODAY = datetime.now(UTC).date().isoformat()
"""A blackout date today (the drill's own clock is UTC): a drill whose options pass ends before it starts."""


def test_the_duration_options_are_the_ones_the_issue_named_and_more() -> None:
    named = {(" ".join(words), flag) for words, flag, _ in DURATION_OPTIONS}
    assert {("drill", "--rto"), ("drill", "--timeout"), ("drill", "--window"), ("drill", "--rpo"),
            ("drill", "--min-cert-days"), ("verify", "--timeout"), ("verify", "--min-cert-days")} <= named  # fmt: skip


@PROFILE
@given(case=st.sampled_from(DURATION_OPTIONS), value=st.floats(allow_nan=True, allow_infinity=True))
def test_every_duration_is_refused_exactly_when_out_of_range(tmp_path_factory: Any, case: Any, value: float) -> None:
    """Any float: refused with exit 2 and the one line naming flag, range and bound iff outside the range; a
    value inside gets past the option (a blackout date today then ends the drill before it starts)."""
    words, flag, duration = case
    folder = tmp_path_factory.mktemp("duration")
    target = ["--local", "--sandbox-dir", str(folder)] + (["--blackout", TODAY] if words == ["drill"] else [])
    result = runner.invoke(app, [*words, *target, f"{flag}={value}"])
    if duration.holds(value):
        assert f"error: {flag}:" not in result.stderr, result.output
    else:
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == f"error: {flag}: {value} is not {duration.describe()}"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "NaN", "-0.001"])
def test_bad_rpo_from_the_command_line(tmp_path: Path, value: str) -> None:
    result = runner.invoke(app, ["drill", "--local", "--data", "--rpo", value, "--sandbox-dir", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.startswith("error: --rpo: "), result.output


# --- 24.4: a folder or file to write: the check says so exactly when writing fails --------------------------------


@pytest.fixture(scope="module")
def read_only_mount(tmp_path_factory: Any) -> Any:
    """An empty read-only tmpfs (root), or a folder without write permission (others)."""
    folder = tmp_path_factory.mktemp("ro")
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(folder)], capture_output=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def _really_writes(path: Path, folder: bool) -> bool:
    try:
        if folder:
            path.mkdir(parents=True, exist_ok=True)
            (path / "probe").write_text("x")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x")
    except OSError:
        return False
    return True


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.sampled_from(["folder", "file", "missing"]), min_size=1, max_size=4),
       folder=st.booleans(), read_only=st.booleans())  # fmt: skip
def test_unwritable_is_right_about_every_layout(
    tmp_path_factory: Any, read_only_mount: Path, layout: list[str], folder: bool, read_only: bool
) -> None:
    """Folders, files and missing names at each level below a writable or a read-only place: `unwritable` finds a
    problem exactly when creating and writing the folder (or the file) really fails."""
    from bascule.io.files import unwritable

    path = read_only_mount if read_only else tmp_path_factory.mktemp("layout")
    below_a_folder = not read_only
    for level, kind in enumerate(layout):
        path = path / f"p{level}"
        if below_a_folder and kind == "folder":
            path.mkdir()
        elif below_a_folder and kind == "file":
            path.write_text("x")
        below_a_folder = below_a_folder and kind == "folder"
    predicted = unwritable(path, folder=folder)
    assert (predicted is None) == _really_writes(path, folder), predicted


def test_no_bare_nan_in_json_bascule_writes() -> None:
    """The guarantee behind the validation: every JSON writer refuses a non-finite number instead of writing NaN."""
    from bascule.cli.common import emit_json

    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        emit_json({"rpo": math.nan})


# --- 24.2: never signal or delete what Bascule did not start or create ---------------------------------------------


@pytest.fixture
def bystander() -> Any:
    """A process Bascule did not start, whose pid a stale file will name."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _stale_state(folder: Path, pid: int, token: Any) -> None:
    from dataclasses import asdict

    from bascule.sandbox.sandbox import SandboxService, SandboxState

    state = asdict(SandboxState(directory=str(folder), dns_port=1, http_port=2, https_port=3, pdns_version="4.9",
                                service=SandboxService(), pids={"pdns": pid, "primary": pid}))  # fmt: skip
    if token is not None:
        state["tokens"] = {"pdns": token, "primary": token}
    (folder / "state.json").write_text(json.dumps(state))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.none() | st.text(max_size=60) | st.integers() | st.just("00000000-0000:1"))
def test_sandbox_down_never_signals_a_process_it_did_not_start(
    tmp_path_factory: Any, bystander: subprocess.Popen[bytes], token: Any
) -> None:
    from bascule.io.processes import identity

    if token == identity(bystander.pid):  # hypothesis cannot guess it; this keeps the property honest
        return
    folder = tmp_path_factory.mktemp("stale")
    _stale_state(folder, bystander.pid, token)
    result = runner.invoke(app, ["sandbox", "down", "--sandbox-dir", str(folder)])
    assert bystander.poll() is None, "sandbox down signalled a process it did not start"
    if isinstance(token, str | None):
        assert result.exit_code == 0, result.output
        assert not (folder / "state.json").exists()
    else:  # a token that is not text: a damaged state file, refused (exit 2) and left for the user to look at
        assert result.exit_code == 2 and "tokens.pdns" in result.stderr, result.output


def test_sandbox_down_still_stops_its_own_process(tmp_path: Path, bystander: subprocess.Popen[bytes]) -> None:
    """The positive control: with the identity taken when the process started, it is stopped."""
    from bascule.io.processes import identity

    _stale_state(tmp_path, bystander.pid, identity(bystander.pid))
    assert runner.invoke(app, ["sandbox", "down", "--sandbox-dir", str(tmp_path)]).exit_code == 0
    assert bystander.wait(timeout=10) is not None


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.text(min_size=1, max_size=60))
def test_a_lock_whose_pid_is_another_process_is_stale_not_busy(
    tmp_path_factory: Any, bystander: subprocess.Popen[bytes], token: str
) -> None:
    from bascule.drills.lock import DrillLock, StaleLock
    from bascule.io.processes import identity

    if token == identity(bystander.pid):
        return
    folder = tmp_path_factory.mktemp("locks")
    lock = DrillLock(folder, "sandbox:x")
    lock.path.write_text(json.dumps({"key": "sandbox:x", "pid": bystander.pid, "pid_identity": token}))
    with pytest.raises(StaleLock):
        lock.acquire({})


def test_a_lock_of_a_running_drill_is_busy(tmp_path: Path) -> None:
    from bascule.drills.lock import DrillLock, LockHeld

    DrillLock(tmp_path, "sandbox:x").acquire({})
    with pytest.raises(LockHeld):
        DrillLock(tmp_path, "sandbox:x").acquire({})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    suffix=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12),
    marker=st.none() | st.text(max_size=80) | st.just("link"),
)
def test_recover_deletes_only_folders_a_drill_created(tmp_path_factory: Any, suffix: str, marker: str | None) -> None:
    from bascule.sandbox.ownership import OWN_SANDBOX_MARKER, discard_own_sandbox, is_own_sandbox, new_own_sandbox_dir

    user = tmp_path_factory.mktemp("user") / f"bascule-sandbox-{suffix}"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    real = new_own_sandbox_dir()
    assert is_own_sandbox(real)
    if marker == "link":  # a link to a real marker elsewhere proves nothing
        (user / OWN_SANDBOX_MARKER).symlink_to(real / OWN_SANDBOX_MARKER)
    elif marker is not None:
        (user / OWN_SANDBOX_MARKER).write_text(marker)
    assert not is_own_sandbox(user)
    discard_own_sandbox(user)
    assert (user / "thesis.tex").read_text() == "years of work"
    discard_own_sandbox(real)
    assert not real.exists()


# --- 24.3: stack config read as Pulumi reads it --------------------------------------------------------------------

DEV_TEXT = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
yaml_dates = (
    st.dates().map(str)
    | st.datetimes().map(lambda d: d.isoformat(sep=" "))
    | st.datetimes().map(lambda d: d.isoformat())
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(when=yaml_dates, payload=st.binary(max_size=30), where=st.sampled_from(["top", "tags", "nested"]))
def test_dates_and_binaries_in_stack_config_are_text(
    tmp_path_factory: Any, when: str, payload: bytes, where: str
) -> None:
    import base64

    from bascule.spec import read_stack_config

    blob = base64.b64encode(payload.decode("utf-8", "replace").encode()).decode()
    extra = {
        "top": f"  myapp:launchDate: {when}\n  myapp:blob: !!binary {blob}\n",
        "tags": f"  aws:defaultTags:\n    tags:\n      since: {when}\n      blob: !!binary {blob}\n",
        "nested": f"  myapp:settings:\n    - {when}\n    - {{at: {when}, blob: !!binary {blob}}}\n",
    }[where]
    folder = tmp_path_factory.mktemp("dates")
    path = folder / "Pulumi.t.yaml"
    path.write_text(DEV_TEXT.replace("config:\n", "config:\n" + extra, 1))
    config = read_stack_config(path)
    texts = json.dumps(config)  # every value is JSON-able text, numbers or mappings: no date, no bytes
    assert when in texts
    result = runner.invoke(app, ["plan", "--stack", "t", "--stacks-dir", str(folder), "-f", "json"])
    assert result.exit_code == 0, result.output


json_keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)


@st.composite
def with_duplicate(draw: st.DrawFn) -> tuple[str, str, int]:
    """A JSON document (one object per line) where one object has a key twice; the key and its second line."""
    keys = draw(st.lists(json_keys, min_size=1, max_size=5, unique=True))
    twice = draw(st.sampled_from(keys))
    nested = draw(st.booleans())
    lines = [f"  {json.dumps(k)}: {json.dumps(i)}," for i, k in enumerate(keys)]
    position = draw(st.integers(min_value=0, max_value=len(lines)))
    if nested:  # the duplicate inside an inner object, the outer one clean
        inner = ['  "inner": {', *("  " + line for line in lines)]
        inner.insert(1 + position + 1, f"    {json.dumps(twice)}: null,")
        inner[-1] = inner[-1].rstrip(",")
        body = ["{", *inner, "  }", "}"]
    else:
        lines.insert(position + 1, f"  {json.dumps(twice)}: null,")
        lines[-1] = lines[-1].rstrip(",")
        body = ["{", *lines, "}"]
    text = "\n".join(body) + "\n"
    second = [i for i, line in enumerate(body, start=1) if line.strip().startswith(json.dumps(twice) + ":")][1]
    return text, twice, second


@PROFILE
@given(case=with_duplicate(), as_yaml=st.booleans())
def test_duplicate_keys_are_refused_with_file_and_line(tmp_path_factory: Any, case: tuple[str, str, int],
                                                       as_yaml: bool) -> None:  # fmt: skip
    from bascule.io.documents import InputError, read_json, read_yaml

    text, _key, line = case
    path = tmp_path_factory.mktemp("dup") / ("doc.yaml" if as_yaml else "doc.json")
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        (read_yaml if as_yaml else read_json)(path, "document")
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:") and "twice" in message, (message, text)


def test_a_duplicate_key_in_a_stack_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(DEV_TEXT.replace("config:\n", "config:\n  aws:region: eu-west-3\n  aws:region: us-east-1\n", 1))
    result = runner.invoke(app, ["plan", "--stack", "t", "--stacks-dir", str(tmp_path)])
    line = DEV_TEXT[: DEV_TEXT.index("config:\n")].count("\n") + 3
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {path}:{line}:"), result.stderr


def test_a_yaml_merge_key_may_still_be_overridden(tmp_path: Path) -> None:
    from bascule.io.documents import read_yaml

    path = tmp_path / "m.yaml"
    path.write_text("base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  a: 3\n")
    assert read_yaml(path, "document")["use"] == {"a": 3, "b": 2}


# --- 24.7: every user-facing spec string is anchored and visible text ----------------------------------------------

from bascule.spec import SERVICES_KEY  # noqa: E402
from tests.conftest import stack_config  # noqa: E402

HOSTILE_TEXT = ["\n", "\r\n", "\t", "\x00", "\x1b[31m", "\x1b]8;;https://evil.example\x07", "\u202e", "\u2066",
                "\u2028", "\ud800", "\udfff", "\x85"]  # fmt: skip


def _string_places(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, str):
        return [prefix]
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    return [place for key, value in items for place in _string_places(value, (*prefix, key))]


SERVICE_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("*.yaml"))
STRING_FIELDS = [
    (stack, place) for stack in SERVICE_STACKS for place in _string_places(stack_config(stack).get(SERVICES_KEY, []))
]
"""Every string a stack file of this repository gives a service, in every site kind and DNS backend it uses."""


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(STRING_FIELDS),
    bad=st.sampled_from(HOSTILE_TEXT),
    where=st.sampled_from(["end", "start", "middle"]),
)
def test_every_spec_string_refuses_newlines_controls_bidi_and_surrogates(
    tmp_path_factory: Any, field: tuple[str, tuple[Any, ...]], bad: str, where: str
) -> None:
    stack, place = field
    config = stack_config(stack)
    services = config[SERVICES_KEY]
    parent = services
    for part in place[:-1]:
        parent = parent[part]
    value = parent[place[-1]]
    middle = len(value) // 2
    parent[place[-1]] = {"end": value + bad, "start": bad + value, "middle": value[:middle] + bad + value[middle:]}[
        where
    ]
    folder = tmp_path_factory.mktemp("spec")
    path = folder / "Pulumi.t.yaml"
    path.write_text(json.dumps({"config": config}))  # JSON is YAML; json escapes a surrogate as \\udXXX
    result = runner.invoke(app, ["plan", "--stack", "t", "--stacks-dir", str(folder)])
    assert result.exit_code == 2, (place, bad, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), result.stderr


@pytest.mark.parametrize("field", STRING_FIELDS, ids=lambda f: f"{f[0]}:{'.'.join(map(str, f[1]))}")
def test_every_spec_string_refuses_a_huge_value_in_one_short_line(tmp_path: Path, field: tuple[str, Any]) -> None:
    """24.10: 60,000 more characters in any string a service gives: refused, and the error line repeats at most
    `QUOTE_MAX` characters of it (`bascule.io.escaping.quoted`), however many places quote the value."""
    from bascule.io.escaping import QUOTE_MAX

    stack, place = field
    config = stack_config(stack)
    parent = config[SERVICES_KEY]
    for part in place[:-1]:
        parent = parent[part]
    parent[place[-1]] = parent[place[-1]] + "x" * 60_000
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(json.dumps({"config": config}))
    result = runner.invoke(app, ["plan", "--stack", "t", "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 2, (place, result.output[:300])
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}") and len(line) < len(str(path)) + 3 * QUOTE_MAX + 500, line[:300]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"health_check": {"path": "/" + "a" * 255}}, "at most 255 characters (Route 53's limit)"),
        ({"health_check": {"path": "/ok\tx"}}, "health_check.path"),
        ({"dns": {"zone_id": ""}}, "is not a hosted zone id"),
        ({"dns": {"zone_id": "/hostedzone/Z1"}}, "is not a hosted zone id"),
        ({"primary": {"image": "ghcr.io/a/b:1\u202e"}}, "primary"),
        ({"name": "checkout\n"}, "name"),
    ],
)
def test_field_limits(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    config = stack_config("dev")
    service = config[SERVICES_KEY][0]
    for key, value in change.items():
        service[key] = {**service[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(json.dumps({"config": config}))
    result = runner.invoke(app, ["plan", "--stack", "t", "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 2 and expected in result.stderr, result.stderr


def test_a_255_character_health_path_is_accepted(tmp_path: Path) -> None:
    config = stack_config("dev")
    config[SERVICES_KEY][0]["health_check"] = {
        **config[SERVICES_KEY][0].get("health_check", {}),
        "path": "/" + "a" * 254,
    }
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(json.dumps({"config": config}))
    assert runner.invoke(app, ["plan", "--stack", "t", "--stacks-dir", str(tmp_path), "-f", "json"]).exit_code == 0


# --- 24.8: damaged files Bascule wrote itself: exit 2 naming the file, never 70 -------------------------------------


def _written_files(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """One real file of each kind Bascule writes and reads back, by its real writer, and the command reading it."""
    from bascule.drills import history
    from bascule.drills.journal import Journal
    from tests.test_audit import _readiness
    from tests.test_drill_report import good_drill

    journal = folder / "drill" / "journal.jsonl"
    record = Journal(journal)
    for event in good_drill().events:
        record.append(event.pop("kind"), **{k: v for k, v in event.items() if k not in ("seq", "t", "wall")})
    record.close()
    summary = {"started": "2025-01-01T09:17:00Z", "service": "checkout", "target": "sandbox", "fault": "health",
               "status": "pass", "rto_seconds": 10, "failover": {"dns_all_s": 1.0, "http_s": 1.5},
               "failback": {"http_s": 1.2}}  # fmt: skip
    history.append(folder / "h", summary, folder)
    history.append(folder / "h", {**summary, "started": "2025-01-08T09:17:00Z", "status": "fail"}, folder)
    readiness = _readiness(folder / "verify.json", standby_ready=True)
    _stale_state(folder / "box", os.getpid(), None) if (folder / "box").mkdir() is None else None
    return {
        "journal": (journal, ["drill", "report", str(journal), "--out", str(folder / "out")]),
        "history": (next((folder / "h").glob("*.jsonl")), ["drill", "history", "--history", str(folder / "h")]),
        "audit-history": (next((folder / "h").glob("*.jsonl")),
                          ["audit", "--stack", "prod", "--history", str(folder / "h")]),
        "readiness": (readiness, ["audit", "--stack", "prod", "--readiness", str(readiness)]),
        "state": (folder / "box" / "state.json", ["sandbox", "status", "--sandbox-dir", str(folder / "box")]),
        "state-down": (folder / "box" / "state.json", ["sandbox", "down", "--sandbox-dir", str(folder / "box")]),
        "lock": (_dead_lock(folder, journal), ["drill", "recover", "--lock-dir", str(folder / "locks")]),
        "lock-journal": (journal, ["drill", "recover", "--lock-dir", str(folder / "locks")]),
    }  # fmt: skip


def _dead_lock(folder: Path, journal: Path) -> Path:
    """The lock a killed drill on the sandbox in `folder/box` left (its pid is this test's, with another identity)."""
    from bascule.drills.control import sandbox_description, sandbox_lock_key
    from bascule.drills.lock import DrillLock

    lock = DrillLock(folder / "locks", sandbox_lock_key(folder / "box"))
    lock.acquire({"journal": str(journal), "control": sandbox_description(folder / "box"), "fault": "health"})
    record = json.loads(lock.path.read_text())
    lock.path.write_text(json.dumps({**record, "pid_identity": "another process"}, indent=2))
    return lock.path


@st.composite
def damaged(draw: st.DrawFn, text: str) -> bytes:
    """`text` truncated, with a line replaced by other JSON, a value swapped for any JSON value, or bytes flipped.

    Positions are drawn as numbers and taken modulo the text's size: the files carry timestamps, so their length
    differs from run to run, and hypothesis must draw the same choices when it replays a case.
    """
    how = draw(st.sampled_from(["truncate", "line", "value", "bytes"]))
    data = text.encode()
    spot = draw(st.integers(min_value=0, max_value=10**9))
    if how == "truncate":
        return data[: spot % (len(data) + 1)]
    if how == "bytes":
        at_ = spot % max(len(data), 1)
        return data[:at_] + draw(st.binary(min_size=1, max_size=4)) + data[at_ + 1 :]
    lines = text.splitlines(keepends=True) or [""]
    index = spot % len(lines)
    if how == "line":
        lines[index] = json.dumps(draw(values)) + "\n"
        return "".join(lines).encode()
    try:
        doc = json.loads(lines[index]) if len(lines) > 1 else json.loads(text)
    except ValueError:
        return data
    places = paths(doc)
    where = places[draw(st.integers(min_value=0, max_value=10**9)) % len(places)]
    replacement = draw(values)
    if not where:
        doc = replacement
    else:
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        parent[where[-1]] = replacement
    if len(lines) > 1:
        lines[index] = json.dumps(doc) + "\n"
        return "".join(lines).encode()
    return json.dumps(doc, indent=2).encode()


from tests.test_properties import paths, values  # noqa: E402


@pytest.mark.parametrize(
    "kind", ["journal", "history", "audit-history", "readiness", "state", "state-down", "lock", "lock-journal"]
)
@settings(
    max_examples=int(os.environ.get("DAMAGE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damaged_files_bascule_wrote_give_exit_2_naming_the_file(
    tmp_path_factory: Any, kind: str, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("written")
    path, args = _written_files(folder)[kind]
    path.write_bytes(data.draw(damaged(path.read_text())))
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output
    assert result.exit_code != 70, result.output
    if result.exit_code == 2:
        assert str(path) in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("name", "", "is not a hostname"), ("zone", "a..b", "is not a hostname"), ("health_path", "healthz", "health_path"),
     ("ttl", -1, "service.ttl"), ("interval_seconds", 0, "service.interval_seconds"), ("rto_seconds", True, "rto")],
)  # fmt: skip
def test_a_sandbox_state_with_a_field_no_server_takes_is_exit_2_naming_the_file(
    tmp_path: Path, field: str, value: Any, named: str
) -> None:
    """What the property test above found on a random run: an empty service name in a damaged state.json made the
    hostname `.sandbox.test` and dnspython's EmptyLabel an exit 70. Each field is now checked when read."""
    path, args = _written_files(tmp_path)["state"]
    state = json.loads(path.read_text())
    state["service"][field] = value
    path.write_text(json.dumps(state))
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert str(path) in result.stderr and named in result.stderr, result.stderr


# --- 24.9: one escaping rule per output medium ---------------------------------------------------------------------

import unicodedata  # noqa: E402
from xml.etree import ElementTree as ET  # noqa: E402

from markdown_it import MarkdownIt  # noqa: E402

from bascule.io.escaping import markdown, terminal, xml_text  # noqa: E402

ATTACKS = st.sampled_from([
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
    "![x](https://evil.example/p.png)", "<javascript:alert(1)>", "a\n| x | y |\n| z | w |", "a\r\n# heading",
    "`code", "\\|", "&lt;script&gt;", "\x1b[2J\x1b]8;;https://evil.example\x07link\x1b]8;;\x07", "\u202egnp.exe",
    "\ud800", "\x00\x01\x0b\x0c\x7f\x85", "***", "<!-- x -->", "<br>",
])  # fmt: skip
hostile_text = st.lists(ATTACKS | st.text(max_size=12), min_size=1, max_size=4).map("".join)
GFM = MarkdownIt("gfm-like").disable("linkify")


@PROFILE
@given(text=hostile_text)
def test_markdown_cell_is_literal_text(text: str) -> None:
    """In a GFM table, an escaped value stays one cell of one row: no HTML, no link, no image, no extra row."""
    html_out = GFM.render(f"| name | n |\n|---|---|\n| {markdown(text)} | 1 |\n")
    assert html_out.count("<tr>") == 2 and html_out.count("<td>") == 2, (text, html_out)
    for tag in ("<script", "<img", "<a ", "<br", "<!--", "<h1", "<code"):
        assert tag not in html_out, (text, html_out)


@PROFILE
@given(text=hostile_text)
def test_terminal_text_has_nothing_that_acts(text: str) -> None:
    shown = terminal(text)
    assert all(c in "\n\t" or (unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Zl", "Zp"}) for c in shown)
    shown.encode("utf-8")  # writable: no unpaired surrogate


@PROFILE
@given(text=hostile_text)
def test_xml_text_keeps_junit_well_formed(text: str) -> None:
    root = ET.Element("testcase", name=xml_text(text))
    ET.SubElement(root, "failure", message=xml_text(text)).text = xml_text(text)
    ET.fromstring(ET.tostring(root, encoding="unicode"))


@functools.cache
def _single_region_export() -> str:
    """The single-region stack as `pulumi stack export` writes it: its `payments` workload is a mandatory finding."""
    import tempfile

    from tests.test_cli_check import _export

    return _export(Path(tempfile.mkdtemp()), "single-region").read_text()


def _export_with(folder: Path, workload: str, reason: str) -> tuple[Path, Path]:
    """That export with the workload tag `payments` renamed `workload`, and a waivers file waiving the finding
    with `reason`."""
    path = folder / "state.json"
    path.write_text(_single_region_export().replace('"payments"', json.dumps(workload)))
    waivers = folder / "waivers.yaml"
    waivers.write_text(json.dumps({"waivers": [{"rule": "bascule-single-region", "workload": workload,
                                                "reason": reason, "owner": "ops@example.com",
                                                "expires": "2099-01-01"}]}))  # fmt: skip
    return path, waivers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workload=hostile_text, reason=hostile_text)
def test_check_output_in_every_medium(tmp_path_factory: Any, workload: str, reason: str) -> None:
    """Untrusted tags and waiver reasons: the terminal sees no escape sequence, JUnit stays XML, no crash."""
    folder = tmp_path_factory.mktemp("media")
    export, waivers = _export_with(folder, workload, reason)
    for fmt in ("text", "junit", "json", "sarif"):
        for waived in ([], ["--waivers", str(waivers)]):
            result = runner.invoke(app, ["check", "--export", str(export), "-f", fmt, *waived])
            assert result.exit_code in (0, 1, 2), result.output
            if result.exit_code == 2:  # refused input (an unpaired surrogate): one line naming a file
                assert result.stderr.startswith("error: "), result.stderr
                continue
            if fmt == "text":
                assert "\x1b" not in result.stdout and "\u202e" not in result.stdout, result.stdout
            elif fmt == "junit":
                ET.fromstring(result.stdout)
            else:
                json.loads(result.stdout)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(service=hostile_text)
def test_history_markdown_keeps_one_row_per_service(tmp_path_factory: Any, service: str) -> None:
    from bascule.drills import history

    folder = tmp_path_factory.mktemp("history")
    summary = {"started": "2025-01-01T09:17:00Z", "service": service, "target": "sandbox", "fault": "health",
               "status": "pass", "rto_seconds": 10, "failover": {"dns_all_s": 1.0, "http_s": 1.5},
               "failback": {"http_s": 1.2}}  # fmt: skip
    history.append(folder / "h", summary, folder)
    result = runner.invoke(app, ["drill", "history", "--history", str(folder / "h"), "-f", "markdown"])
    assert result.exit_code == 0, result.output
    html_out = GFM.render(result.stdout)
    assert html_out.count("<tr>") == 2, (service, result.stdout)
    for tag in ("<script", "<img", "<a "):
        assert tag not in html_out
    text = runner.invoke(app, ["drill", "history", "--history", str(folder / "h")])
    assert text.exit_code == 0 and "\x1b" not in text.stdout


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile_text)
def test_report_md_keeps_untrusted_text_literal(tmp_path_factory: Any, text: str) -> None:
    from bascule.drills.report import render_markdown, summarize
    from tests.test_drill_report import good_drill

    events = good_drill().events
    for event in events:
        if event["kind"] == "plan":
            event["plan"]["target"]["service"] = text
            event["plan"]["target"]["description"] = text
    summary = summarize(events)
    summary["reasons"] = [text]
    html_out = GFM.render(render_markdown(summary))
    for tag in ("<script", "<img", "<a ", "<h1>" + "x"):
        assert tag not in html_out, html_out
    assert html_out.count("<h1>") == 1


# --- 24.10: what an error repeats is bounded --------------------------------------------------------------------


@PROFILE
@given(text=st.text(max_size=3000) | st.builds(lambda n, c: c * n, st.integers(0, 200_000), st.characters()))
def test_quoted_repeats_a_bounded_prefix_and_says_how_long_the_value_was(text: str) -> None:
    from bascule.io.escaping import QUOTE_MAX, quoted

    shown = quoted(text)
    if len(text) <= QUOTE_MAX:
        assert shown == f"'{text}'"
    else:
        assert shown == f"'{text[:QUOTE_MAX]}…' ({len(text)} characters)"
    assert len(shown) <= QUOTE_MAX + 30


@PROFILE
@given(line=st.text(max_size=20_000))
def test_bounded_keeps_both_ends_within_the_limit(line: str) -> None:
    from bascule.io.escaping import LINE_MAX, bounded

    cut = bounded(line)
    assert len(cut) <= LINE_MAX + 60
    if len(line) <= LINE_MAX:
        assert cut == line
    else:
        assert cut.startswith(line[: LINE_MAX // 2]) and cut.endswith(line[-(LINE_MAX // 2) :])
