"""`bascule check`: the concentration-risk policies, offline, for pull requests without cloud credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bascule.check.verdicts import (
    REPORT_FILES,
    Format,
    anchor_for,
    check,
    exit_code,
    render,
    render_text,
    write_reports,
)
from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    Program,
    Quiet,
    StackConfig,
    StacksDir,
    emit,
    emit_json,
    err,
    fail,
    format_option,
    mode,
    not_an_input,
    note,
    out,
    output_file,
    output_folder,
    running_offline,
    stack_file_or_fail,
    warn,
    writing,
)
from bascule.inventory.readers import InputError
from bascule.inventory.sources import load_inventory, read_stack_references
from bascule.offline.types import ProgramError, Semantics
from bascule.policies.config import ConfigError, load_pack_config
from bascule.policies.rules import RULES, RULES_BY_ID, workloads
from bascule.policies.waivers import WaiverError, configured_waivers, load_waivers
from bascule.spec import SpecError


def check_command(
    export: Annotated[Path | None, typer.Option("--export", help="A `pulumi stack export` file.")] = None,
    preview_json: Annotated[
        Path | None, typer.Option("--preview-json", help="Output of `pulumi preview --json`.")
    ] = None,
    stack: Annotated[
        str | None, typer.Option("--stack", help="This repo's program with stacks/Pulumi.<NAME>.yaml.")
    ] = (None),
    program: Program = None,
    stack_config: StackConfig = None,
    output_format: Annotated[Format, format_option("text, json, sarif or junit")] = Format.TEXT,
    quiet: Quiet = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Policy config JSON, the same file as `pulumi preview --policy-pack-config`."),
    ] = None,
    waivers: Annotated[
        Path | None, typer.Option("--waivers", help="YAML: waivers: [{rule, urn|workload, reason, owner, expires}].")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", callback=output_file("--output"), help="Write the report here, not to stdout."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            callback=output_folder("--output-dir"),
            help="Also write every format from this one run: bascule.txt, .json, .sarif, .junit.xml in this folder.",
        ),
    ] = None,
    anchor: Annotated[
        Path | None, typer.Option("--anchor", help="File SARIF results point at (default: the input's file).")
    ] = None,
    stacks_dir: StacksDir = Path("stacks"),
    semantics: Annotated[
        Semantics,
        typer.Option("--semantics", help="With --program: up (typed stand-ins), preview (unknowns) or auto."),
    ] = Semantics.AUTO,
    require_workloads: Annotated[
        bool, typer.Option("--require-workloads", help="Exit 1 when no critical workload is found.")
    ] = False,
    stack_reference: Annotated[
        list[str] | None,
        typer.Option("--stack-reference", help="With --program: NAME=FILE, FILE from `pulumi stack output --json`."),
    ] = None,
) -> None:
    """Check a stack for concentration risk: the same rules and verdicts as the CrossGuard pack in policies/.

    Exit codes: 0 no mandatory violation, 1 at least one mandatory violation not waived, 2 bad input,
    70 internal error (a bug in Bascule).

    Examples:
      bascule check --stack prod --format sarif -o bascule.sarif
      bascule check --export state.json --config policies/policy-config.example.json --waivers waivers.yaml
      bascule check --program ../team-repo --stack-config ../team-repo/Pulumi.prod.yaml
      bascule check --program . --output-dir reports   # text on stdout; every format in reports/, one run
    """
    if sum(value is not None for value in (export, preview_json, stack, program)) != 1:
        fail(["give exactly one input: --export FILE, --preview-json FILE, --stack NAME or --program DIR"])
    inputs = [("--export", export), ("--preview-json", preview_json), ("--stack-config", stack_config),
              ("--config", config), ("--waivers", waivers)]  # fmt: skip
    not_an_input("--output", output, inputs)
    if output_dir is not None:
        for name in REPORT_FILES.values():
            not_an_input("--output-dir", output_dir / name, inputs)
    if stack is not None:
        stack_file_or_fail("bascule check", stack, stacks_dir)
    try:
        pack_config = load_pack_config(config, set(RULES_BY_ID))
        waiver_list = load_waivers(waivers)
        rule_waivers = configured_waivers(pack_config)
        references = read_stack_references(stack_reference or [])
        inventory, source = load_inventory(
            export=export, preview_json=preview_json, stack=stack, program=program, stack_config=stack_config,
            stacks_dir=stacks_dir, semantics=semantics, references=references, warn=warn, running=running_offline,
        )  # fmt: skip
    except (InputError, ConfigError, WaiverError) as exc:
        fail([str(exc)])
    except SpecError as exc:
        fail(exc.lines)
    except ProgramError as exc:
        if output_format is Format.JSON:  # CI reads the failure as data, not only as a log line
            emit_json({"error": exc.as_json(), "summary": {"exit_code": EXIT_BAD_INPUT}})
        fail([f"{program.resolve() if program else stack}: the program failed offline: {exc}"])
    results = check(inventory, pack_config, waiver_list, by_rule=rule_waivers)
    settings = pack_config.for_rule(RULES[0].id)
    critical = [w for w in workloads(inventory, settings).values() if w.critical]
    if not critical:
        note(
            f"0 critical workloads found: tag resources with {settings.workload_tag}=<name> and "
            f"{settings.criticality_tag}={settings.critical_values[0]} (or use Bascule's components) so the rules "
            "have something to check"
        )
    for r in results:
        if r.expired:
            warn(
                f"waiver of {r.finding.rule} for {r.expired.workload or r.expired.urn} by {r.expired.owner} "
                f"expired on {r.expired.expires}"
            )
    count = sum(1 for r in inventory.resources if r.custom)
    points_at = anchor_for(anchor or source, inventory=None if anchor else inventory)
    if output_dir is not None:
        with writing("--output-dir", output_dir):
            write_reports(output_dir, results, count, points_at)
    rendered = render(output_format, results, count, points_at)
    if output is not None:
        with writing("--output", output):
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(rendered + "\n", encoding="utf-8")
        # The verdict line, kept with --quiet; on stderr when the format is for programs, like all but the result.
        (err if mode().machine else out).print(render_text(results, count).splitlines()[-1], highlight=False)
    else:
        emit(rendered)
    raise typer.Exit(EXIT_FAILED if require_workloads and not critical else exit_code(results))
