"""`bascule audit`: the continuity map of critical workloads, their single points of failure, the DORA register."""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bascule.audit.dora import UNFILLED, write_register
from bascule.audit.workloads import (
    AuditError,
    AuditInput,
    audit,
    read_backups_status,
    read_history,
    read_readiness,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from bascule.cli.common import (
    EXIT_FAILED,
    Program,
    Quiet,
    StackConfig,
    StacksDir,
    emit,
    fail,
    format_option,
    input_folder,
    not_an_input,
    note,
    output_file,
    output_folder,
    running_offline,
    say,
    stack_file_or_fail,
    warn,
    writing,
)
from bascule.inventory.readers import InputError
from bascule.inventory.sources import load_inventory
from bascule.offline.engine import ProgramError
from bascule.policies.config import ConfigError, load_pack_config
from bascule.policies.rules import RULES_BY_ID
from bascule.spec import SpecError


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


class FailOn(StrEnum):
    NEVER = "never"
    SPOF = "spof"


def audit_command(
    stack: Annotated[
        list[str] | None, typer.Option("--stack", help="This repo's stacks/Pulumi.<NAME>.yaml; repeatable.")
    ] = None,
    export: Annotated[list[Path] | None, typer.Option("--export", help="A `pulumi stack export` file; repeatable.")] = (
        None
    ),
    program: Program = None,
    stack_config: StackConfig = None,
    history_dir: Annotated[
        Path | None,
        typer.Option(
            "--history",
            callback=input_folder("--history"),
            help="Folder of history.jsonl (`bascule drill --history DIR`).",
        ),
    ] = None,
    readiness: Annotated[
        Path | None, typer.Option("--readiness", help="Saved `bascule verify --format json` output.")
    ] = None,
    backups_status: Annotated[
        list[Path] | None,
        typer.Option(
            "--backups-status",
            help="Saved `bascule backup list|verify --stack S --service X --format json` output: the age of the "
            "newest backups (the audit never reads the store); repeatable, one per stack and service.",
        ),
    ] = None,
    output_format: Annotated[Format, format_option("text, json, markdown or html")] = Format.TEXT,
    quiet: Quiet = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", callback=output_file("--output"), help="Write the report here, not to stdout."),
    ] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="spof: exit 1 when a critical workload has one.")] = (
        FailOn.NEVER
    ),
    dora_register: Annotated[
        Path | None,
        typer.Option(
            "--dora-register",
            callback=output_folder("--dora-register"),
            help="Also write the DORA register CSVs into this folder.",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Policy config JSON: which tags and values mean critical.")
    ] = None,
    stacks_dir: StacksDir = Path("stacks"),
) -> None:
    """Audit continuity: per critical workload its sites, legal homes, single points of failure, RTO/RPO
    target vs budget vs last drill, readiness, where its backups live, their age and the last restore drill; then
    concentration per provider, region, country, jurisdiction.

    Reads inventories, drill history, a saved readiness file and saved backup listings; never probes the network
    nor reads a backup store (what was not given is said: "not read: pass ...").
    Exit codes: 0 done, 1 with --fail-on spof when a critical workload has a single point of failure, 2 bad input,
    70 internal error (a bug in Bascule).

    Examples:
      bascule audit --stack prod --stack sovereign --format json
      bascule audit --stack prod --history drills/ --readiness verify.json --format html -o audit.html
      bascule audit --stack prod --dora-register register/
      bascule backup list --stack prod --service checkout -f json > backups.json
      bascule audit --stack prod --history drills/ --backups-status backups.json
    """
    given = [("--export", path) for path in export or []]
    given += [("--backups-status", path) for path in backups_status or []]
    not_an_input("--output", output, [*given, ("--readiness", readiness), ("--config", config),
                                      ("--stack-config", stack_config)])  # fmt: skip
    for name in stack or []:
        stack_file_or_fail("bascule audit", name, stacks_dir)
    try:
        # What makes a workload critical (workloadTag, criticalityTag, criticalValues) is read from the config's
        # `bascule-single-region` entry: the rule whose question ("is a critical workload concentrated?") the
        # audit widens, so one config gives the check and the audit the same critical set.
        settings = load_pack_config(config, set(RULES_BY_ID)).for_rule("bascule-single-region")
        load = functools.partial(load_inventory, stacks_dir=stacks_dir, warn=warn, running=running_offline)
        inputs = [AuditInput(name, load(stack=name)[0]) for name in stack or []]
        # An export or a program is named by its stack, as the URNs give it: drill history and readiness are
        # matched by stack name, so the file's or folder's name (`--program .` has none) would never match.
        exported = [load(export=path)[0] for path in export or []]
        inputs += [AuditInput(inv.stack or path.stem, inv) for path, inv in zip(export or [], exported, strict=True)]
        if program is not None:
            planned = load(program=program, stack_config=stack_config)[0]
            inputs.append(AuditInput(planned.stack or program.resolve().name, planned))
        if not inputs:
            fail(["give at least one input: --stack NAME, --export FILE or --program DIR"])
        result = audit(inputs, settings, read_history(history_dir), read_readiness(readiness),
                       read_backups_status(backups_status))  # fmt: skip
    except (InputError, ConfigError, AuditError) as exc:
        fail([str(exc)])
    except SpecError as exc:
        fail(exc.lines)
    except ProgramError as exc:
        fail([f"the program failed offline: {exc}"])
    rendered = {
        Format.TEXT: render_text,
        Format.JSON: render_json,
        Format.MARKDOWN: render_markdown,
        Format.HTML: render_html,
    }[output_format](result)
    if output is not None:
        with writing("--output", output):
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(rendered + "\n", encoding="utf-8")
        say(f"audit written to {output}")
    else:
        emit(rendered)
    if dora_register is not None:
        with writing("--dora-register", dora_register):
            written = write_register(dora_register, result)
        say(f"DORA register: {', '.join(str(p) for p in written)}")
        unfilled = "; ".join(f"{template} {code} {label}" for template, code, label in UNFILLED)
        note(f"left empty in the register (Bascule cannot know them): {unfilled}")
    if fail_on is FailOn.SPOF and result.has_spof:
        raise typer.Exit(EXIT_FAILED)
