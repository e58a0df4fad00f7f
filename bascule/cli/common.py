"""What every command shares: the output channels, the error channel and the exit codes users script against.

Output conventions, defined here once and used by every command:
- `--format/-f` (text, json, ... per command) picks the result's form; the result goes to stdout alone.
- Prose (progress, notes, hints, "reports: ...") goes to stdout beside a text result, to stderr when the format is
  machine-readable (anything but text), and nowhere with `--quiet/-q`. Errors and warnings always go to stderr.
- Spinners and live status lines are drawn on stderr only when it is a terminal and the command is not quiet, so a
  CI log gets plain lines and nothing else.
- Hints naming a follow-up `bascule ...` command repeat the folders the user chose (`--sandbox-dir`, `--lock-dir`,
  `--stacks-dir`), so the command they copy acts on the same sandbox, locks and stacks.

Both consoles have rich markup and highlighting switched off: what they print is mostly untrusted (spec
values, `pulumi up` output, error messages, file names), and a `[/x]` in it would crash the command (rich's
MarkupError) or eat text such as `[secret]`. Colour is added only through `styled`, on text Bascule wrote.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text
from typer._click.core import ParameterSource  # typer vendors click: its Context carries the per-run output mode
from typer._click.globals import get_current_context

from bascule.io.escaping import bounded, one_line, terminal
from bascule.io.files import unwritable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_INTERNAL = 70
"""An unexpected error inside Bascule (a bug), never a verdict: sysexits.h's EX_SOFTWARE, outside 0-3."""


class _TerminalConsole(Console):
    """A console that prints every string as terminal-safe text (`bascule.io.escaping.terminal`): an ANSI or OSC
    escape in a tag, a waiver reason or an error message is shown as `\x1b[...`, never acted on. Strings become
    text here whether printed alone or as a table cell; colour comes only from `styled`, on text Bascule wrote."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(terminal(text), **options)


# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
out = _TerminalConsole(width=None if sys.stdout.isatty() else 160, markup=False, highlight=False)
err = _TerminalConsole(stderr=True, width=None if sys.stderr.isatty() else 160, markup=False, highlight=False)


def styled(label: str, style: str, text: str = "") -> Text:
    """`label` in `style`, then `text` verbatim (never parsed as markup) on one line of bounded length: every
    error, warning and note goes through here."""
    return Text.assemble((label, style), (" " + bounded(one_line(text))) if text else "")


def fail(lines: Iterable[str], code: int = EXIT_BAD_INPUT) -> NoReturn:
    for line in lines:
        err.print(styled("error:", "red", with_dirs(line)), soft_wrap=True)
    raise typer.Exit(code)


# --- option values, checked once as they are parsed -----------------------------------------------------------
# Every folder or file a command writes, every duration and the CA bundle are checked by the option itself (a
# typer callback), so a bad value is exit 2 and one line naming the flag before any work starts: never an internal
# error from deep inside, never a drill that runs and then cannot write its report or leaks its lock.

PathCheck = Callable[[Path | None], Path | None]


def output_folder(flag: str) -> PathCheck:
    """A folder the command writes into: existing or creatable, writable, not a file."""
    return _writable(flag, folder=True)


def output_file(flag: str) -> PathCheck:
    """A file the command writes: its folder existing or creatable and writable, the path not a folder."""
    return _writable(flag, folder=False)


def _writable(flag: str, *, folder: bool) -> PathCheck:
    def check(value: Path | None) -> Path | None:
        if value is not None:
            writable_or_fail(flag, value, folder=folder)
        return value

    return check


def input_folder(flag: str) -> PathCheck:
    """A folder the command reads: a file in its place is refused (it would read as an empty folder)."""

    def check(value: Path | None) -> Path | None:
        if value is not None and value.exists() and not value.is_dir():
            fail([f"{flag} {value}: is a file, not a folder"])
        return value

    return check


def no_resolvers_for_the_sandbox(resolvers: list[str] | None, no_authoritative: bool) -> None:
    """`--resolver` and `--no-authoritative` with `--local`: refused, not ignored. The sandbox's zone lives only in
    its own PowerDNS on loopback, asked through its authoritative server and its own recursor: a resolver outside
    cannot answer for it, and without its authoritative server nothing is left to ask."""
    for flag, given in (("--resolver", bool(resolvers)), ("--no-authoritative", no_authoritative)):
        if given:
            fail([f"{flag}: the sandbox is asked through its own PowerDNS and recursor on loopback, which no other "
                  "resolver can see; this option is for a deployed stack (--stack)"])  # fmt: skip


def writable_or_fail(flag: str, path: Path, *, folder: bool) -> None:
    """Exit 2 naming `flag` unless `path` can be written (see `bascule.io.files.unwritable`); for values the
    command computes (a default report folder) as well as for the option's own check."""
    problem = unwritable(path, folder=folder)
    if problem is not None:
        fail([f"{flag} {path}: {problem}"])


def not_an_input(flag: str, path: Path | None, inputs: Iterable[tuple[str, Path | None]]) -> None:
    """Exit 2 when the file `flag` writes is one of the command's `inputs` (flag, file): writing the report over
    the export or the config it was made from destroys the input."""
    if path is None:
        return
    for name, given in inputs:
        if given is not None and _same_file(path, given):
            fail([f"{flag} {path} is {name} {given}: writing the report there would overwrite its input"])


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.exists() and other.exists() and one.samefile(other)
    except OSError:
        return one.absolute() == other.absolute()


@contextmanager
def writing(flag: str, path: Path) -> Iterator[None]:
    """What still fails while the file is written (the disk fills up, the folder went away since it was checked):
    exit 2 naming `flag`, not an internal error."""
    try:
        yield
    except OSError as exc:
        fail([f"{flag} {path}: cannot be written: {exc.strerror or exc}"])


@dataclass(frozen=True)
class Duration:
    """A number of `unit`s from `minimum` (excluded when `above`) to `maximum`; `bound` says where the maximum
    comes from, so the error names the limit and its reason. nan and infinities are never durations."""

    unit: str
    maximum: float
    bound: str
    minimum: float = 0.0
    above: bool = False

    def check(self, flag: str) -> Callable[[float | None], float | None]:
        """The callback of option `flag`."""

        def callback(value: float | None) -> float | None:
            if value is not None and not self.holds(value):
                fail([f"{flag}: {value} is not {self.describe()}"])
            return value

        return callback

    def holds(self, value: float) -> bool:
        low = value > self.minimum if self.above else value >= self.minimum
        return math.isfinite(value) and low and value <= self.maximum

    def describe(self) -> str:
        low = f"greater than {self.minimum:g} and at most" if self.above else f"from {self.minimum:g} to"
        return f"a number of {self.unit} {low} {self.maximum:g} ({self.bound})"


def ca_bundle_checked(value: Path | None) -> Path | None:
    """`--ca-bundle`: a PEM file of CA certificates that OpenSSL loads, checked with the same loader the probes
    use; an empty file, a folder or a file without a certificate would otherwise fail every TLS check later."""
    if value is not None:
        from bascule.readiness.site import bundle_problem  # ssl and cryptography: only when a bundle is given

        problem = bundle_problem(value)
        if problem is not None:
            fail([f"--ca-bundle {value}: {problem}"])
    return value


def notify_checked(values: list[str] | None) -> list[str] | None:
    """`--notify`: each URL one apprise accepts, checked as the option is parsed; the error never repeats a secret
    the URL carries (`bascule.watch.notify.target`)."""
    if values:
        from bascule.watch.notify import TargetError, target  # apprise: only when a target is given

        for value in values:
            try:
                target(value)
            except TargetError as exc:
                fail([str(exc)])
    return values


# --- output mode: --format and --quiet ----------------------------------------------------------------------


class TextOrJson(StrEnum):
    """The formats of a command whose result is either for people or for scripts."""

    TEXT = "text"
    JSON = "json"


@dataclass
class OutputMode:
    machine: bool = False
    """The result is for a program (json, sarif, junit, markdown, html): stdout carries it and nothing else."""
    quiet: bool = False


_MODE_KEY = "bascule.output"


def mode() -> OutputMode:
    """This invocation's mode, kept in click's context (shared by a command and its group): fresh for every run,
    also when tests invoke the CLI many times in one process. Outside a command (library use) the default."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return OutputMode()
    found = ctx.meta.setdefault(_MODE_KEY, OutputMode())
    assert isinstance(found, OutputMode)
    return found


def _set_format(value: Any) -> Any:
    if str(getattr(value, "value", value)) != TextOrJson.TEXT:
        mode().machine = True  # only ever set: a group's option and its command's both count
    return value


def _set_quiet(value: bool) -> bool:
    if value:
        mode().quiet = True
    return value


def _deprecated_json(value: bool) -> bool:
    if value:
        err.print(styled("deprecated:", "yellow", "--json will be removed; use --format json (same output)"))
        mode().machine = True
    return value


def format_option(formats: str) -> Any:
    """`--format/-f`, the one output flag of every command; `formats` lists its choices for --help."""
    return typer.Option("--format", "-f", callback=_set_format, help=f"{formats}; the result alone goes to stdout.")


FormatTextJson = Annotated[TextOrJson, format_option("text or json")]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", callback=_set_quiet,
        help="No progress, notes or hints: only errors, warnings and the result. Exit codes unchanged.",
    ),
]  # fmt: skip
JsonAlias = Annotated[bool, typer.Option("--json", hidden=True, callback=_deprecated_json)]
"""The old `--json` of plan, drill history and sandbox status: still works (scripts exist), says it is deprecated."""


F = TypeVar("F", bound=StrEnum)


def chosen_format(output_format: F, as_json: bool) -> F:
    """The format asked for, with the deprecated `--json` meaning `--format json`."""
    if not as_json:
        return output_format
    if output_format.value not in (TextOrJson.TEXT, TextOrJson.JSON):
        fail([f"--json and --format {output_format.value} disagree; give --format alone"])
    return type(output_format)(TextOrJson.JSON)


def emit(text: str) -> None:
    """The result, verbatim on stdout (no wrapping, no styling); a text result is for a terminal, so terminal-safe.

    A machine format carries its own escaping (JSON's, Markdown's, XML's); a text result is printed for people,
    and untrusted text in it (tags, waiver reasons) must not reach the terminal as escape sequences.
    """
    print(text if mode().machine else terminal(text))


def emit_json(document: Any) -> None:
    emit(json.dumps(document, indent=2, allow_nan=False))


def say(*objects: Any, **options: Any) -> None:
    """Prose: progress, notes for the reader, hints. Beside a text result on stdout; on stderr when the result is for
    a program; dropped with --quiet. `bascule ...` hints in it repeat the user's folders."""
    current = mode()
    if current.quiet:
        return
    texts = [with_dirs(o) if isinstance(o, str) else o for o in objects]
    # Prose is never broken at the console's width (160 columns in a pipe): a log line stays one line.
    options.setdefault("soft_wrap", True)
    (err if current.machine else out).print(*texts, highlight=False, **options)


def note(text: str) -> None:
    """A yellow `note:` on stderr, dropped with --quiet; `bascule ...` hints in it repeat the user's folders."""
    if not mode().quiet:
        err.print(styled("note:", "yellow", with_dirs(text)), soft_wrap=True)


def warn(text: str) -> None:
    """A yellow `warning:` on stderr, kept with --quiet: it says something may be wrong."""
    err.print(styled("warning:", "yellow", with_dirs(text)), soft_wrap=True)


@contextmanager
def working(message: str) -> Iterator[Callable[[str], None]]:
    """A spinner with `message` on stderr while something slow runs; yields a function that changes the message.

    Drawn only when stderr is a terminal and the command is not quiet: a CI log or a pipe gets nothing from it.
    Lines printed meanwhile appear above the spinner; stdout is redirected through it only when stdout is that
    terminal too, so a result piped to a file never lands on the screen. The text is never parsed as markup.
    """
    if mode().quiet or not err.is_terminal:
        yield lambda _text: None
        return
    from rich.live import Live  # only when drawn: `check --export` in CI starts without it
    from rich.spinner import Spinner

    spinner = Spinner("dots", text=Text(one_line(message)))
    with Live(spinner, console=err, transient=True, redirect_stdout=out.is_terminal, redirect_stderr=True):
        yield lambda text: spinner.update(text=Text(one_line(text)))


@contextmanager
def program_log(already_warned: Iterable[str] = ()) -> Iterator[None]:
    """What a Pulumi program logs while it runs offline, as this CLI's `warning:` and `error:` lines, each once.

    Under mocks Pulumi's engine hands `pulumi.log.warn` and `pulumi.log.error` to Python's root logger, which has
    no handler: `logging` then writes the bare message to stderr, so a stack's warning appeared twice, once from
    the command and once unprefixed from the program. Messages in `already_warned` were printed by the command.
    Records of other loggers go where they went before (logging's last-resort handler).
    """
    shown = set(already_warned)

    class _Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name != logging.getLogger().name:
                if logging.lastResort is not None and record.levelno >= logging.lastResort.level:
                    logging.lastResort.handle(record)
                return
            message = record.getMessage()
            if record.levelno < logging.WARNING or message in shown:
                return
            shown.add(message)
            if record.levelno >= logging.ERROR:
                err.print(styled("error:", "red", message), soft_wrap=True)
            else:
                warn(message)

    handler = _Handler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


@contextmanager
def running_offline(message: str, already_warned: Iterable[str] = ()) -> Iterator[None]:
    """A program run offline, as the library's `running` hook wants it: a spinner, and its log as this CLI's lines."""
    with working(message), program_log(already_warned):
        yield


# --- hints repeat the folders the user chose -----------------------------------------------------------------

DIR_FLAGS: dict[str, dict[str, str]] = {
    "bascule plan": {"stacks_dir": "--stacks-dir"},
    "bascule check": {"stacks_dir": "--stacks-dir"},
    "bascule audit": {"stacks_dir": "--stacks-dir"},
    "bascule verify": {"sandbox_dir": "--sandbox-dir", "lock_dir": "--lock-dir"},
    "bascule drill": {"sandbox_dir": "--sandbox-dir", "lock_dir": "--lock-dir", "stacks_dir": "--stacks-dir"},
    "bascule drill recover": {"lock_dir": "--lock-dir"},
    "bascule drill report": {},
    "bascule drill history": {},
    "bascule data": {"sandbox_dir": "--sandbox-dir", "lock_dir": "--lock-dir"},
    "bascule backup": {"sandbox_dir": "--sandbox-dir"},
    "bascule data status": {"sandbox_dir": "--sandbox-dir"},
    "bascule sandbox up": {"sandbox_dir": "--sandbox-dir", "stacks_dir": "--stacks-dir"},
    "bascule sandbox": {"sandbox_dir": "--sandbox-dir"},
    "bascule policy-pack": {},
    "bascule status publish": {"stacks_dir": "--stacks-dir"},
    "bascule watch": {"sandbox_dir": "--sandbox-dir", "lock_dir": "--lock-dir"},
    "bascule incident": {},
}
"""Hinted command (the longest that prefixes it) -> the folder parameters it takes (one parameter name for a folder
in every command) -> its flag there. `tests/test_cli_conventions.py` checks this against the real commands."""


def dir_flags(command: str) -> dict[str, str]:
    """The folder flags of `command` (`bascule sandbox down --sandbox-dir X` -> those of `bascule sandbox`)."""
    prefix = max((p for p in DIR_FLAGS if command == p or command.startswith(p + " ")), key=len, default=None)
    return DIR_FLAGS[prefix] if prefix else {}


_HINT = re.compile(r"`(bascule [^`]*)`")


_DEPRECATED_NAMES = {"dir_alias": "sandbox_dir"}
"""A folder parameter under its old flag (`sandbox`'s hidden `--dir`) -> the parameter it stands for."""


def _chosen_dirs() -> dict[str, str]:
    """The folders given on this command line (not left at their default), by parameter name."""
    chosen: dict[str, str] = {}
    ctx = get_current_context(silent=True)
    names = {name: name for flags in DIR_FLAGS.values() for name in flags} | _DEPRECATED_NAMES
    while ctx is not None:
        for given, name in names.items():
            value = ctx.params.get(given)
            source = ctx.get_parameter_source(given)
            if name not in chosen and value is not None and source not in (None, ParameterSource.DEFAULT):
                chosen[name] = str(value)
        ctx = ctx.parent
    return chosen


def with_dirs(text: str) -> str:
    """Every `bascule ...` command quoted in `text`, with the folders the user chose that this command takes.

    `--stacks-dir` only joins a command that names a `--stack`; a flag the hint already has is left alone.
    """
    chosen = _chosen_dirs()
    if not chosen:
        return text

    def extend(match: re.Match[str]) -> str:
        command = match.group(1)
        words = command.split()
        extra = [
            f"{flag} {shlex.quote(chosen[name])}"
            for name, flag in dir_flags(command).items()
            if name in chosen and flag not in words and (name != "stacks_dir" or "--stack" in words)
        ]
        return f"`{' '.join([command, *extra])}`"

    return _HINT.sub(extend, text)


def stack_file_or_fail(command: str, stack: str, stacks_dir: Path, project: Path = Path(".")) -> None:
    """`--stack NAME` of check, plan, audit and `drill --local` reads this repository's `<stacks-dir>/Pulumi.NAME.yaml`;
    in a team's own Pulumi project (`project` holds Pulumi.yaml and Pulumi.NAME.yaml) that file is missing, and the
    loader's "no such stack file" alone left the user guessing: exit 2 with the command that reads their program.
    Nothing happens when the file exists or `project` is no such project (the loader's own error stands)."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    own = project / f"Pulumi.{stack}.yaml"
    if path.exists() or not ((project / "Pulumi.yaml").is_file() and own.is_file()):
        return
    here = project == Path(".")
    where, config = shlex.quote(str(project)), shlex.quote(own.name if here else str(own))
    if command == "bascule drill":
        instead = (f"`bascule drill --stack {shlex.quote(stack)} --cwd {where} --dry-run` shows what each fault "
                   "changes in it (offline), the same without --dry-run (and with --service) drills it; --local "
                   "alone drills the sandbox with its default settings")  # fmt: skip
    else:
        instead = f"`{command} --program {where} --stack-config {config}` runs it offline"
    folder = "this folder" if here else where
    fail([f"{path}: no such stack file: --stack reads this repository's layout (<stacks-dir>/Pulumi.<stack>.yaml), "
          f"but {folder} is a Pulumi project with its own {own.name}: {instead}"])  # fmt: skip


# Options that several commands share, so they read and behave the same everywhere.
Cwd = Annotated[
    Path, typer.Option("--cwd", callback=input_folder("--cwd"), help="The Pulumi project folder of --stack.")
]
Resolvers = Annotated[
    list[str] | None,
    typer.Option("--resolver", help="Also ask this recursive resolver, IP[:port]; repeatable (e.g. 1.1.1.1)."),
]
NoAuthoritative = Annotated[bool, typer.Option("--no-authoritative", help="Do not ask the zone's own name servers.")]
CERT_DAYS = Duration("days", 3650, "ten years: beyond that a typo, not a renewal margin")
MinCertDays = Annotated[
    float,
    typer.Option(
        "--min-cert-days", callback=CERT_DAYS.check("--min-cert-days"),
        help="A site whose certificate expires sooner than this is not ready.",
    ),
]  # fmt: skip
StacksDir = Annotated[
    Path,
    typer.Option(
        "--stacks-dir", callback=input_folder("--stacks-dir"), help="Folder holding Pulumi.<stack>.yaml files."
    ),
]
Program = Annotated[Path | None, typer.Option("--program", help="Any Pulumi Python project folder, run offline.")]
StackConfig = Annotated[Path | None, typer.Option("--stack-config", help="With --program: its Pulumi.<stack>.yaml.")]
SandboxDir = Annotated[
    Path | None,
    typer.Option(
        "--sandbox-dir",
        callback=input_folder("--sandbox-dir"),
        help="The sandbox's state folder: pids, ports, zone, logs (default: one per checkout, under "
        "~/.cache/bascule/, named after the project folder).",
    ),
]
LockDir = Annotated[
    Path | None,
    typer.Option(
        "--lock-dir", callback=output_folder("--lock-dir"),
        help="Where drill locks live (default: ~/.cache/bascule/locks).",
    ),
]  # fmt: skip
NotifyUrls = Annotated[
    list[str] | None,
    typer.Option(
        "--notify", metavar="URL", callback=notify_checked,
        help="Send a message to this apprise URL (json://host/path, slack://..., mailto://..., pagerduty://...); "
        "repeatable. Failed deliveries are retried with backoff and recorded, never fatal; tokens are never shown.",
    ),
]  # fmt: skip
CaBundle = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle", callback=ca_bundle_checked,
        help="Trust these CAs (PEM, private PKI) instead of the system store; the sandbox uses its own CA.",
    ),
]  # fmt: skip
