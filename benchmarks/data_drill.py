"""Run the sandbox data drill N times and print replication lag, observed RPO, promotion and first-write times.

    .venv/bin/python benchmarks/data_drill.py --runs 5 --fault outage

The outage fault SIGKILLs the primary's database with its site, so writes acknowledged but not yet applied on the
standby are lost; on loopback the lag is milliseconds, so the observed RPO is usually 0 (no network delay is added:
tc netem in a network namespace is not done here). Nothing is asserted, figures are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bascule.drills.control import SandboxControl
from bascule.drills.data import SandboxDataDrill
from bascule.drills.journal import Journal, read_journal
from bascule.drills.plan import FAILOVER_FAULTS, DrillPlan, Fault
from bascule.drills.report import percentile, summarize
from bascule.drills.runner import run_drill
from bascule.sandbox import Sandbox, SandboxService

COLUMNS = ("lag_p50_s", "lag_p99_s", "lost_writes", "rpo_observed_s", "promotion_s", "first_write_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fault", type=Fault, choices=FAILOVER_FAULTS, default=Fault.OUTAGE)
    parser.add_argument("--interval", type=int, default=1, help="health-check interval, seconds")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bascule-bench-data-"))
    sandbox = Sandbox.start(work / "sandbox", SandboxService(interval_seconds=args.interval), data=True)
    control = SandboxControl(sandbox)
    rows: list[dict[str, float]] = []
    try:
        print(f"{control.target().description}; fault {args.fault.value}; data standby on PostgreSQL 15 (logical)")
        print(f"{'run':>4} " + " ".join(f"{c:>15}" for c in COLUMNS) + "  writes  status")
        for run in range(1, args.runs + 1):
            path = work / f"run-{run}.jsonl"
            journal = Journal(path)
            plan = DrillPlan(control.target(), args.fault, rto_seconds=30, timeout_seconds=60, rpo_seconds=5)
            run_drill(plan, control, journal, lambda _line: None, SandboxDataDrill(sandbox, plan.target, plan.trust,
                                                                                   journal))  # fmt: skip
            journal.close()
            s = summarize(read_journal(path))
            data = s.get("data") or {}
            values = [data.get(c) for c in COLUMNS]
            cells = " ".join(f"{v:>15.4f}" if isinstance(v, float) else f"{v!s:>15}" for v in values)
            print(f"{run:>4} {cells}  {data.get('acknowledged_writes', 0):>6}  {s['status']}")
            if s["status"] == "pass":
                rows.append({c: float(v) for c, v in zip(COLUMNS, values, strict=True) if v is not None})
    finally:
        sandbox.stop()
    if not rows:
        print("no run passed; no figures")
        return
    for column in COLUMNS:
        values = [r[column] for r in rows if column in r]
        if values:
            print(f"{column:>15}: median {statistics.median(values):.4f}, p95 {percentile(values, 95):.4f}, "
                  f"max {max(values):.4f}")  # fmt: skip
    print(f"{len(rows)}/{args.runs} runs passed (RPO target 5 s)")


if __name__ == "__main__":
    main()
