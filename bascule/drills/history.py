"""Drill history: one line per drill report, appended to `history.jsonl` in a chosen folder.

The folder can be a synced bucket path or a CI cache; the file is append-only JSON lines, so concurrent
writers of different stacks interleave whole lines and nothing is ever rewritten.
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from math import inf
from pathlib import Path
from typing import Any

from bascule.io.documents import InputError, read_json_lines
from bascule.io.escaping import markdown
from bascule.io.files import repair_tail

HISTORY_FILE = "history.jsonl"


BACKUP_RESTORE = "backup-restore"
"""The fault column of a restore of a stack's real backup (no fault is injected: the restore is the drill)."""
RESTORE_FAULTS = ("corruption", BACKUP_RESTORE)
"""Rows of restores from backup: the sandbox's restore drill (`--fault corruption`) and a stack's real backup."""


def append(directory: Path, summary: dict[str, Any], report_dir: Path) -> Path:
    fo, fb = summary.get("failover") or {}, summary.get("failback") or {}
    row = {
        "started": summary["started"],
        "service": summary["service"],
        "target": summary["target"],
        "fault": summary["fault"],
        "status": summary["status"],
        "rto_seconds": summary["rto_seconds"],
        "failover_dns_s": fo.get("dns_all_s"),
        "failover_http_s": fo.get("http_s"),
        "failback_http_s": fb.get("http_s"),
        "report": str(report_dir.resolve()),
    }
    data = summary.get("data") or {}
    if data.get("restore_drill"):
        # A restore from backup (`--fault corruption`, `bascule backup restore --history`): what the audit shows as
        # the last restore drill. No failover: the failover columns stay empty.
        row.update({key: data.get(source) for key, source in RESTORE_FIELDS.items()})
    return _write(directory, row)


def append_restore(
    directory: Path, *, service: str, target: str, backup: str, status: str, restore_s: float | None,
    backup_age_s: float | None,
) -> Path:  # fmt: skip
    """The row of a restore of a stack's real backup (`bascule backup restore --history`, fault `backup-restore`):
    the audit's last restore drill of that stack. No report folder: the command's JSON output is its record."""
    row = {"started": datetime.now(UTC).isoformat(timespec="milliseconds"), "service": service, "target": target,
           "fault": BACKUP_RESTORE, "status": status, "rto_seconds": None, "failover_dns_s": None,
           "failover_http_s": None, "failback_http_s": None, "report": None, "backup": backup,
           "restore_s": restore_s, "backup_age_s": backup_age_s, "writes_lost": None}  # fmt: skip
    return _write(directory, row)


def _write(directory: Path, row: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / HISTORY_FILE
    repair_tail(path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, sort_keys=True, allow_nan=False) + "\n")
    return path


RESTORE_FIELDS = {"backup": "backup", "restore_s": "restore_s", "backup_age_s": "backup_age_s",
                  "writes_lost": "writes_lost_since_backup"}  # fmt: skip
"""A restore drill's row: its column -> the key of the report's `data` block it is copied from."""
_NUMBERS = ("failover_http_s", "restore_s", "backup_age_s", "writes_lost")
"""Optional numeric columns the audit and `trend` compute with: a number or null, else the row is refused."""

_REQUIRED = ("started", "service", "fault", "status")
"""What `trend` and the audit read from every row; `append` always writes them."""


def read(directory: Path) -> list[dict[str, Any]]:
    """Every row, or an `InputError` naming the file and line of the first one that is not a drill's row.

    The file outlives the tool (a synced folder, a branch): a torn last line from a runner killed mid-append is
    skipped, since the append that tore it never finished; anything else wrong is refused, not guessed at.
    """
    path = directory / HISTORY_FILE
    if not path.is_file():
        return []
    rows = []
    for number, row in read_json_lines(path, "history row"):
        missing = [key for key in _REQUIRED if not isinstance(row, dict) or not isinstance(row.get(key), str)]
        if missing:
            raise InputError(f"{path}:{number}: not a history row (no text {', '.join(missing)}); fix or remove it")
        for key in _NUMBERS:
            value = row.get(key)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool) or value != value or abs(value) == inf
            ):
                raise InputError(f"{path}:{number}: {key}: expected a number or null; fix or remove it")
        rows.append(row)
    return rows


def trend(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per service and fault: runs, passes, last and median failover time, and whether it is getting slower."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["started"]):
        grouped.setdefault(f"{row['service']} ({row['fault']})", []).append(row)
    result = {}
    for key, runs in grouped.items():
        times = [r["failover_http_s"] for r in runs if r.get("failover_http_s") is not None]
        half = len(times) // 2
        direction = "—"
        if half >= 1:
            earlier, later = statistics.median(times[:half]), statistics.median(times[half:])
            direction = "slower" if later > earlier * 1.1 else "faster" if later < earlier * 0.9 else "steady"
        result[key] = {
            "runs": len(runs),
            "passed": sum(r["status"] == "pass" for r in runs),
            "last_s": times[-1] if times else None,
            "median_s": statistics.median(times) if times else None,
            "trend": direction,
            "series": times,
        }
    return result


HISTORY_COLUMNS = ("service (fault)", "runs", "passed", "last HTTP failover", "median", "trend", "recent")
"""The columns of the history table, in the terminal and in Markdown."""


def history_rows(trends: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per service and fault (from `trend`), the same cells in the terminal table and in Markdown."""

    def seconds(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else "—"

    return [
        (key, str(t["runs"]), str(t["passed"]), seconds(t["last_s"]), seconds(t["median_s"]), t["trend"],
         " ".join(f"{v:.1f}" for v in t["series"][-8:]))
        for key, t in sorted(trends.items())
    ]  # fmt: skip


def history_markdown(trends: dict[str, dict[str, Any]], runs: int) -> str:
    """GitHub-flavoured Markdown (a job summary, a wiki page): a heading and a table, every cell literal text
    (`bascule.io.escaping.markdown`: no HTML, no link, no new cell or row from a service name)."""
    lines = [f"### Drill history ({runs} drills)", "", "| " + " | ".join(HISTORY_COLUMNS) + " |",
             "|" + "---|" * len(HISTORY_COLUMNS)]  # fmt: skip
    lines += ["| " + " | ".join(markdown(cell) for cell in row) + " |" for row in history_rows(trends)]
    return "\n".join(lines)
