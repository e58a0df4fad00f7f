"""What every command shares: the output channels, the error channel and the exit codes users script against.

Both consoles have rich markup and highlighting switched off: what they print is mostly untrusted (spec
values, `pulumi up` output, error messages, file names), and a `[/x]` in it would crash the command (rich's
MarkupError) or eat text such as `[secret]`. Colour is added only through `styled`, on text Bascule wrote.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_INTERNAL = 70
"""An unexpected error inside Bascule (a bug), never a verdict: sysexits.h's EX_SOFTWARE, outside 0-3."""

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160, markup=False, highlight=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, markup=False, highlight=False)


def one_line(text: str) -> str:
    """Untrusted text kept on one terminal line: control characters (newlines, escapes, separators) escaped.

    A key or value from a hostile file may hold `\n`, `\x1e` or terminal escape sequences; printed raw they
    would split a one-line error in two or rewrite the terminal.
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def styled(label: str, style: str, text: str = "") -> Text:
    """`label` in `style`, then `text` verbatim (never parsed as markup) on one line."""
    return Text.assemble((label, style), (" " + one_line(text)) if text else "")


def fail(lines: Iterable[str], code: int = EXIT_BAD_INPUT) -> NoReturn:
    for line in lines:
        err.print(styled("error:", "red", line), soft_wrap=True)
    raise typer.Exit(code)


# Options that several commands share, so they read and behave the same everywhere.
Cwd = Annotated[Path, typer.Option("--cwd", help="The Pulumi project folder of --stack.")]
Resolvers = Annotated[
    list[str] | None,
    typer.Option("--resolver", help="Also ask this recursive resolver, IP[:port]; repeatable (e.g. 1.1.1.1)."),
]
NoAuthoritative = Annotated[bool, typer.Option("--no-authoritative", help="Do not ask the zone's own name servers.")]
MinCertDays = Annotated[
    float,
    typer.Option("--min-cert-days", min=0, help="A site whose certificate expires sooner than this is not ready."),
]
CaBundle = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle", exists=True, dir_okay=False,
        help="Trust these CAs (PEM, private PKI) instead of the system store; the sandbox uses its own CA.",
    ),
]  # fmt: skip
