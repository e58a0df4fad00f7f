"""The watch's persisted state: per service its state and since when, the cause, the open incident, a short public
timeline; and the last deliveries. One JSON file, rewritten atomically each round, so `watch --once` from cron
carries its state from one run to the next as a long-running watch does."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bascule.io.documents import InputError, read_json
from bascule.io.files import write_atomic
from bascule.watch.states import State

TIMELINE_KEEP = 50
"""Public timeline entries kept per service: the page shows recent history, not every round since the start."""
DELIVERIES_KEEP = 100


@dataclass
class ServiceState:
    state: State
    since: str
    hostname: str
    checked_at: str
    causes: list[str] = field(default_factory=list)
    public: str = ""
    """The public page's sentence for the current state (no address)."""
    serving: str = ""
    incident: str | None = None
    """The id of the open incident this service's failover opened."""
    timeline: list[dict[str, str]] = field(default_factory=list)
    """Public entries: `at`, `state`, `text` (plain words, no address)."""

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}


@dataclass
class WatchState:
    services: dict[str, ServiceState] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    """The latest deliveries, failed ones with their (redacted) reason: what a person checks when a page is silent."""

    def as_json(self) -> dict[str, Any]:
        return {"version": 1, "services": {k: v.as_json() for k, v in self.services.items()},
                "deliveries": self.deliveries[-DELIVERIES_KEEP:]}  # fmt: skip


def load(path: Path) -> WatchState:
    """The state file, or an empty state when there is none yet; `InputError` naming the file when it is not one."""
    if not path.exists():
        return WatchState()
    raw = read_json(path, "watch state")
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), dict):
        raise InputError(f"{path}: not a watch state file (no services object); move it away to start afresh")
    services = {}
    for name, entry in raw["services"].items():
        try:
            services[str(name)] = ServiceState(**{**entry, "state": State(entry["state"])})
            datetime.fromisoformat(services[str(name)].since)
        except (TypeError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: services.{name}: not a service's watch state: {exc}") from None
    deliveries = raw.get("deliveries") if isinstance(raw.get("deliveries"), list) else []
    return WatchState(services, list(deliveries or []))


def save(path: Path, state: WatchState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(state.as_json(), indent=2, allow_nan=False) + "\n")
