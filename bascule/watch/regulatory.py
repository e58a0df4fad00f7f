"""Reporting deadlines for a major incident, computed from two moments a person owns: when the firm became aware
of the incident (the first failover Bascule observed) and when a person classified it as major.

DORA, Regulation (EU) 2022/2554 Art. 19(4), with the time limits of Commission Delegated Regulation (EU) 2025/301
Art. 5 (https://eur-lex.europa.eu/eli/reg_del/2025/301/oj):
- initial notification within 4 hours of the classification as major, and no later than 24 hours after the entity
  became aware of the incident;
- intermediate report within 72 hours of the submission of the initial notification;
- final report no later than one month after the latest updated intermediate report.
NIS2, Directive (EU) 2022/2555 Art. 23(4) (https://eur-lex.europa.eu/eli/dir/2022/2555/oj):
- early warning within 24 hours of becoming aware of the significant incident;
- incident notification within 72 hours of becoming aware;
- final report no later than one month after the incident notification.

Each later deadline runs from when the earlier report was submitted; Bascule does not know that moment, so it
counts from the earlier deadline: the latest the later report may be due. Art. 5's weekend and bank-holiday
allowances (for some entities) are not applied: the deadlines shown are never later than the law's.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

DORA_INITIAL_AFTER_CLASSIFICATION = timedelta(hours=4)
DORA_INITIAL_AFTER_AWARENESS = timedelta(hours=24)
DORA_INTERMEDIATE_AFTER_INITIAL = timedelta(hours=72)
NIS2_EARLY_WARNING = timedelta(hours=24)
NIS2_NOTIFICATION = timedelta(hours=72)


def add_month(moment: datetime) -> datetime:
    """The same day and time one calendar month later; the month's last day when it is shorter (31 Jan -> 28 or
    29 Feb): "one month" as the Regulations say it, never a fixed 30 days."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Deadline:
    regime: str
    """`DORA` or `NIS2`."""
    report: str
    due: datetime
    rule: str
    """How `due` was computed, in words, with the article."""

    def as_json(self) -> dict[str, str]:
        return {"regime": self.regime, "report": self.report, "due": self.due.isoformat(timespec="seconds"),
                "rule": self.rule}  # fmt: skip


def dora_deadlines(aware: datetime, classified: datetime | None) -> list[Deadline]:
    """DORA's three reports. Before classification only the 24-hour bound after awareness is known."""
    backstop = aware + DORA_INITIAL_AFTER_AWARENESS
    if classified is None:
        return [Deadline("DORA", "initial notification", backstop,
                         "not classified yet: 24 h after awareness at the latest, 4 h after a major classification "
                         "(RTS 2025/301 Art. 5(1)(a))")]  # fmt: skip
    initial = min(classified + DORA_INITIAL_AFTER_CLASSIFICATION, backstop)
    intermediate = initial + DORA_INTERMEDIATE_AFTER_INITIAL
    return [
        Deadline("DORA", "initial notification", initial,
                 "4 h after classification as major, no later than 24 h after awareness (RTS 2025/301 Art. 5(1)(a))"),
        Deadline("DORA", "intermediate report", intermediate,
                 "72 h after the initial notification, counted from its deadline (RTS 2025/301 Art. 5(1)(b))"),
        Deadline("DORA", "final report", add_month(intermediate),
                 "one month after the latest intermediate report, counted from its deadline "
                 "(RTS 2025/301 Art. 5(1)(c))"),
    ]  # fmt: skip


def nis2_deadlines(aware: datetime) -> list[Deadline]:
    """NIS2's three reports, all from awareness."""
    notification = aware + NIS2_NOTIFICATION
    return [
        Deadline("NIS2", "early warning", aware + NIS2_EARLY_WARNING, "24 h after awareness (NIS2 Art. 23(4)(a))"),
        Deadline("NIS2", "incident notification", notification, "72 h after awareness (NIS2 Art. 23(4)(b))"),
        Deadline("NIS2", "final report", add_month(notification),
                 "one month after the incident notification, counted from its deadline (NIS2 Art. 23(4)(d))"),
    ]  # fmt: skip


def deadlines(aware: datetime, classified: datetime | None) -> list[Deadline]:
    """Every deadline of both regimes, soonest first."""
    return sorted(dora_deadlines(aware, classified) + nis2_deadlines(aware), key=lambda d: d.due)
