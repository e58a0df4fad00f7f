"""`bascule`: plan stacks offline, run failover drills, manage the local sandbox."""

from __future__ import annotations

import typer

from bascule import __version__
from bascule.cli import audit, check, drill, plan, policy_pack, sandbox, verify

app = typer.Typer(
    name="bascule",
    help=(
        "Plan B as code. Describe each service once (primary on AWS, warm EU secondary, DNS failover) "
        "in stacks/Pulumi.<stack>.yaml; `pulumi up` builds it, `bascule plan` shows it offline, "
        "`bascule verify` checks the standby could serve right now, "
        "`bascule drill` proves the failover works and measures how long it takes."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("plan")(plan.plan)
app.command("check")(check.check_command)
app.command("verify")(verify.verify)
app.command("audit")(audit.audit_command)
app.add_typer(drill.app, name="drill")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(policy_pack.app, name="policy-pack")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        typer.echo(f"bascule {__version__}")
        raise typer.Exit()


def main() -> None:
    app()
