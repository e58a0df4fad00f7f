"""`bascule plan`: what `pulumi up` would create for a stack or any Python program, computed offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bascule.cli.common import (
    FormatTextJson,
    JsonAlias,
    Quiet,
    StacksDir,
    TextOrJson,
    chosen_format,
    emit_json,
    fail,
    out,
    running_offline,
    warn,
)
from bascule.inventory.sources import PLAN_COLUMNS, plan_program, plan_rows, plan_stack
from bascule.offline.types import ProgramError
from bascule.spec import SpecError


def plan(
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Stack name: reads <stacks-dir>/Pulumi.<stack>.yaml.")
    ] = None,
    program: Annotated[
        Path | None, typer.Option("--program", help="Any Pulumi Python project folder, run offline.")
    ] = None,
    stack_config: Annotated[
        Path | None, typer.Option("--stack-config", help="With --program: its Pulumi.<stack>.yaml.")
    ] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    stacks_dir: StacksDir = Path("stacks"),
    as_json: JsonAlias = False,
) -> None:
    """Show, per service, every resource `pulumi up` would create, with its cloud, region and role.

    Runs the stack's program (this repository's, or any Python program with --program) in-process against Pulumi
    mocks: no Pulumi CLI, credentials or network. Cloud-computed values (load balancer names, zone ids) are
    placeholders; types, arguments, providers and regions are the real ones.

    Examples:
      bascule plan --stack dev
      bascule plan --stack dev --format json | jq '.[] | select(.role=="secondary")'
      bascule plan --program ../team-repo --stack-config ../team-repo/Pulumi.prod.yaml
    """
    if (stack is None) == (program is None):
        fail(["give exactly one input: --stack NAME or --program DIR"])
    if stack_config is not None and program is None:
        fail(["--stack-config goes with --program (a --stack reads <stacks-dir>/Pulumi.<stack>.yaml)"])
    try:
        if program is not None:
            inventory = plan_program(program, stack_config, warn=warn, running=running_offline)
        else:
            inventory = plan_stack(stack or "", stacks_dir, warn, running_offline)
    except SpecError as exc:
        fail(exc.lines)
    except ProgramError as exc:
        fail([f"{program or f'stack {stack!r}'}: the program failed offline: {exc}"])
    custom = [r for r in inventory.resources if r.custom]
    if chosen_format(output_format, as_json) is TextOrJson.JSON:
        emit_json([r.as_json() for r in custom])
        return
    for service, rows in plan_rows(inventory).items():
        table = Table(title=f"service {service}", title_justify="left", show_lines=False)
        for column in PLAN_COLUMNS:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        out.print(table)
    unassigned = [r for r in custom if r.service is None]
    if unassigned:
        out.print(f"{len(unassigned)} resources belong to no service: " + ", ".join(r.name for r in unassigned))
    out.print(f"{len(custom)} resources in {f'stack {stack!r}' if stack else str(program)}.")
