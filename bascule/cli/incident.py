"""`bascule incident`: the record a failover outside a drill opens (`bascule watch`), classified and closed by a
person; `show` prints it with the DORA and NIS2 reporting deadlines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    FormatTextJson,
    Quiet,
    TextOrJson,
    emit,
    emit_json,
    fail,
    output_file,
    say,
)
from bascule.cli.watch import default_state_file
from bascule.io.documents import InputError
from bascule.io.escaping import quoted
from bascule.watch import incident as incidents

app = typer.Typer(
    help="Incidents opened by `bascule watch` on a failover that is not a drill: show, classify, close. Exit codes: "
    "0 ok, 1 none found, 2 bad input, 70 internal error.",
    no_args_is_help=True,
)


def _moment(value: str | None) -> str | None:
    """`--at` / `--recovered-at`: an ISO 8601 time with its zone (a time without one is ambiguous for a regulator)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail([f"--at: {quoted(value)} is not an ISO 8601 time (2026-01-31T09:15:00+01:00)"])
    if moment.tzinfo is None:
        fail([f"--at: {quoted(value)} has no time zone: add Z or +01:00"])
    return value


StateFile = Annotated[
    Path | None,
    typer.Option("--state-file", callback=output_file("--state-file"),
                 help="The watch's state file; incidents are in incidents/ beside it (default: "
                 "~/.cache/bascule/watch/state.json)."),
]  # fmt: skip
IncidentId = Annotated[str | None, typer.Option("--id", help="The incident (default: the one open incident).")]
At = Annotated[str | None, typer.Option("--at", callback=_moment, help="When, ISO 8601 with a zone (default: now).")]


def _state(state_file: Path | None) -> Path:
    return state_file or default_state_file()


def _time(value: str | None) -> datetime:
    return datetime.fromisoformat(value) if value else datetime.now(UTC)


@app.command("show")
def show(
    state_file: StateFile = None,
    incident_id: IncidentId = None,
    all_incidents: Annotated[bool, typer.Option("--all", help="Every incident, closed ones too.")] = False,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """The open incidents (or --id, or --all) with their times and reporting deadlines.

    Examples:
      bascule incident show
      bascule incident show --all --format json | jq '.[].deadlines'
    """
    path = _state(state_file)
    try:
        found = ([incidents.chosen(path, incident_id)] if incident_id else
                 [i for i in incidents.every(path) if all_incidents or i.open])  # fmt: skip
    except incidents.IncidentError as exc:
        fail([str(exc)], 1)
    except InputError as exc:
        fail([str(exc)])
    if output_format is TextOrJson.JSON:
        emit_json([i.as_json() for i in found])
    elif found:
        emit("\n\n".join(incidents.render_text(i) for i in found))
    else:
        say(f"no {'' if all_incidents else 'open '}incident in {incidents.folder(path)}")


@app.command("classify")
def classify(
    major: Annotated[
        bool | None,
        typer.Option("--major/--not-major", help="A person's decision: major (DORA) / significant (NIS2), or not."),
    ] = None,
    state_file: StateFile = None,
    incident_id: IncidentId = None,
    at: At = None,
    by: Annotated[str | None, typer.Option("--by", help="Who classified it (recorded in the timeline).")] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Record a person's classification; with --major the DORA clock runs from it (initial notification within
    4 h, and within 24 h of awareness).

    Example: bascule incident classify --major --by "duty manager"
    """
    if major is None:
        fail(["--major or --not-major: the classification is a person's decision, give it"])
    _change(state_file, incident_id, output_format,
            lambda path, found: incidents.classify(path, found, major, _time(at), by))  # fmt: skip


@app.command("close")
def close(
    state_file: StateFile = None,
    incident_id: IncidentId = None,
    recovered_at: Annotated[
        str | None,
        typer.Option(
            "--recovered-at",
            callback=_moment,
            help="When service recovered (default: when watch saw it restored, else now).",
        ),
    ] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Close the incident, recording when service recovered.

    Example: bascule incident close
    """
    recovered = datetime.fromisoformat(recovered_at) if recovered_at else None
    _change(state_file, incident_id, output_format,
            lambda path, found: incidents.close(path, found, datetime.now(UTC), recovered))  # fmt: skip


def _change(state_file: Path | None, incident_id: str | None, output_format: TextOrJson, change: object) -> None:
    path = _state(state_file)
    assert callable(change)
    try:
        found = change(path, incidents.chosen(path, incident_id))
    except incidents.IncidentError as exc:
        fail([str(exc)], EXIT_BAD_INPUT)
    except InputError as exc:
        fail([str(exc)])
    except OSError as exc:
        fail([f"--state-file {path}: the incident cannot be written: {exc.strerror or exc}"])
    if output_format is TextOrJson.JSON:
        emit_json(found.as_json())
    else:
        emit(incidents.render_text(found))
