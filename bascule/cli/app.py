"""`bascule`: plan stacks offline, run failover drills, manage the local sandbox.

Commands load their module when they run, not when `bascule` starts: `bascule --help` and `--version`
import no command, and `bascule check --export` never loads the drill machinery or Pulumi.
"""

from __future__ import annotations

import gc
import importlib
import io
import os
import sys
import traceback
from typing import Any, NoReturn

import typer
import typer._click as click  # typer vendors click: TyperGroup's methods take and return these classes
from typer._click.exceptions import BadParameter, MissingParameter, NoArgsIsHelpError, UsageError
from typer._click.utils import PacifyFlushWrapper
from typer.core import TyperCommand, TyperGroup, TyperOption

from bascule import __version__

_COMMANDS: dict[str, tuple[str, str, str]] = {
    "plan": ("bascule.cli.plan", "plan", "Show every resource `pulumi up` would create, per service, offline."),
    "check": ("bascule.cli.check", "check_command", "Check a stack for concentration risk, like the CrossGuard pack."),
    "drill": ("bascule.cli.drill", "app", "Failover drills against the local sandbox or a deployed stack."),
    "verify": (
        "bascule.cli.verify",
        "verify",
        "Is the standby ready right now? TLS, certificate, health, DNS; no fault.",
    ),
    "watch": (
        "bascule.cli.watch",
        "watch",
        "Watch what clients see, once or continuously: notify each change, status page, metrics, incidents.",
    ),
    "incident": ("bascule.cli.incident", "app", "Incidents a failover opened: show, classify (DORA clocks), close."),
    "audit": ("bascule.cli.audit", "audit_command", "Continuity audit: critical workloads, single points of failure."),
    "data": ("bascule.cli.data", "app", "The data standby: status, promote, failback (the sandbox's or a stack's)."),
    "status": ("bascule.cli.status", "app", "The status page away from the primary's cloud: publish."),
    "backup": ("bascule.cli.backup", "app", "Backups at another provider: take, list, verify, restore."),
    "sandbox": ("bascule.cli.sandbox", "app", "The local sandbox: PowerDNS with LUA failover and two loopback sites."),
    "policy-pack": ("bascule.cli.policy_pack", "app", "The CrossGuard policy pack for any project (init)."),
}
"""Command -> (module, the function or Typer app in it, the one line `bascule --help` lists)."""


class _LazyGroup(TyperGroup):
    """Lists commands from `_COMMANDS` and imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in _COMMANDS:
            return None
        # Listing for --help: a stand-in carrying the one-line help, so nothing is imported.
        return TyperCommand(cmd_name, help=_COMMANDS[cmd_name][2], short_help=_COMMANDS[cmd_name][2])

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return plain_metavars(super().get_params(ctx))  # `bascule`'s own: its --help and --version

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in _COMMANDS and args[0] not in self.commands:
            self.commands[args[0]] = _load(args[0])
        return super().resolve_command(ctx, args)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        """`bascule`'s own options parsed (`bascule --bogus`): a usage error is one line, as in `invoke`."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            _usage_error(exc)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's and rich's own EPIPE handling (`--help`, `--version`, help of a subcommand into a closed pipe)
        exits 1: that becomes the quiet 0 too. Each marks a broken pipe its way: click wraps `sys.stdout` in a
        `PacifyFlushWrapper`, rich points file descriptor 1 at /dev/null; a verdict's exit 1 does neither."""
        before = _stdout_identity()
        for stream in (sys.stdout, sys.stderr):  # an unpaired surrogate from a program or a file is written as `\udXXX`
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="backslashreplace")
        try:
            return super().main(*args, **kwargs)
        except SystemExit as exc:
            broken = isinstance(sys.stdout, PacifyFlushWrapper) or _stdout_identity() != before
            if exc.code not in (0, None) and broken:
                _reader_gone()
                raise SystemExit(0) from None
            raise

    def invoke(self, ctx: click.Context) -> Any:
        """Every command runs inside this: an unexpected exception becomes exit 70 and one line, never exit 1.

        CI reads 1 as "policy violation" or "drill failed" and 2 as bad input; a crash must be neither, and an
        unusable file (`InputError`, raised by the one input layer) is always 2, however deep it was read. Whatever a
        drill had journalled stays, and the journal of the drill that crashed gets an `internal-error` event (with
        the traceback, redacted like every other event) so its report says what happened.
        """
        from bascule.io.documents import InputError  # here, not at start: `--help` and `--version` never get here

        try:
            return super().invoke(ctx)
        except UsageError as exc:  # a command's or subcommand's options parsed: a bad flag or value
            _usage_error(exc)
        except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors, exits, Ctrl-C: the CLI's own
            raise
        except BrokenPipeError:  # `bascule plan -f json | head -c 1`: the reader has what it wanted
            _reader_gone()
            raise typer.Exit(0) from None
        except InputError as exc:  # a file the user handed (or left) is unusable, wherever it was read: exit 2
            from bascule.cli.common import fail

            fail([str(exc)])
        except ModuleNotFoundError as exc:  # an optional library this command needs: name the extra that installs it
            _missing_extra(exc)
            raise
        except Exception as exc:  # the last line of defence, by design
            from bascule.cli.common import EXIT_INTERNAL, err, styled
            from bascule.drills.journal import record_internal_error

            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f" at {frame.filename}:{frame.lineno}" if frame else ""
            journals = record_internal_error(exc)
            detail = f"; recorded in {', '.join(map(str, journals))}" if journals else ""
            message = " ".join(f"{type(exc).__name__}: {exc}".split())
            err.print(
                styled("internal error:", "red", f"{message}{where} (a bug in Bascule, exit {EXIT_INTERNAL}){detail}"),
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None


def _usage_error(exc: UsageError) -> NoReturn:
    """A usage error (unknown flag, bad value, missing option) as one `error:` line naming the flag, exit 2.

    typer draws these in a six-line box (usage, "Try --help", a framed message wrapped at 80 columns): a CI log
    then holds a box of which no line says the whole error, and docs/cli.md promises one line, like every other
    error of this CLI. `bascule` or a group alone still prints its help (`NoArgsIsHelpError`).
    """
    if isinstance(exc, NoArgsIsHelpError):
        raise exc
    from bascule.cli.common import EXIT_BAD_INPUT, err, styled

    if isinstance(exc, BadParameter) and not isinstance(exc, MissingParameter) and exc.param is not None:
        flags = exc.param.opts
        flag = next((f for f in flags if f.startswith("--")), flags[0] if flags else exc.param.name)
        # typer checks values with pydantic, whose message starts with its error kind ("Value error, ") or a
        # capital ("Input should be a valid number"): after the flag, the reason in this CLI's lower case.
        reason = exc.message.removeprefix("Value error, ")
        reason = reason[:1].lower() + reason[1:] if reason[1:2].islower() else reason
        text = f"{flag}: {reason}"
    else:
        text = exc.format_message()
    where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    err.print(styled("error:", "red", text.rstrip(".") + where), soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _stdout_identity() -> tuple[int, int] | None:
    """Which file stdout's descriptor is (device, inode), or None where it has none (a test runner's buffer)."""
    try:
        found = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    return found.st_dev, found.st_ino


def _reader_gone() -> None:
    """Stdout's reader closed the pipe (`| head`): end quietly with exit 0, as `cat` and `grep` do.

    Python ignores SIGPIPE, so the next write raises BrokenPipeError, which would otherwise be an internal error
    (exit 70); and what is still buffered would fail again when the interpreter flushes stdout at exit, so stdout
    is pointed at /dev/null first. Handled once here and in `main`, for every command.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # no descriptor (a test runner's buffer)
        pass
    finally:
        os.close(devnull)


_EXTRAS = {"apprise": "watch", "prometheus_client": "watch", "boto3": "backup", "pyrage": "backup",
           "moto": "backup-sandbox"}  # fmt: skip
"""Optional libraries a command imports -> the pip extra of pyproject.toml that installs them."""


def _missing_extra(exc: ModuleNotFoundError) -> None:
    """Exit 2 naming the extra to install when `exc` is one of `_EXTRAS`' libraries; return otherwise."""
    root = (exc.name or "").partition(".")[0]
    if root in _EXTRAS:
        from bascule.cli.common import fail

        fail([f"{root} is not installed: pip install 'bascule[{_EXTRAS[root]}]'"])


def _load(name: str) -> click.Command:
    module, attribute, _ = _COMMANDS[name]
    try:
        target: Any = getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        _missing_extra(exc)
        raise
    # Registered on a parent as `app.command`/`app.add_typer` would, so a one-command group stays a group.
    parent = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    if isinstance(target, typer.Typer):
        parent.add_typer(target, name=name)
    else:
        parent.command(name)(target)
    parent.callback()(_no_options)
    group = typer.main.get_command(parent)
    assert isinstance(group, TyperGroup)
    command = group.commands[name]
    _plain_metavars_everywhere(command)
    return command


_PLAIN_TYPES = {"str": "text", "float": "number", "float range": "number", "int": "integer",
                "int range": "integer", "Path": "path"}  # fmt: skip
"""The Python type typer would show for an option's value -> the word `--help` shows instead."""


def plain_metavars(params: list[click.Parameter]) -> list[click.Parameter]:
    """Options described for people in `--help`: a flag shows no value, a value shows a plain word (`<text>`).

    typer describes a value by its Python annotation (`--resolver <list[str]>`, `--local <bool>`, `<str>`), which
    says nothing to someone running a command. An option that names its own metavar, and every choice (`<text|json>`),
    is left as it is; a repeatable option shows its element (its help says "repeatable"). Applied once per command
    tree, here, so a new option cannot bring the Python types back.
    """
    for param in params:
        if not isinstance(param, TyperOption) or param.metavar is not None or param.type_descriptor.is_choice:
            continue
        if param.is_flag:
            param.metavar = ""
            continue
        label = param.display_type(None)[1:-1]  # type: ignore[arg-type]  # no choice: typer reads no context
        while label.startswith("list[") and label.endswith("]"):
            label = label[len("list[") : -1]
        param.metavar = f"<{_PLAIN_TYPES.get(label, label)}>"
    return params


def _plain_metavars_everywhere(command: click.Command) -> None:
    help_option = command.get_help_option(click.Context(command))  # made once per command, on first use
    plain_metavars([*command.params, *([help_option] if help_option else [])])
    for child in getattr(command, "commands", {}).values():
        _plain_metavars_everywhere(child)


def _no_options() -> None:
    """A callback keeps the parent a group, whose command `name` is then the one registered."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bascule {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="bascule",
    cls=_LazyGroup,
    help=(
        "Plan B as code. Describe each service once (primary on AWS, warm EU secondary, DNS failover) "
        "in stacks/Pulumi.<stack>.yaml; `pulumi up` builds it, `bascule plan` shows it offline, "
        "`bascule verify` checks the standby could serve right now, "
        "`bascule drill` proves the failover works and measures how long it takes. Exit codes: 0 ok, "
        "1 failed (violation, drill failed), 2 bad input or usage (as `bascule` alone, which prints this help), "
        "3 refused, 70 internal error (a bug)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_version
    ),
) -> None:
    """Options shared by every command (typer needs a callback to make `bascule` a group)."""


def main() -> None:
    try:
        try:
            app()
        finally:
            sys.stdout.flush()  # here, so a reader that left (`| head`) is seen while the handler below still runs
    except BrokenPipeError:
        _reader_gone()
        raise SystemExit(0) from None
    finally:
        # Interpreter teardown runs full collector passes while it empties the modules: after a stack run the
        # heap holds the cloud SDKs' hundreds of thousands of classes, and those passes took 2-3 s of a 10 s
        # `check --stack` (benchmarks/plan_stack.py). Frozen objects are skipped by every pass; what is still
        # alive is released with the process, and `atexit` handlers and `weakref.finalize` callbacks still run.
        gc.freeze()
