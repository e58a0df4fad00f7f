"""Run the sandbox drill N times and print measured failover/failback times next to the settings' bound.

    .venv/bin/python benchmarks/sandbox_drill.py --runs 10 --fault health

The bound is interval x failures (as the running PowerDNS really applies them) + TTL. Target: median
failover <= 1.2 x the bound. Everything runs on loopback; nothing is asserted, figures are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bascule.drills.control import SandboxControl
from bascule.drills.journal import Journal, read_journal
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.report import percentile, summarize
from bascule.drills.runner import run_drill
from bascule.sandbox import Sandbox, SandboxService


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fault", type=Fault, choices=list(Fault), default=Fault.HEALTH)
    parser.add_argument("--interval", type=int, default=1, help="health-check interval, seconds")
    parser.add_argument("--ttl", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bascule-bench-"))
    sandbox = Sandbox.start(work / "sandbox", SandboxService(interval_seconds=args.interval, ttl=args.ttl))
    control = SandboxControl(sandbox)
    bound = sandbox.state.failover_bound_seconds
    rows: list[tuple[float, ...]] = []
    try:
        print(f"{control.target().description}; fault {args.fault.value}; bound {bound:g} s")
        print(f"{'run':>4} {'fo auth':>8} {'fo dns':>8} {'fo http':>8} {'fb dns':>8} {'fb http':>8}  status")
        for run in range(1, args.runs + 1):
            path = work / f"run-{run}.jsonl"
            journal = Journal(path)
            plan = DrillPlan(control.target(), args.fault, rto_seconds=max(10.0, 5 * bound), timeout_seconds=60)
            run_drill(plan, control, journal, lambda _line: None)
            journal.close()
            s = summarize(read_journal(path))
            fo, fb = s["failover"], s["failback"]
            values = (fo["by_resolver_kind_s"].get("authoritative"), fo["dns_all_s"], fo["http_s"], fb["dns_all_s"],
                      fb["http_s"])  # fmt: skip
            print(f"{run:>4} " + " ".join(f"{v:8.2f}" if v is not None else "       —" for v in values), s["status"])
            if s["status"] == "pass":
                rows.append(values)
    finally:
        sandbox.stop()
    if not rows:
        print("no run passed; no figures")
        return
    columns = list(zip(*rows, strict=True))
    names = ("failover authoritative", "failover all resolvers", "failover HTTP", "failback DNS", "failback HTTP")
    for name, values in zip(names, columns, strict=True):
        median = statistics.median(values)
        print(f"{name:>23}: median {median:.2f} s, p95 {percentile(list(values), 95):.2f} s, "
              f"max {max(values):.2f} s, median/bound {median / bound:.2f}")  # fmt: skip
    print(f"{len(rows)}/{args.runs} runs passed; target: median failover <= 1.2 x bound ({1.2 * bound:.2f} s)")


if __name__ == "__main__":
    main()
