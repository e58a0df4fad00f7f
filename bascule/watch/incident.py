"""The incident record: opened when a watched service fails over outside a drill, classified by a person, closed
by a person, with the DORA and NIS2 deadlines (`bascule.watch.regulatory`) computed from its times.

One JSON file per incident in an `incidents/` folder beside the watch's state file, rewritten whole (atomically) on
each change: a person can read it, copy it into a ticket, or keep it for the supervisor. Awareness is the moment
Bascule first saw the failover; classification, and whether the incident is major, are a person's decision
(`bascule incident classify --major`); recovery is when watch saw the primary serving again, recorded at close.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bascule.io.documents import InputError, read_json
from bascule.io.files import write_atomic
from bascule.watch.regulatory import Deadline, deadlines

INCIDENTS = "incidents"


class IncidentError(Exception):
    """No such incident, several open where one was meant, or one already closed: the message says which."""


@dataclass
class Incident:
    id: str
    service: str
    hostname: str
    aware_at: str
    cause: list[str]
    classified_at: str | None = None
    major: bool | None = None
    """A person's decision: None until classified."""
    restored_at: str | None = None
    """When watch saw every resolver answer the primary again."""
    closed_at: str | None = None
    recovered_at: str | None = None
    timeline: list[dict[str, str]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def deadlines(self) -> list[Deadline]:
        """The reporting deadlines; none once a person classified it as not major."""
        if self.major is False:
            return []
        classified = _time(self.classified_at) if self.major else None
        return deadlines(_time(self.aware_at), classified)

    def note(self, at: datetime, text: str) -> None:
        self.timeline.append({"at": stamp(at), "text": text})

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "open": self.open, "deadlines": [d.as_json() for d in self.deadlines()]}

    def deadline_lines(self) -> list[str]:
        """The deadlines for people, soonest first; before classification, the bounds that already run."""
        if self.major is False:
            return ["classified as not major: no regulatory report due"]
        head = [] if self.major else ["not classified yet: if a person classifies it as major "
                                      "(`bascule incident classify --major`), these apply:"]  # fmt: skip
        return head + [f"{d.regime} {d.report} due by {_shown(d.due)} ({d.rule})" for d in self.deadlines()]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _time(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def folder(state_file: Path) -> Path:
    return state_file.parent / INCIDENTS


def _name(service: str, at: datetime) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '-', service)[:64]}-{at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def open_incident(state_file: Path, service: str, hostname: str, at: datetime, cause: list[str]) -> Incident:
    incident = Incident(_name(service, at), service, hostname, stamp(at), cause)
    incident.note(at, f"failover observed: {'; '.join(cause)}")
    save(state_file, incident)
    return incident


def save(state_file: Path, incident: Incident) -> Path:
    path = folder(state_file) / f"{incident.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(asdict(incident), indent=2, allow_nan=False) + "\n")
    return path


_FIELDS = {f for f in Incident.__dataclass_fields__}


def load(path: Path) -> Incident:
    """One incident file; `InputError` naming the file when it is not one."""
    raw = read_json(path, "incident record")
    if not isinstance(raw, dict) or not {"id", "service", "hostname", "aware_at", "cause"} <= raw.keys():
        raise InputError(f"{path}: not an incident record (id, service, hostname, aware_at, cause)")
    try:
        incident = Incident(**{k: v for k, v in raw.items() if k in _FIELDS})
        _time(incident.aware_at)
        for moment in (incident.classified_at, incident.closed_at, incident.restored_at):
            if moment is not None:
                _time(moment)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: not an incident record: {exc}") from None
    return incident


def every(state_file: Path) -> list[Incident]:
    """Every incident beside `state_file`, oldest first."""
    where = folder(state_file)
    if not where.is_dir():
        return []
    return sorted((load(p) for p in where.glob("*.json")), key=lambda i: i.aware_at)


def chosen(state_file: Path, incident_id: str | None, service: str | None = None) -> Incident:
    """The incident a person means: `incident_id`, else the one open incident (of `service`, if given)."""
    found = every(state_file)
    if incident_id is not None:
        match = [i for i in found if i.id == incident_id]
        if not match:
            raise IncidentError(f"no incident {incident_id} in {folder(state_file)}")
        return match[0]
    opened = [i for i in found if i.open and service in (None, i.service)]
    if not opened:
        raise IncidentError(f"no open incident in {folder(state_file)}")
    if len(opened) > 1:
        raise IncidentError(f"{len(opened)} open incidents ({', '.join(i.id for i in opened)}): name one with --id")
    return opened[0]


def classify(state_file: Path, incident: Incident, major: bool, at: datetime, by: str | None) -> Incident:
    if not incident.open:
        raise IncidentError(f"incident {incident.id} is closed (at {incident.closed_at})")
    if at < _time(incident.aware_at):
        raise IncidentError(f"--at {stamp(at)} is before the incident was known ({incident.aware_at})")
    incident.classified_at, incident.major = stamp(at), major
    who = f" by {by}" if by else ""
    incident.note(at, f"classified as {'major' if major else 'not major'}{who}")
    save(state_file, incident)
    return incident


def close(state_file: Path, incident: Incident, at: datetime, recovered: datetime | None) -> Incident:
    if not incident.open:
        raise IncidentError(f"incident {incident.id} is already closed (at {incident.closed_at})")
    recovery = recovered or (_time(incident.restored_at) if incident.restored_at else at)
    if recovery < _time(incident.aware_at):
        raise IncidentError(f"--recovered-at {stamp(recovery)} is before the incident was known ({incident.aware_at})")
    incident.closed_at, incident.recovered_at = stamp(at), stamp(recovery)
    incident.note(at, f"closed; service recovered at {incident.recovered_at}")
    save(state_file, incident)
    return incident


def render_text(incident: Incident) -> str:
    lines = [f"incident {incident.id}: {incident.service} ({incident.hostname}), "
             f"{'open' if incident.open else 'closed'}",
             f"  aware:      {incident.aware_at} (first failover watch observed)",
             f"  classified: {incident.classified_at or 'not yet'}"
             + ("" if incident.major is None else f" ({'major' if incident.major else 'not major'})"),
             f"  restored:   {incident.restored_at or 'not yet'}",
             f"  closed:     {incident.closed_at or 'not yet'}"
             + (f", recovered at {incident.recovered_at}" if incident.recovered_at else ""),
             "  cause:", *(f"    - {c}" for c in incident.cause),
             "  deadlines:", *(f"    - {d}" for d in incident.deadline_lines()),
             "  timeline:", *(f"    {t['at']}  {t['text']}" for t in incident.timeline)]  # fmt: skip
    return "\n".join(lines)
