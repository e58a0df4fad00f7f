"""What every command shares: the error channel and the exit codes users script against."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def fail(lines: Iterable[str], code: int = EXIT_BAD_INPUT) -> NoReturn:
    for line in lines:
        err.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
