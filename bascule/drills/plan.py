"""A drill is a declarative plan: what to break, whom to ask, how long to wait, when to give up."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from bascule.readiness.site import DEFAULT_MIN_CERT_DAYS, Trust
from bascule.readiness.target import DrillTarget


class Fault(StrEnum):
    HEALTH = "health"
    """The primary's health path answers 503: the real health checkers must notice."""
    OUTAGE = "outage"
    """The primary stops serving altogether (process stopped, capacity at zero)."""
    SWITCH = "switch"
    """DNS is told to skip the primary: tests the switch and the clients' caches, not detection."""
    CORRUPTION = "corruption"
    """A destructive change on the primary's data that replication carries to the standby: no failover helps, the
    newest backup is restored into a fresh database and checked (`bascule.drills.restore`; the sandbox, --data)."""


FAILOVER_FAULTS = (Fault.HEALTH, Fault.OUTAGE, Fault.SWITCH)
"""The faults a failover drill injects and a stack's `bascule:drill` marker may carry; corruption is answered by a
restore, not a failover."""


APPROVAL_ENV = "BASCULE_DRILL_APPROVAL"
"""Set by whoever approved a drill (e.g. a CI job behind an environment with required reviewers); read with
`--require-approval`."""
UPDATE_ALLOWANCE_SECONDS = 15 * 60.0
"""Time one targeted `pulumi up` of a fault may take (a Route 53 change waits until INSYNC, ECS drains tasks)."""


@dataclass(frozen=True)
class DrillPlan:
    target: DrillTarget
    fault: Fault
    rto_seconds: float
    timeout_seconds: float
    poll_interval: float = 0.25
    preflight_timeout: float = 20.0
    dns_abort_after: int = 12
    """Consecutive probes in which no resolver answers before the drill aborts (the switch itself is down)."""
    probe_timeout: float = 1.0
    min_cert_days: float = DEFAULT_MIN_CERT_DAYS
    """Preflight refuses a site whose certificate for the hostname expires sooner than this."""
    rpo_seconds: float | None = None
    """Set for a data drill: the observed RPO (last acknowledged minus last surviving write) must not exceed it."""
    force_reason: str | None = None
    """`--force REASON`: go on although the standby is not ready or another service is failed over; the reason and
    what it overrode are journalled and reported."""
    approval: str | None = None
    """`--require-approval`: who approved the drill (the value of `APPROVAL_ENV`), journalled with the plan."""

    @property
    def max_fault_seconds(self) -> float:
        """How long a fault may stay in place before anyone may assume its drill is dead: failover and failback
        observed in full, plus an update to apply the fault and one to restore it. The drill marker of a stack
        carries inject time + this as its deadline, after which scheduled jobs restore it (the dead-man switch)."""
        return 2 * self.timeout_seconds + 2 * UPDATE_ALLOWANCE_SECONDS

    @property
    def trust(self) -> Trust:
        return Trust(self.target.ca_bundle, self.min_cert_days)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fault"] = self.fault.value
        return data


def plan_lines(shown: dict[str, Any]) -> list[tuple[str, str]]:
    """A drill plan for people, one labelled line per fact, from its (redacted) JSON form (`DrillPlan.as_json`)."""
    target = shown["target"]
    resolvers = "; ".join(
        f"{'recursor' if r['kind'] == 'recursive' else 'authoritative'} {r['address']}:{r['port']}" for r in
        target["resolvers"]
    )  # fmt: skip
    sites = "; ".join(
        f"{role} at {target['addresses'].get(role, '?')} (DNS answer {', '.join(answers)})"
        for role, answers in target["sites"].items()
    )
    rpo = f", RPO {shown['rpo_seconds']:g} s" if shown.get("rpo_seconds") is not None else ""
    safety = [("forced", str(shown["force_reason"]))] if shown.get("force_reason") else []
    safety += [("approval", str(shown["approval"]))] if shown.get("approval") else []
    return [*safety,
        ("service", f"{target['service']}: https://{target['hostname']}:{target['port']}{target['health_path']}"),
        ("target", target["description"]),
        ("fault", shown["fault"]),
        ("sites", sites),
        ("resolvers", resolvers or "none"),
        ("targets", f"RTO {shown['rto_seconds']:g} s{rpo}; settings bound {target['failover_bound_seconds']:g} s"),
        ("timeouts", f"{shown['timeout_seconds']:g} s each for failover and failback, preflight "
                     f"{shown['preflight_timeout']:g} s"),
        ("certificates", f"valid {shown['min_cert_days']:g} more days at least; trust "
                         f"{target['ca_bundle'] or 'the system store'}"),
    ]  # fmt: skip
