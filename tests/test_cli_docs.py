"""What the docs and `--help` say about the commands agrees with what the commands do."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.policies.rules import RULES
from tests.conftest import ROOT
from tests.test_cli_conventions import ALL

runner = CliRunner()
POLICIES_DOC = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")  # moved there from the README
NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
]


def test_the_policies_page_counts_and_lists_the_real_rules() -> None:
    section = POLICIES_DOC.split("## Policies: concentration risk in every pull request", 1)[1]
    counted = re.match(r"\s*(\w+) rules,", section)
    assert counted is not None and counted.group(1).lower() == NUMBERS[len(RULES)]
    table = section.split("\n\n", 3)[2]
    assert sorted(re.findall(r"^\| `(bascule-[a-z-]+)` \|", table, re.MULTILINE)) == sorted(rule.id for rule in RULES)


def test_every_help_that_lists_exit_codes_includes_the_internal_error() -> None:
    helps = {"bascule": app.info.help or "", **{name: command.help or "" for name, command in ALL.items()}}
    listing = {name: text for name, text in helps.items() if re.search(r"\bExit (codes|0)\b", text)}
    assert {"bascule", "check", "drill", "verify", "audit"} <= set(listing)
    assert [name for name, text in listing.items() if "70 internal error" not in text] == []
    assert "interrupted" in helps["drill"]


def test_policy_pack_init_docs_name_every_file_it_writes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy-pack", "init", str(tmp_path / "pack"), "-f", "json"])
    assert result.exit_code == 0, result.output
    written = [Path(f).name for f in json.loads(result.stdout)["files"]]
    (line,) = [line for line in POLICIES_DOC.splitlines() if line.startswith("bascule policy-pack init ")]
    help_text = ALL["policy-pack init"].help or ""
    assert [name for name in written if name not in line or name not in help_text] == []
    entry = (tmp_path / "pack" / "__main__.py").read_text(encoding="utf-8")
    assert "--policy-pack policies/" not in entry  # the pack lives wherever init wrote it


def test_policy_pack_init_into_a_pack_folder_fails_without_a_hint(tmp_path: Path) -> None:
    assert runner.invoke(app, ["policy-pack", "init", str(tmp_path)]).exit_code == 0
    again = runner.invoke(app, ["policy-pack", "init", str(tmp_path)])
    assert again.exit_code == 2
    assert again.stdout == "" and "try:" not in again.stderr


def test_bare_bascule_prints_help_and_exits_with_the_usage_code() -> None:
    """Click's convention (NoArgsIsHelpError is a usage error): 2, never 1, which scripts read as a verdict."""
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert "Exit codes:" in result.stdout + result.stderr
    assert "2 bad input or usage" in (app.info.help or "")


def test_the_commands_users_start_with_show_examples_made_of_real_flags() -> None:
    """`bascule drill --help` had no Examples block (its callback's docstring had one, which typer never shows for a
    group). Each example's flags are the command's own, and a choice's value is one of its choices."""
    for name in ("check", "plan", "verify", "drill", "audit", "watch"):
        command = ALL[name]
        text = command.help or ""
        assert "Examples:" in text, name
        examples = [line.strip() for line in text.split("Examples:", 1)[1].splitlines() if line.strip()]
        assert len(examples) >= 2, (name, examples)
        params = {opt: p for p in command.params for opt in [*p.opts, *p.secondary_opts]}
        for example in examples:
            words = example.split("#", 1)[0].split("|", 1)[0].split()
            if words[:2] != ["bascule", *name.split()][:2] or (len(words) > 2 and not words[2].startswith("-")):
                continue  # another command's line (audit shows the `backup list` that feeds it), or a subcommand
            for flag, value in zip(words[2:], [*words[3:], ""], strict=True):
                if flag.startswith("-"):
                    assert flag in params, (name, example, flag)
                    described = params[flag].type_descriptor
                    choices = [str(getattr(c, "value", c)) for c in described.choices or ()]
                    assert not described.is_choice or value in choices, (name, example, flag, value)


def test_the_install_guides_check_line_names_what_init_writes(tmp_path: Path) -> None:
    """docs/install.md said `--config policy-pack/policy-config.json`, a file `policy-pack init` never writes, and
    left out `--stack-config`, without which a program that reads config fails offline."""
    result = runner.invoke(app, ["policy-pack", "init", str(tmp_path / "pack"), "-f", "json"])
    assert result.exit_code == 0, result.output
    (config,) = [Path(f).name for f in json.loads(result.stdout)["files"] if Path(f).name.startswith("policy-config")]
    install = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    (line,) = [line for line in install.splitlines() if line.startswith("bascule check --program . ")]
    assert f"--config policy-pack/{config}" in line and "--stack-config Pulumi." in line, line
    (preview,) = [line for line in install.splitlines() if line.startswith("pulumi preview --stack ")]
    assert f"--policy-pack-config policy-pack/{config}" in preview, preview
