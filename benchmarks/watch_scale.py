"""Watch rounds over N services on one sandbox serving N hostnames: cycle time and CPU per service.

    nice -n 19 ionice -c3 .venv/bin/python benchmarks/watch_scale.py --services 500 --concurrency 32 --rounds 3

The sandbox is started with N-1 other hostnames beside its service's (`Sandbox.start(others=...)`): N failover
records in PowerDNS, each health-checked by PowerDNS at both sites, and N certificates of the sandbox CA, each site
routing on SNI and Host. Each round is `bascule watch`'s own (`run_round`, with the status page and metrics file
written): per service, both sites' TLS (verified, days left), health path and the answers of both resolvers
(PowerDNS, and the recursor when installed). Per round it prints the cycle's seconds, the watch process's CPU per
service, the sandbox's (its sites, PowerDNS and recursor, which share the machine) and how many services were not
healthy, with up to three reasons. Nothing is asserted. The aim: 500 services fresh every 60 s on 2 cores; the
figures, and the conditions they were taken in, are in docs/watch.md (Scale).

`--interval` is PowerDNS's health-check interval for every record (default 30 s): at the sandbox's usual 1 s, 500
names make 1,000 checks a second on the two sites, a load no watch causes. `--check-timeout` is how long those
checks wait; the watch reports a health answer slower than that as a problem, since the switch would count it down.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from bascule.drills.control import SandboxControl
from bascule.readiness.site import Trust
from bascule.sandbox import Sandbox, SandboxService
from bascule.watch.cycle import Settings, run_round
from bascule.watch.observe import Watched
from bascule.watch.states import OK_STATES


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sandbox_cpu_seconds(sandbox: Sandbox) -> float:
    """CPU used so far by the sandbox's own processes (the pids it started), from /proc/PID/stat."""
    total = 0
    for pid in sandbox.state.pids.values():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def services_of(sandbox: Sandbox) -> list[Watched]:
    """One watched service per hostname the sandbox serves, each as `watch --local` sees the sandbox's own."""
    control = SandboxControl(sandbox)
    base = control.target()
    return [Watched(dataclasses.replace(base, service=name.split(".")[0], hostname=name), control.lock_key())
            for name in sandbox.state.hostnames]  # fmt: skip


def start(folder: Path, services: int, interval: int = 30, check_timeout: int = 2) -> Sandbox:
    """A sandbox serving `services` hostnames: its service's and `services - 1` others in its zone."""
    service = SandboxService(interval_seconds=interval, check_timeout_seconds=check_timeout)
    others = [f"svc-{n:04d}.{service.zone}" for n in range(1, services)]
    return Sandbox.start(folder, service, others=others)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=5.0, help="Each probe's timeout (watch's --timeout).")
    parser.add_argument("--interval", type=int, default=30, help="PowerDNS's health-check interval, seconds.")
    parser.add_argument("--check-timeout", type=int, default=2, help="PowerDNS's health-check timeout, seconds.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bascule-watch-bench-"))
    try:  # the folder holds the sandbox's PKI keys, the watch state and status: never left behind
        began = time.monotonic()
        sandbox = start(work / "sandbox", args.services, args.interval, args.check_timeout)
        try:
            measure(sandbox, work, args, began)
        finally:
            sandbox.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(sandbox: Sandbox, work: Path, args: argparse.Namespace, began: float) -> None:
    """Run `args.rounds` watch rounds against the sandbox and print each one's time and CPU per service."""
    services = services_of(sandbox)
    base = services[0].target
    settings = Settings(work / "watch" / "state.json", work / "locks", Trust(base.ca_bundle), args.timeout,
                        args.concurrency, work / "status", work / "bascule.prom")  # fmt: skip
    print(f"{len(services)} services (hostnames), concurrency {args.concurrency}, {base.description}; "
          f"sandbox up in {time.monotonic() - began:.0f} s")  # fmt: skip
    print(f"{'round':>5} {'seconds':>8} {'watch cpu ms/svc':>16} {'sandbox cpu ms/svc':>18} {'not healthy':>11}")
    for number in range(1, args.rounds + 1):
        cpu, box, wall = cpu_seconds(), sandbox_cpu_seconds(sandbox), time.monotonic()
        found = run_round(services, settings, None)
        wall, cpu, box = time.monotonic() - wall, cpu_seconds() - cpu, sandbox_cpu_seconds(sandbox) - box
        bad = [seen for seen in found.observations if found.states[seen.service] not in OK_STATES]
        print(f"{number:>5} {wall:>8.2f} {1000 * cpu / len(services):>16.2f} "
              f"{1000 * box / len(services):>18.2f} {len(bad) + len(found.errors):>11}")  # fmt: skip
        for reason in [*found.errors, *(seen.readiness.problems[0] for seen in bad if seen.readiness.problems)][:3]:
            print(f"      e.g. {reason}")


if __name__ == "__main__":
    main()
