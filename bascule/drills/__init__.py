"""Failover drills: a declarative plan, a control that breaks and restores the primary (the local sandbox, or a
Pulumi stack through the Automation API), an append-only journal, reports derived from the journal only, the lock
that keeps two drills off one target, and recovery of a drill that was killed.

May import: `bascule.readiness`, `bascule.sandbox`, `bascule.offline`, `bascule.spec`, `bascule.io`.
"""
