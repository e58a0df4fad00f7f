"""`bascule plan`: what `pulumi up` would create for a stack, computed offline."""

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
from bascule.inventory.sources import PLAN_COLUMNS, plan_rows, plan_stack
from bascule.offline.types import ProgramError
from bascule.spec import SpecError


def plan(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name: reads <stacks-dir>/Pulumi.<stack>.yaml.")],
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    stacks_dir: StacksDir = Path("stacks"),
    as_json: JsonAlias = False,
) -> None:
    """Show, per service, every resource `pulumi up` would create, with its cloud, region and role.

    Runs the stack's program in-process against Pulumi mocks: no Pulumi CLI, credentials or network.
    Cloud-computed values (load balancer names, zone ids) are placeholders; types, arguments,
    providers and regions are the real ones.

    Examples:
      bascule plan --stack dev
      bascule plan --stack dev --format json | jq '.[] | select(.role=="secondary")'
    """
    try:
        inventory = plan_stack(stack, stacks_dir, warn, running_offline)
    except SpecError as exc:
        fail(exc.lines)
    except ProgramError as exc:
        fail([f"stack '{stack}': the program failed: {exc}"])
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
    out.print(f"{len(custom)} resources in stack '{stack}'.")
