"""The public status page (`index.html`) and its data (`status.json`), written into one folder that can be
uploaded as is to a bucket at a provider other than the primary's: no external asset, CSS inline.

Public means public: components, their state and since when, and a timeline in plain words. No address, no
certificate detail, no incident deadline, no notification target: those stay in the state file and the incident
record. Every value is escaped (Jinja2 autoescape, as the drill reports are).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from bascule.io.files import write_atomic
from bascule.watch.states import State
from bascule.watch.store import WatchState

SEVERITY = [State.HEALTHY, State.RESTORED, State.DEGRADED, State.RECOVERING, State.FAILED_OVER]
"""Worst last: the page's overall state is its worst component's."""
TIMELINE_SHOWN = 30


def document(state: WatchState, now: datetime) -> dict[str, Any]:
    """status.json: what the page shows, for other tools (an embed, a second page)."""
    components = [
        {"name": name, "hostname": s.hostname, "state": s.state.value, "since": s.since, "summary": s.public}
        for name, s in sorted(state.services.items())
    ]
    overall = max((s.state for s in state.services.values()), key=SEVERITY.index, default=State.HEALTHY)
    timeline = sorted(
        ({"service": name, **entry} for name, s in state.services.items() for entry in s.timeline),
        key=lambda e: e["at"], reverse=True,
    )[:TIMELINE_SHOWN]  # fmt: skip
    return {"updated": now.astimezone(UTC).isoformat(timespec="seconds"), "overall": overall.value,
            "components": components, "timeline": timeline}  # fmt: skip


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bascule.watch", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )


def render_html(doc: dict[str, Any]) -> str:
    components = [{**c, "state_words": State(c["state"]).words} for c in doc["components"]]
    return _templates().get_template("status.html.j2").render(
        overall=doc["overall"], overall_words=State(doc["overall"]).words, updated=doc["updated"],
        components=components, timeline=doc["timeline"],
    )  # fmt: skip


def write(folder: Path, state: WatchState, now: datetime) -> None:
    """index.html and status.json into `folder`, each replaced in one step: a reader never sees half a page."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = document(state, now)
    write_atomic(folder / "status.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    write_atomic(folder / "index.html", render_html(doc))
