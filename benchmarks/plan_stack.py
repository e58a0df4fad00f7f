"""`bascule plan` / `check --stack` time for stacks of many services, under the offline engine.

    .venv/bin/python benchmarks/plan_stack.py                 # 10 and 30 services
    .venv/bin/python benchmarks/plan_stack.py --services 300
    .venv/bin/python benchmarks/plan_stack.py --profile 30    # cProfile's top functions for 30 services

The stack cycles through the services of every stack file in stacks/ (AWS, Azure, GCP, Scaleway sites;
Route 53, Traffic Manager, Cloud DNS, PowerDNS switches), renamed so each is its own service. Each size
runs in its own process (`bascule check --stack`, process start included) so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

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


def run(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = stack_dir(count, Path(tmp))
        command = [sys.executable, "-m", "bascule.cli", "check", "--stack", f"bench{count}", "--stacks-dir",
                   str(folder), "--format", "json"]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        print(f"{count} services: failed: {proc.stderr.strip()[-400:]}")
        return
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{count:4} services: check --stack {seconds:6.2f} s end to end ({seconds / count:.3f} s/service), "
          f"peak RSS so far {peak:.0f} MiB")  # fmt: skip


def profile(count: int) -> None:
    import threading

    from bascule import engine
    from bascule.engine import run_offline
    from bascule.program import main as program

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
    parser.add_argument("--profile", type=int)
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    for count in args.services or [10, 30]:
        run(count)


if __name__ == "__main__":
    main()
