"""One round of the watch: observe every service, classify, act on each change (incident, notification, page,
metrics), persist. `bascule watch --once` runs one round; `bascule watch` runs one per interval. The state is read
from and written to the state file each round, so a cron job and a long-running watch behave the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bascule.drills import history
from bascule.io.documents import InputError
from bascule.readiness.site import Trust, TrustStoreError
from bascule.watch import incident as incidents
from bascule.watch import metrics, page, store
from bascule.watch.notify import FAILURE, INFO, SUCCESS, WARNING, Delivery, Notifier
from bascule.watch.observe import Observation, Watched, observe_all
from bascule.watch.states import OK_STATES, PUBLIC_WORDS, State, Transition, classify, measured, public_detail

KIND = {State.HEALTHY: SUCCESS, State.RESTORED: SUCCESS, State.RECOVERING: INFO, State.DEGRADED: WARNING,
        State.FAILED_OVER: FAILURE}  # fmt: skip
"""How each state's message is flagged to chat and paging tools."""


@dataclass(frozen=True)
class Settings:
    state_file: Path
    locks: Path
    """Where drill locks live: a failover while a drill holds its target's lock is the drill's."""
    trust: Trust
    timeout: float = 5.0
    concurrency: int = 8
    status_dir: Path | None = None
    metrics_file: Path | None = None
    history_dir: Path | None = None
    """The drill history folder (`bascule drill --history`), for the last-drill metrics."""


@dataclass
class Round:
    observations: list[Observation]
    transitions: list[Transition]
    states: dict[str, State]
    deliveries: list[Delivery] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Services that could not be observed, and what could not be read (the drill history)."""
    seconds: float = 0.0

    @property
    def healthy(self) -> bool:
        """Every service healthy (or restored) and observed: `watch --once` exits 0."""
        return not self.errors and all(s in OK_STATES for s in self.states.values())


def run_round(
    services: list[Watched],
    settings: Settings,
    notifier: Notifier | None,
    progress: Callable[[str], None] = lambda _line: None,
) -> Round:
    """Observe, classify, act and persist once. Raises `InputError` when the state file is not one (nothing is
    observed then); a failed notification is recorded, never raised. A trust store that cannot be loaded is one
    error of the round's, and no service is observed (nor changes state) until it loads again."""
    state = store.load(settings.state_file)
    start = time.monotonic()
    errors: list[str] = []

    def failed(item: Watched, exc: Exception) -> None:
        errors.append(f"{item.target.service}: not observed: {exc}")

    try:  # once, before any site: a bundle deleted or half rewritten is one fault of the watch's, not every site's
        settings.trust.verifying()
    except TrustStoreError as exc:
        errors.append(f"nothing observed: {exc}")
        watched: list[Watched] = []
    else:
        watched = services
    observations = observe_all(watched, settings.trust, settings.timeout, settings.locks, settings.concurrency, failed)
    transitions = [t for seen in observations if (t := _step(state, seen, settings.state_file)) is not None]
    found = Round(observations, transitions, {n: s.state for n, s in state.services.items()}, errors=errors)
    for change in transitions:
        if notifier is None or change.quiet:
            continue
        progress(f"notifying: {change.title()}")
        sent = notifier.send(change.title(), change.body(), KIND[change.current])
        found.deliveries += sent
        state.deliveries += [d.as_json() for d in sent]
    store.save(settings.state_file, state)
    found.seconds = time.monotonic() - start
    now = datetime.now(UTC)
    if settings.status_dir is not None:
        page.write(settings.status_dir, state, now)
    if settings.metrics_file is not None:
        drills = []
        if settings.history_dir is not None:
            try:
                drills = history.read(settings.history_dir)
            except InputError as exc:
                found.errors.append(f"drill history: {exc}")
        undelivered = sum(1 for d in found.deliveries if not d.ok)
        metrics.write(
            settings.metrics_file, metrics.registry(observations, state, drills, now, found.seconds, undelivered)
        )
    return found


def _step(state: store.WatchState, seen: Observation, state_file: Path) -> Transition | None:
    """Move one service's state on `seen`; the transition when it changed (first sight included), else None."""
    entry = state.services.get(seen.service)
    previous = entry.state if entry is not None else None
    current, causes = classify(seen, previous)
    at = incidents.stamp(seen.checked_at)
    public = public_detail(seen, current)
    if entry is None:
        entry = state.services[seen.service] = store.ServiceState(current, at, seen.hostname, at)
    entry.hostname, entry.checked_at, entry.serving, entry.causes, entry.public = (
        seen.hostname, at, seen.serving, causes, public)  # fmt: skip
    _close_if_closed(entry, state_file)
    if previous is current:
        return None
    change = Transition(seen.service, seen.hostname, previous, current, seen.checked_at,
                        datetime.fromisoformat(entry.since) if previous else None, causes, measured(seen),
                        seen.drill)  # fmt: skip
    change.extra = _incident(entry, change, state_file)
    words = f"Failover drill: {PUBLIC_WORDS[current]}" if seen.drill else public
    if previous is None:
        words = f"Monitoring started. {words}"
    entry.state, entry.since = current, at
    entry.timeline = [*entry.timeline, {"at": at, "state": current.value, "text": words}][-store.TIMELINE_KEEP :]
    return change


def _close_if_closed(entry: store.ServiceState, state_file: Path) -> None:
    """Forget the incident a person closed, so the next failover opens a new one."""
    if entry.incident is None:
        return
    try:
        record = incidents.chosen(state_file, entry.incident)
    except (incidents.IncidentError, InputError):
        entry.incident = None
        return
    if not record.open:
        entry.incident = None


def _incident(entry: store.ServiceState, change: Transition, state_file: Path) -> list[str]:
    """Open, update or mention the incident this change belongs to; the lines its message adds."""
    if change.drill:
        return ["No incident opened: the failover is a drill's."] if change.current is State.FAILED_OVER else []
    record = incidents.chosen(state_file, entry.incident) if entry.incident else None
    if change.current is State.FAILED_OVER:
        if record is None:
            record = incidents.open_incident(state_file, change.service, change.hostname, change.at, change.causes)
            entry.incident = record.id
            head = f"Incident {record.id} opened; aware since {record.aware_at}."
        else:
            record.note(change.at, f"failed over again: {'; '.join(change.causes)}")
            incidents.save(state_file, record)
            head = f"Incident {record.id} (open since {record.aware_at}): failed over again."
    elif record is not None and change.current in (State.RECOVERING, State.RESTORED):
        if change.current is State.RESTORED:
            record.restored_at = incidents.stamp(change.at)
        record.note(change.at, f"{change.current.words}: {'; '.join(change.causes)}")
        incidents.save(state_file, record)
        head = f"Incident {record.id} (open since {record.aware_at})."
    else:
        return []
    return [head, "Reporting deadlines:", *(f"- {line}" for line in record.deadline_lines())]
