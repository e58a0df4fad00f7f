"""Issue 24 item 4 and its "Also" list: option values that gave exit 70, were silently ignored or destroyed input.

Every folder or file a command writes, every folder it reads, every duration and the CA bundle are checked by the
option itself as it is parsed: exit 2 and one line naming the flag, before any work starts. The CLI runs in-process
(typer's runner); `test_real_exit_codes` runs a few through the real entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bascule.cli.app import _COMMANDS, _load, app
from bascule.readiness.site import BUNDLE_MAX_BYTES
from bascule.sandbox.pki import SandboxPki
from tests.conftest import STACKS

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def one_error(result: Any, *expected: str) -> str:
    """Exit 2, one line on stderr starting `error: `, holding every `expected` text; no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.output and "internal error" not in result.output
    return str(lines[0])


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write into: a read-only tmpfs for root (permissions do not stop root), a
    folder without write permission otherwise."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(folder)], capture_output=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder\n")
    return path


STACK = ("--stack", "dev", "--stacks-dir", str(STACKS))


# --- every folder or file a command writes --------------------------------------------------------------------

WRITERS: list[tuple[str, list[str], str, bool]] = [
    # (flag as named in the error, the command line before the value, the option, whether it is a folder)
    ("--output", ["check", *STACK, "--output"], "--output", False),
    ("--output-dir", ["check", *STACK, "--output-dir"], "--output-dir", True),
    ("--output", ["audit", *STACK, "-o"], "-o", False),
    ("--dora-register", ["audit", *STACK, "--dora-register"], "--dora-register", True),
    ("--out", ["drill", "--local", "--out"], "--out", True),
    ("--history", ["drill", "--local", "--history"], "--history", True),
    ("--lock-dir", ["drill", "--local", "--lock-dir"], "--lock-dir", True),
    ("--lock-dir", ["drill", "recover", "--lock-dir"], "--lock-dir", True),
    ("--lock-dir", ["verify", "--local", "--lock-dir"], "--lock-dir", True),
    ("--out", ["drill", "report", "journal.jsonl", "--out"], "--out", True),
    ("DIRECTORY", ["policy-pack", "init"], "", True),
    ("--sandbox-dir", ["sandbox", "up", "--sandbox-dir"], "--sandbox-dir", True),
]
"""Each written path, with the command line that reaches it; the test appends the bad value."""


@pytest.mark.parametrize(("flag", "words", "_option", "folder"), WRITERS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_read_only_place_is_refused_naming_the_flag(
    read_only: Path, flag: str, words: list[str], _option: str, folder: bool
) -> None:
    target = read_only / "new"
    one_error(invoke(*words, str(target)), f"{flag} {target}", "cannot be created", str(read_only))
    assert not target.exists()


@pytest.mark.parametrize(("flag", "words", "_option", "folder"), WRITERS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_file_where_a_folder_is_wanted_and_a_folder_where_a_file_is(
    a_file: Path, tmp_path: Path, flag: str, words: list[str], _option: str, folder: bool
) -> None:
    if folder:
        one_error(invoke(*words, str(a_file)), f"{flag} {a_file}: is a file, not a folder")
        one_error(invoke(*words, str(a_file / "below")), f"{a_file} is a file, not a folder")
    else:
        one_error(invoke(*words, str(tmp_path)), f"{flag} {tmp_path}: is a folder, not a file")


def test_a_missing_folder_that_can_be_created_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "er" / "reports"
    result = invoke("check", *STACK, "--output-dir", str(out), "-o", str(tmp_path / "new" / "bascule.txt"))
    assert result.exit_code in (0, 1), result.output
    assert (out / "bascule.sarif").is_file() and (tmp_path / "new" / "bascule.txt").is_file()


def test_a_drill_refuses_an_unwritable_default_report_folder_before_taking_a_lock(
    read_only: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --out: ./drill-reports/<time> in a folder that cannot hold it is refused like a bad --out, up front."""
    monkeypatch.chdir(read_only)
    locks = tmp_path / "locks"
    one_error(invoke("drill", "--local", "--lock-dir", str(locks)), "--out drill-reports/", "cannot be created")
    assert not locks.exists()


# --- folders a command reads -------------------------------------------------------------------------------------

READERS = [
    ["audit", *STACK, "--history"],
    ["drill", "history", "--history"],
    ["plan", "--stack", "dev", "--stacks-dir"],
    ["verify", "--local", "--sandbox-dir"],
    ["sandbox", "status", "--sandbox-dir"],
    ["sandbox", "status", "--dir"],
    ["drill", "--stack", "dev", "--service", "checkout", "--cwd"],
    ["drill", "recover", "--stack", "dev", "--cwd"],
]


@pytest.mark.parametrize("words", READERS, ids=lambda words: " ".join(w for w in words if w != str(STACKS)))
def test_a_file_where_a_folder_is_read_is_refused(a_file: Path, words: list[str]) -> None:
    """`audit --history FILE` read as an empty history, `drill recover --lock-dir FILE` as no locks: silently."""
    result = invoke(*words, str(a_file))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == f"error: {words[-1]} {a_file}: is a file, not a folder"


# --- durations ---------------------------------------------------------------------------------------------------

DURATIONS = [
    (["verify", "--local", "--timeout"], "inf", "--timeout: inf is not a number of seconds from 0.1 to 300"),
    (["verify", "--local", "--timeout"], "0.01", "--timeout: 0.01 is not a number of seconds from 0.1 to 300"),
    (["verify", "--local", "--min-cert-days"], "nan", "--min-cert-days: nan is not a number of days from 0 to 3650"),
    (["drill", "--local", "--window"], "1e9", "--window: 1000000000.0 is not a number of minutes from 0 to 10080"),
    (["drill", "--local", "--window"], "-1", "--window: -1.0 is not a number of minutes from 0 to 10080"),
    (["drill", "--local", "--rto"], "1e9", "--rto: 1000000000.0 is not a number of seconds greater than 0 and at "
                                           "most 604800"),
    (["drill", "--local", "--timeout"], "0", "--timeout: 0.0 is not a number of seconds greater than 0"),
    (["drill", "--local", "--rpo"], "inf", "--rpo: inf is not a number of seconds from 0 to 604800"),
    (["drill", "--local", "--min-cert-days"], "-1", "--min-cert-days: -1.0 is not a number of days from 0"),
]  # fmt: skip


@pytest.mark.parametrize(("words", "value", "expected"), DURATIONS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_duration_is_finite_and_within_its_bound(tmp_path: Path, words: list[str], value: str, expected: str) -> None:
    """`verify --timeout inf` overflowed the socket timeout and `--window 1e9` the clock: exit 70 before. The
    error names the flag, the range and where its maximum comes from."""
    line = one_error(invoke(*words, value, "--sandbox-dir", str(tmp_path)), expected)
    assert line.endswith(")")  # the reason for the bound, in parentheses


# --- the CA bundle -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty: give a PEM file of CA certificates"),
        (b"\n  \n", "is empty"),
        (b"just some text\n", "holds no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", "OpenSSL cannot load it"),
        (None, "is a folder, not a PEM file"),
        ("missing", "no such file"),
    ],
    ids=["empty", "blank", "text", "bad-pem", "folder", "missing"],
)
@pytest.mark.parametrize("command", [["drill", "--local"], ["verify", "--local"], ["verify", "--stack", "prod"]])
def test_a_ca_bundle_that_is_not_pem_certificates_is_refused(
    tmp_path: Path, content: bytes | str | None, expected: str, command: list[str]
) -> None:
    bundle = tmp_path / "ca.pem"
    if content is None:
        bundle.mkdir()
    elif isinstance(content, bytes):
        bundle.write_bytes(content)
    one_error(invoke(*command, "--ca-bundle", str(bundle)), f"--ca-bundle {bundle}: {expected}")


def test_a_real_ca_bundle_is_accepted_and_a_huge_one_is_not(tmp_path: Path) -> None:
    from bascule.readiness.site import bundle_problem

    pki = SandboxPki.create(tmp_path / "pki", "svc.example.test")
    assert bundle_problem(pki.ca) is None
    huge = tmp_path / "huge.pem"
    with huge.open("wb") as handle:
        handle.truncate(BUNDLE_MAX_BYTES + 1)
    assert (
        bundle_problem(huge) == f"is {BUNDLE_MAX_BYTES + 1} bytes, more than a CA bundle ({BUNDLE_MAX_BYTES} at most)"
    )


# --- every such option is covered --------------------------------------------------------------------------------

INPUT_FILES = {
    ("plan", "--program"), ("plan", "--stack-config"), ("check", "--export"), ("check", "--preview-json"),
    ("check", "--program"), ("check", "--stack-config"), ("check", "--config"), ("check", "--waivers"),
    ("audit", "--export"), ("audit", "--program"), ("audit", "--stack-config"), ("audit", "--readiness"),
    ("audit", "--config"), ("audit", "--backups-status"), ("drill report", "journal"), ("check", "--anchor"),
}  # fmt: skip
"""Files (and program folders) a command only reads, through the one input layer (`bascule.io.documents`,
`load_program_dir`), which already refuses a missing file, a folder or junk with exit 2 naming it; `--anchor` is
only a name SARIF results point at, never opened."""


def _path_and_number_options() -> list[tuple[str, str, Any]]:
    found = []

    def walk(words: list[str], command: Any) -> None:
        for param in command.params:
            annotation = str(param.type_descriptor.annotation)
            if any(kind in annotation for kind in ("Path", "float", "int")) and "bool" not in annotation:
                found.append((" ".join(words), param.opts[0] if param.opts else param.name, param))
        for name, child in getattr(command, "commands", {}).items():
            walk([*words, name], child)

    for name in _COMMANDS:
        walk([name], _load(name))
    return found


def test_every_path_and_number_option_is_checked_as_it_is_parsed() -> None:
    """A new folder, file or duration option gets its check, or is named here as an input read by the input layer."""
    options = _path_and_number_options()
    assert len(options) > 40
    unchecked = [(command, flag) for command, flag, param in options
                 if param.callback is None and (command, flag) not in INPUT_FILES]  # fmt: skip
    assert unchecked == []


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["check", "--export", "{missing}"], "cannot read the stack export"),
        (["check", "--preview-json", "{folder}"], "is a folder, not a preview"),
        (["check", *STACK, "--config", "{missing}"], "cannot read the policy config"),
        (["check", *STACK, "--waivers", "{folder}"], "is a folder, not a waivers file"),
        (["audit", *STACK, "--readiness", "{missing}"], "cannot read the readiness file"),
        (["audit", *STACK, "--backups-status", "{folder}"], "is a folder, not a saved `bascule backup list|verify"),
        (["audit", "--export", "{folder}"], "is a folder, not a stack export"),
        (["drill", "report", "{missing}"], "cannot read the drill journal"),
        (["plan", "--program", "{missing}"], "no Pulumi.yaml: not a Pulumi project"),
    ],
)
def test_input_files_are_refused_by_the_input_layer(tmp_path: Path, words: list[str], expected: str) -> None:
    values = {"{missing}": str(tmp_path / "missing"), "{folder}": str(tmp_path)}
    one_error(invoke(*[values.get(w, w) for w in words]), expected)


# --- also: a report written over its own input ------------------------------------------------------------------


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "state.json"
    path.write_text('{"version": 3, "deployment": {"resources": []}}')
    return path


@pytest.mark.parametrize("option", ["--output", "-o"])
def test_check_output_over_its_input_is_refused_naming_both(tmp_path: Path, option: str) -> None:
    export = _export(tmp_path)
    before = export.read_text()
    one_error(invoke("check", "--export", str(export), option, str(export)),
              f"--output {export} is --export {export}", "overwrite its input")  # fmt: skip
    assert export.read_text() == before


def test_check_output_dir_over_its_input_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "bascule.json"
    export.write_text('{"version": 3, "deployment": {"resources": []}}')
    one_error(invoke("check", "--export", str(export), "--output-dir", str(tmp_path)),
              f"--output-dir {export} is --export {export}")  # fmt: skip


def test_check_output_over_the_config_through_another_path_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text("{}")
    (tmp_path / "sub").mkdir()
    other_name = tmp_path / "sub" / ".." / "policy.json"
    one_error(invoke("check", *STACK, "--config", str(config), "-o", str(other_name)), f"is --config {config}")
    assert config.read_text() == "{}"


def test_audit_output_over_its_input_is_refused(tmp_path: Path) -> None:
    export = _export(tmp_path)
    one_error(invoke("audit", "--export", str(export), "-o", str(export)), f"--output {export} is --export {export}")


# --- also: --resolver and --no-authoritative with --local --------------------------------------------------------


@pytest.mark.parametrize("command", [["drill", "--local"], ["verify", "--local"]])
@pytest.mark.parametrize("flag", [["--resolver", "1.1.1.1"], ["--no-authoritative"]])
def test_resolver_options_with_local_are_refused_not_ignored(
    tmp_path: Path, command: list[str], flag: list[str]
) -> None:
    """The sandbox's zone exists only in its own PowerDNS on loopback: another resolver cannot answer for it, and
    not asking its authoritative server leaves nothing to ask. Refused, saying so, instead of silently ignored."""
    line = one_error(invoke(*command, *flag, "--sandbox-dir", str(tmp_path)), f"{flag[0]}: ")
    assert "--stack" in line and "sandbox" in line


# --- also: the drill marker's error names the stack file that holds it ------------------------------------------


def test_a_bad_drill_marker_names_the_stack_file_given_with_stacks_dir(tmp_path: Path) -> None:
    config = yaml.safe_load((STACKS / "Pulumi.dev.yaml").read_text())
    config["config"]["bascule:drill"] = '{"service": "nope", "fault": "health"}'
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(yaml.safe_dump(config))
    for command in (["plan"], ["check"], ["sandbox", "up", "--sandbox-dir", str(tmp_path / "box")]):
        line = one_error(invoke(*command, "--stack", "x", "--stacks-dir", str(tmp_path)))
        assert line.startswith(f"error: {path}: bascule:drill.service: no service 'nope'"), line
        assert "stacks/Pulumi.x.yaml" not in line


def test_real_exit_codes(tmp_path: Path, a_file: Path) -> None:
    """Through the real entry point, as CI sees them."""
    for args, expected in [
        (["check", *STACK, "-o", str(tmp_path)], f"error: --output {tmp_path}: is a folder, not a file\n"),
        (["drill", "--local", "--window", "1e9"], "error: --window: 1000000000.0 is not a number of minutes from 0 "
                                                  "to 10080 (a week: the period of a weekly schedule)\n"),
        (["drill", "--local", "--lock-dir", str(a_file)], f"error: --lock-dir {a_file}: is a file, not a folder\n"),
    ]:  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "bascule.cli", *args], capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert (proc.returncode, proc.stderr) == (2, expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["check", "-f", "xml", *STACK],
         "error: --format: 'xml' is not one of 'text', 'json', 'sarif', 'junit' (see `bascule check --help`)"),
        (["drill", "--local", "--fault", "explode"],
         "error: --fault: 'explode' is not one of 'health', 'outage', 'switch', 'corruption' "
         "(see `bascule drill --help`)"),
        (["verify", "--local", "--min-cert-days", "abc"],
         "error: --min-cert-days: input should be a valid number, unable to parse string as a number "
         "(see `bascule verify --help`)"),
        (["plan", "--bogus"], "error: No such option: --bogus (see `bascule plan --help`)"),
        (["--bogus"], "error: No such option: --bogus (see `bascule --help`)"),
        (["drill", "history", "--format", "xml"],
         "error: --format: 'xml' is not one of 'text', 'json', 'markdown' (see `bascule drill history --help`)"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_naming_the_flag(args: list[str], expected: str) -> None:
    """docs/cli.md: "a bad one is exit 2 and one line naming the flag"; typer drew a bad flag or value in a six-line
    box (usage, "Try --help", a framed message wrapped at 80 columns). Through the real entry point, where typer
    formats its errors (the test runner's path differs)."""
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", *args], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "COLUMNS": "60"})  # fmt: skip
    as_run = expected.replace("`bascule", "`python -m bascule.cli")  # the hint names the program as it was started
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, as_run + "\n", "")
