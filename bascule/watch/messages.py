"""What a drill says when it starts and ends, for `bascule drill --notify`: plain words marked DRILL, so nobody
takes a drill's failover for an incident. No apprise here: the drill command imports this whatever its options."""

from __future__ import annotations

from typing import Any


def drill_started(service: str, hostname: str, fault: str, target: str, timeout_seconds: float) -> tuple[str, str]:
    """The title and body a drill announces itself with before it injects anything."""
    return (
        f"[DRILL] {service} ({hostname}): failover drill starting",
        f"DRILL, not an incident: Bascule is breaking {service}'s primary on purpose ({fault} fault) on {target}.\n"
        f"Traffic for {hostname} may move to the secondary and back within about {timeout_seconds:g} s each way.\n"
        "Next step: nothing, unless the end message reports a failure; watch opens no incident for a drill.",
    )


def drill_ended(summary: dict[str, Any] | None, service: str, hostname: str, problems: list[str]) -> tuple[str, str]:
    """The title and body a drill ends with: its verdict and reasons, or why no verdict was recorded."""
    if summary is None:
        return (f"[DRILL] {service} ({hostname}): drill ended without a report",
                "DRILL ended, but its report could not be written: " + "; ".join(problems or ["unknown reason"])
                + "\nNext step: check that the primary is restored (`bascule drill recover`).")  # fmt: skip
    status = str(summary.get("status", "unknown"))
    reasons = [f"- {r}" for r in summary.get("reasons", [])]
    step = ("nothing: the drill passed and the primary is restored." if status == "pass" else
            "read the drill report; if the primary is not restored, run `bascule drill recover`.")  # fmt: skip
    return (
        f"[DRILL] {service} ({hostname}): drill ended: {status.upper()}",
        "\n".join([f"DRILL ended: {status} ({summary.get('fault')} fault, RTO {summary.get('rto_seconds')} s).",
                   *reasons, *(f"- not recorded: {p}" for p in problems), f"Next step: {step}"]),
    )  # fmt: skip
