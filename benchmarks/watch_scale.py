"""One watch round over N services against one sandbox: cycle time and CPU per service, concurrency bounded.

    .venv/bin/python benchmarks/watch_scale.py --services 100 --concurrency 16

The sandbox serves one hostname; the N services are N copies of its target under different names, so every
observation is real (DNS to each resolver, TLS handshakes and a health request to each site) but all land on the
same two loopback sites and one PowerDNS: the figures are the watch's own cost, not many independent sites'.
Nothing is asserted; figures are printed. The issue's goal: 500 services fresh every 60 s on 2 cores. `not healthy`
counts services whose checks failed under the load itself: the sandbox's sites are single processes, and with many
concurrent probes their health path answers later than the DNS check's timeout (the watch then says so per service).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import tempfile
import time
from pathlib import Path

from bascule.drills.control import SandboxControl
from bascule.readiness.site import Trust
from bascule.sandbox import Sandbox
from bascule.watch.cycle import Settings, run_round
from bascule.watch.observe import Watched


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bascule-watch-bench-"))
    sandbox = Sandbox.start(work / "sandbox")
    try:
        control = SandboxControl(sandbox)
        base = control.target()
        services = [Watched(dataclasses.replace(base, service=f"svc-{n:04d}"), control.lock_key())
                    for n in range(args.services)]  # fmt: skip
        settings = Settings(work / "watch" / "state.json", work / "locks", Trust(base.ca_bundle), 5.0,
                            args.concurrency, work / "status", work / "bascule.prom")  # fmt: skip
        print(f"{args.services} services, concurrency {args.concurrency}, {base.description}")
        print(f"{'round':>5} {'seconds':>8} {'ms/service':>10} {'cpu ms/service':>14} {'not healthy':>11}")
        for number in range(1, args.rounds + 1):
            cpu, wall = cpu_seconds(), time.monotonic()
            found = run_round(services, settings, None)
            wall, cpu = time.monotonic() - wall, cpu_seconds() - cpu
            bad = sum(1 for s in found.states.values() if s.value not in ("healthy", "restored"))
            print(f"{number:>5} {wall:>8.2f} {1000 * wall / args.services:>10.1f} "
                  f"{1000 * cpu / args.services:>14.2f} {bad:>11}")  # fmt: skip
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
