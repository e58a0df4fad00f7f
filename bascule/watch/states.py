"""The small state a watched service is in, and what moves it: pure functions of an observation and the state
before it, so the machine is tested without a network.

    healthy --(a site, DNS or the data standby not ready)--> degraded --(mended)--> healthy
    healthy | degraded --(DNS sends clients to the secondary)--> failed_over
    failed_over --(the primary is ready again, DNS not all back)--> recovering
    failed_over | recovering --(every resolver answers the primary)--> restored --(next clean round)--> healthy

A failover leaves `restored` only through a clean round, so the page says "restored" at least once and the
incident (if any) records when. Whether the failover was a drill does not change the state: it changes what is
done about it (a drill opens no incident, and its notifications say DRILL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bascule.readiness.probes import BOTH
from bascule.readiness.verify import PRIMARY
from bascule.watch.observe import MIXED, SECONDARY, UNKNOWN, Observation


class State(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED_OVER = "failed_over"
    RECOVERING = "recovering"
    RESTORED = "restored"

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")


OK_STATES = frozenset({State.HEALTHY, State.RESTORED})
"""States `watch --once` exits 0 for: the primary serves and everything checked is ready."""
_AWAY = frozenset({State.FAILED_OVER, State.RECOVERING})


def classify(observation: Observation, previous: State | None) -> tuple[State, list[str]]:
    """The state `observation` puts a service in, coming from `previous` (None: first seen), and its causes: the
    problems verify names, or, for a failover, where DNS sends clients and why the primary is not serving."""
    problems = list(observation.readiness.problems)
    where = observation.serving
    primary_ready = observation.site_ready(PRIMARY)
    if where == PRIMARY:
        if previous in _AWAY and not problems:
            return State.RESTORED, ["every resolver answers the primary again"]
        if previous is State.RESTORED and not problems:
            return State.HEALTHY, []
        return (State.DEGRADED, problems) if problems else (State.HEALTHY, [])
    if where == UNKNOWN:
        return State.DEGRADED, problems or [f"no resolver answered for {observation.hostname}"]
    moved = {
        SECONDARY: f"DNS sends clients of {observation.hostname} to the secondary",
        MIXED: f"resolvers disagree for {observation.hostname}: some answer the primary, some the secondary",
        BOTH: f"DNS answers every site for {observation.hostname}: no site is healthy (fail-open)",
    }.get(where, f"DNS answers {where} for {observation.hostname}")
    primary_problems = [p for p in problems if p.startswith(f"{PRIMARY} ")]
    if previous in _AWAY and primary_ready and where in (SECONDARY, MIXED):
        return State.RECOVERING, [moved, "the primary site is ready again"]
    return State.FAILED_OVER, [moved, *primary_problems] if primary_problems else [moved, *problems[:3]]


NEXT_STEPS: dict[State, str] = {
    State.HEALTHY: "nothing to do.",
    State.DEGRADED: "the standby could not take traffic if the primary failed now, or a check is close to failing: "
    "fix the cause above, then confirm with `bascule verify`.",
    State.FAILED_OVER: "traffic is on the standby. Find why the primary failed and keep the standby healthy; a person "
    "decides whether this is a major incident (`bascule incident classify --major`), which starts the DORA clock.",
    State.RECOVERING: "the primary answers again; wait for every resolver to move back (the record's TTL), then fail "
    "back the data standby if it was promoted (`bascule data failback`).",
    State.RESTORED: "confirm the service works for clients, then close the incident with `bascule incident close` "
    "(it records the recovery).",
}
DRILL_STEP = "this is a drill: the drill restores the primary itself; nothing to do unless it reports a failure."

PUBLIC_WORDS: dict[State, str] = {
    State.HEALTHY: "Operating normally.",
    State.DEGRADED: "Operating normally; resilience is reduced.",
    State.FAILED_OVER: "Served by the standby site: the primary site failed.",
    State.RECOVERING: "The primary site is back; traffic is moving back to it.",
    State.RESTORED: "Served by the primary site again.",
}
"""What the public page says per state: no address, no internal detail."""


def public_detail(observation: Observation, state: State) -> str:
    """One plain sentence for the public page on what is reduced, naming parts (standby, data), never addresses."""
    if state is not State.DEGRADED:
        return PUBLIC_WORDS[state]
    parts = []
    if not observation.site_ready(SECONDARY):
        parts.append("the standby site is not ready to take over")
    if not observation.site_ready(PRIMARY):
        parts.append("the primary site reports problems")
    if observation.readiness.data_problems:
        parts.append("data replication to the standby is not ready")
    if any(p.startswith("dns ") for p in observation.readiness.problems):
        parts.append("some name servers do not answer as expected")
    detail = "; ".join(parts) or "a readiness check failed"
    return f"{PUBLIC_WORDS[state]} {detail[0].upper()}{detail[1:]}."


@dataclass
class Transition:
    """A change of state: what every action (notification, incident, page, journal) is made from."""

    service: str
    hostname: str
    previous: State | None
    current: State
    at: datetime
    previous_since: datetime | None
    causes: list[str]
    measured: list[str]
    drill: str | None = None
    extra: list[str] = field(default_factory=list)
    """More lines for people: the incident and its deadlines, when one is open."""

    @property
    def quiet(self) -> bool:
        """Not notified: first sight of a healthy service, and the clean round after `restored`."""
        return self.current is State.HEALTHY and self.previous in (None, State.RESTORED)

    @property
    def next_step(self) -> str:
        return DRILL_STEP if self.drill and self.current in _AWAY | {State.RESTORED} else NEXT_STEPS[self.current]

    def title(self) -> str:
        was = self.previous.words if self.previous else "first check"
        drill = "[DRILL] " if self.drill else ""
        return f"{drill}{self.service} ({self.hostname}): {was} -> {self.current.words}"

    def body(self) -> str:
        """The message a person can act on: what changed and since when, why, what was measured, the next step."""
        since = f" (was {self.previous.words} since {_at(self.previous_since)})" if self.previous else ""
        lines = [f"{self.service} ({self.hostname}) is {self.current.words} since {_at(self.at)}{since}."]
        if self.drill:
            lines.append(f"A drill is running on this target (journal {self.drill}): this change is the drill's.")
        if self.causes:
            lines += ["Cause:", *(f"- {c}" for c in self.causes)]
        lines += ["Measured:", *(f"- {m}" for m in self.measured)]
        lines += self.extra
        lines.append(f"Next step: {self.next_step}")
        return "\n".join(lines)


def measured(observation: Observation) -> list[str]:
    """What Bascule measured, one line per resolver, site and data standby (for people: addresses included)."""
    lines = []
    for d in observation.readiness.dns:
        seen = d.error or f"{', '.join(d.answers) or 'nothing'} ({d.site})"
        lines.append(f"dns {d.resolver}: {seen}")
    for site in observation.readiness.sites:
        cert = f"certificate {site.certificate.days_left:g} days left" if site.certificate else "no TLS"
        health = f"health HTTP {site.status}" if site.status is not None else "no health answer"
        lines.append(f"{site.role} {site.address}: {'ready' if site.ready else 'NOT ready'}, {cert}, {health}")
    if observation.readiness.data is not None:
        lags = ", ".join(f"{db} lag {lag:g} s" for db, lag in observation.lag_seconds.items()) or "lag unknown"
        lines.append(f"data standby {observation.readiness.data.get('state')}: {lags}")
    return lines


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"
