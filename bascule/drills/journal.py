"""The append-only journal: every fact a drill observes, written as it happens, one JSON object a line.

Reports are derived from it alone, so a report can be regenerated, audited, or written after the
drill process died; each line is flushed and synced before the drill acts on it. Secrets are redacted
on the data before it is serialized, so the journal stays valid JSON whatever the secret looks like.

Writing is best effort once it fails (a full disk, a read-only mount): `append` never raises, it stops writing,
keeps the kinds of what it could not write in memory and says why in `write_error`. A drill must never keep a
fault in place because it could not note the restore; the runner refuses to inject when the journal already failed,
since `drill recover` reads the `inject` line to know that a fault may be in place.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from bascule.io.documents import InputError, read_json_lines
from bascule.io.files import repair_tail

REDACTED = "[secret]"
_SHORT = 6
"""Secrets shorter than this are replaced only where they stand alone (not inside a longer word or number)."""


def _forms(secret: str) -> set[str]:
    """Every way a secret can appear in text: whole, each line of it (PEM keys are printed line by line),
    and each of those JSON-escaped and URL-encoded (connection strings, query strings)."""
    pieces = {secret} | {line.strip() for line in secret.splitlines() if line.strip()}
    return {form for piece in pieces for form in (piece, json.dumps(piece)[1:-1], quote(piece, safe=""),
                                                   quote(piece), quote_plus(piece))}  # fmt: skip


class Redactor:
    """Replaces every secret value (stack outputs or config marked secret) wherever it would be written."""

    def __init__(self, secrets: Iterable[Any] = ()):
        values = [s for s in secrets if s is not None and not isinstance(s, bool) and str(s) != ""]
        self.exact = {str(s) for s in values}
        forms = sorted({form for s in self.exact for form in _forms(s)}, key=len, reverse=True)
        # Longest first, so a secret containing another is replaced whole.
        patterns = [re.escape(f) if len(f) >= _SHORT else rf"(?<![\w.]){re.escape(f)}(?![\w])" for f in forms]
        self._pattern = re.compile("|".join(patterns)) if patterns else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    def data(self, value: Any) -> Any:
        """A copy of `value` with every secret replaced: inside strings, and whole numbers that equal one."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return REDACTED if str(value) in self.exact else value
        if isinstance(value, dict):
            return {self(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return self(str(value))


_opened: dict[Path, Redactor] = {}
"""Journals this process opened, so the top-level error handler can record a crash in them."""


class Journal:
    def __init__(self, path: Path, redact: Redactor | None = None):
        self.path = path
        self.redact = redact or Redactor()
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = repair_tail(path)
        self._seq = len(read_journal(path)) if path.exists() else 0
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the journal
        self._lock = threading.Lock()
        """A data drill's canary writer journals from its own thread: lines and sequence numbers never interleave."""
        self.kinds: set[str] = set()
        """Every kind appended, written or not: what the drill did, even when the disk refused the record."""
        self.write_error: str | None = None
        """Why the journal stopped being written (None while every line reached the disk)."""
        self.unwritten = 0
        """Events appended after the first write failure (kept out of the file: one torn line at most)."""
        _opened[path] = self.redact
        if torn:
            self.append("torn-line-dropped", bytes=torn)

    def append(self, kind: str, **data: Any) -> dict[str, Any]:
        """Record one event; never raises for the disk (see `write_error`)."""
        with self._lock:
            event = {
                "seq": self._seq,
                "t": time.monotonic(),
                "wall": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "kind": kind,
                **self.redact.data(data),
            }
            self._seq += 1
            self.kinds.add(kind)
            if self.write_error is None:
                try:
                    self._file.write(json.dumps(event, sort_keys=True, default=str) + "\n")
                    self._file.flush()
                    os.fsync(self._file.fileno())
                except OSError as exc:
                    self.write_error = f"{self.path}: {exc.strerror or exc}"
            else:
                self.unwritten += 1
            return event

    def close(self) -> None:
        """Close the file; a buffer the disk still refuses is dropped (the failure is already in `write_error`)."""
        try:
            self._file.close()
        except OSError as exc:
            self.write_error = self.write_error or f"{self.path}: {exc.strerror or exc}"


def record_internal_error(exc: BaseException) -> list[Path]:
    """Append an `internal-error` event to every journal this process opened; return where it was written."""
    written = []
    for path, redact in list(_opened.items()):
        if not path.exists():
            continue
        try:
            journal = Journal(path, redact)
            journal.append(
                "internal-error",
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
            )
            journal.close()
        except (OSError, InputError):  # a journal that can no longer be read or written gets no event; others do
            continue
        if journal.write_error is None:
            written.append(path)
    return written


class JournalError(InputError):
    pass


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Read every complete line; a torn last line (the writer was killed mid-write) is skipped."""
    try:
        lines = read_json_lines(path, "drill journal")
    except InputError as exc:
        raise JournalError(str(exc)) from None
    for number, event in lines:
        if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
            raise JournalError(f"{path}:{number}: not a journal event (an object with a 'kind')")
        # What every event carries (`Journal.append`) and reports compute with, checked where present: a damaged
        # value is this one-line error, never an exception deep in a report.
        t = event.get("t", 0.0)
        if not isinstance(t, int | float) or isinstance(t, bool) or t != t or t in (float("inf"), float("-inf")):
            raise JournalError(f"{path}:{number}: t: expected a number of seconds, got {json.dumps(t)}")
        if not isinstance(event.get("seq", 0), int) or not isinstance(event.get("wall", ""), str):
            raise JournalError(f"{path}:{number}: not a journal event (seq and wall as Bascule writes them)")
    return [event for _, event in lines]
