"""A command timed as a user runs it: one fresh process each time, process start included.

Shared by the benchmarks that print the README's speed figures. Each run's peak memory is that process's
own (`os.wait4` returns the child's resource usage), and the machine's load average is printed beside the
figures: on a shared machine they vary with it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    """User plus system time of the process: less sensitive than wall time to other processes' load."""
    max_rss_mib: float
    returncode: int
    stderr: str


def run_once(command: Sequence[str], cwd: Path) -> Run:
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(command), cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, stderr)


@dataclass(frozen=True)
class Summary:
    runs: list[Run]

    @property
    def median_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu_median_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def spread(self) -> str:
        walls = [r.wall_s for r in self.runs]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    @property
    def max_rss_mib(self) -> float:
        return max(r.max_rss_mib for r in self.runs)


def repeat(command: Sequence[str], cwd: Path, times: int, ok: Sequence[int] = (0, 1)) -> Summary:
    """`times` runs; a run whose exit code is not in `ok` stops the benchmark with its stderr."""
    runs = []
    for _ in range(times):
        run = run_once(command, cwd)
        if run.returncode not in ok:
            raise SystemExit(f"{' '.join(command)}: exit {run.returncode}: {run.stderr.strip()[-600:]}")
        runs.append(run)
    return Summary(runs)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
