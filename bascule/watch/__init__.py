"""Continuous readiness, from outside: `bascule watch` observes what a client sees (`observe`: DNS per resolver,
each site's readiness, the data standby), classifies it into a small per-service state (`states`: healthy,
degraded, failed over, recovering, restored), persists it with the incident record (`store`, `incident`), and acts
on each change: notifications through apprise (`notify`), a public status page and status.json (`page`), a
Prometheus textfile (`metrics`). `cycle` runs one round of all of that; `regulatory` computes the DORA and NIS2
reporting deadlines an incident's notifications and `bascule incident show` carry.

Nothing here prints or exits: the CLI (`bascule/cli/watch.py`) does. A drill announces itself through `notify`
too, from the drill command; the drill machinery itself never imports this package.

May import: `bascule.readiness`, `bascule.data`, `bascule.drills` (the lock, the journal's redactor, the
history), `bascule.io`.
"""
