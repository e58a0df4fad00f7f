"""`bascule plan` / `check --stack` time for stacks of many services, under the offline engine.

    .venv/bin/python benchmarks/plan_stack.py                 # 1, 10 and 30 services, 5 runs each
    .venv/bin/python benchmarks/plan_stack.py --services 100 --repeats 1  # the most a stack takes
    .venv/bin/python benchmarks/plan_stack.py --profile 30    # cProfile's top functions for 30 services

The stack cycles through the services of every stack file in stacks/ (AWS, Azure, GCP, Scaleway sites;
Route 53, Traffic Manager, Cloud DNS, PowerDNS switches), renamed so each is its own service. Every run is
its own process (`bascule check --stack`, process start included), so its peak memory (max RSS) is its own.
Printed per size: the median wall time of the runs with their range, the median CPU time, the peak memory,
the number of resources and the time per resource beyond the previous size. Target: 30 services < 10 s.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from measure import Summary, load_average, repeat

ROOT = Path(__file__).resolve().parent.parent


def stack_config(count: int) -> dict[str, Any]:
    """Every stack file's other config too (the PowerDNS API key), with `count` services."""
    pool, config = [], {}
    for stack in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        if stack.name == "Pulumi.single-region.yaml":
            continue
        doc = yaml.safe_load(stack.read_text())["config"]
        pool.extend(doc.pop("bascule:services"))
        config.update({k: v for k, v in doc.items() if k != "bascule:drill"})
    made = []
    for i in range(count):
        svc = copy.deepcopy(pool[i % len(pool)])
        svc["name"] = f"{svc['name'][:40]}-{i}"
        zone = svc["dns"].get("zone")
        if zone:  # one zone per service: a shared zone must be created once (the spec says so)
            svc["dns"]["zone"] = f"z{i}.{zone}"
            svc["hostname"] = svc["hostname"].replace(zone, svc["dns"]["zone"])
        made.append(svc)
    return {**config, "bascule:services": made}


def stack_dir(count: int, folder: Path) -> Path:
    (folder / f"Pulumi.bench{count}.yaml").write_text(yaml.safe_dump({"config": stack_config(count)}))
    return folder


def resource_count(folder: Path, stack: str) -> int:
    """Resources the stack registers (custom ones, as `bascule plan` lists them): what the time is spent on."""
    command = [sys.executable, "-m", "bascule.cli", "plan", "--stack", stack, "--stacks-dir", str(folder), "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    return len(json.loads(proc.stdout))


def run(counts: list[int], repeats: int) -> None:
    print(f"bascule check --stack, end to end, median of {repeats} runs ({load_average()} before)")
    print(f"{'services':>8} {'resources':>9} {'median s':>9} {'range s':>11} {'CPU s':>6} {'max RSS MiB':>12} "
          f"{'ms per extra resource':>22}")  # fmt: skip
    previous: tuple[int, Summary] | None = None
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            folder = stack_dir(count, Path(tmp))
            command = [sys.executable, "-m", "bascule.cli", "check", "--stack", f"bench{count}", "--stacks-dir",
                       str(folder), "--format", "json"]  # fmt: skip
            summary = repeat(command, ROOT, repeats)
            resources = resource_count(folder, f"bench{count}")
        marginal = ""  # beyond the previous size: its SDK imports and start-up cancel out
        if previous is not None and resources > previous[0]:
            marginal = f"{(summary.median_s - previous[1].median_s) / (resources - previous[0]) * 1000:.2f}"
        previous = (resources, summary)
        print(f"{count:>8} {resources:>9} {summary.median_s:>9.2f} {summary.spread:>11} {summary.cpu_median_s:>6.2f} "
              f"{summary.max_rss_mib:>12,.0f} {marginal:>22}")  # fmt: skip
    print(f"({load_average()} after)")


def profile(count: int) -> None:
    import threading

    from bascule.components.program import main as program
    from bascule.offline import engine
    from bascule.offline.engine import run_offline

    config = stack_config(count)
    profiler = cProfile.Profile()

    class ProfiledThread(threading.Thread):
        """The engine runs the program on a worker thread (its watchdog); profile that thread."""

        def run(self) -> None:
            profiler.runcall(super().run)

    engine.threading.Thread = ProfiledThread  # type: ignore[misc]
    run_offline(program, config, stack=f"bench{count}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, action="append")
    parser.add_argument("--repeats", type=int, default=5, help="Runs per size (the median is printed).")
    parser.add_argument("--profile", type=int)
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    run(args.services or [1, 10, 30], args.repeats)


if __name__ == "__main__":
    main()
