"""The append-only journal: every fact a drill observes, written as it happens, one JSON object a line.

Reports are derived from it alone, so a report can be regenerated, audited, or written after the
drill process died; each line is flushed and synced before the drill acts on it.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REDACTED = "[secret]"


class Redactor:
    """Replaces every secret value (stack outputs or config marked secret) wherever it would be written."""

    def __init__(self, secrets: list[str] | None = None):
        # Longest first, so a secret containing another is replaced whole; very short values would
        # shred ordinary text and are too weak to be secrets worth hiding by substitution.
        forms = {form for s in secrets or [] if len(s) >= 4 for form in (s, json.dumps(s)[1:-1])}
        self.secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class Journal:
    def __init__(self, path: Path, redact: Redactor | None = None):
        self.path = path
        self.redact = redact or Redactor()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._seq = len(read_journal(path)) if path.exists() else 0
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the journal

    def append(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {
            "seq": self._seq,
            "t": time.monotonic(),
            "wall": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "kind": kind,
            **data,
        }
        self._file.write(self.redact(json.dumps(event, sort_keys=True)) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._seq += 1
        return event

    def close(self) -> None:
        self._file.close()


class JournalError(Exception):
    pass


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Read every complete line; a torn last line (the writer was killed mid-write) is skipped."""
    events = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break
            raise JournalError(f"{path}:{number}: not a journal line ({exc.msg})") from None
    return events
