"""Notifications through apprise (https://github.com/caronc/apprise): one URL per target (Slack, Teams,
Mattermost, email, PagerDuty, a generic JSON webhook, ...), so Bascule carries no chat or paging client of its own.

A target URL usually carries a secret (a webhook token in its path, a password, a header given as a query value).
None of it is ever written: each target is shown as apprise's privacy form (`URLBase.url(privacy=True)`) with
every remaining part that may be a secret replaced by Bascule's redactor, since apprise's privacy form keeps path
tokens and `-Header=value` query values in clear; apprise's own log lines (which name URLs and payloads) are
captured, redacted the same way, and kept only as the reason a delivery failed.

A delivery that fails is retried with backoff and recorded; it never raises: a watch or a drill goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from bascule.drills.journal import Redactor
from bascule.io.escaping import one_line

INFO, SUCCESS, WARNING, FAILURE = "info", "success", "warning", "failure"
"""How a message is flagged (apprise's NotifyType values): a chat tool colours it, a pager may page on failure."""
RETRIES = 3
"""Attempts per delivery: a webhook that is down for a moment gets the message; one that stays down is recorded."""
BACKOFF_SECONDS = 1.0
"""The wait before the second attempt, doubled before each later one."""
TIMEOUT_SECONDS = 5
"""Connect and read timeout of one attempt (apprise's `cto` and `rto`), so a dead target cannot hold a cycle."""
_SHORT = 4
"""URL parts shorter than this are not treated as secrets (`json`, `api`, `v1`): redacting them would garble text."""


class TargetError(ValueError):
    """A notification URL apprise cannot use; the message names the flag and never repeats a secret."""


@dataclass(frozen=True)
class Target:
    url: str
    shown: str
    """The URL as logs, state and reports may show it: privacy form, every secret-looking part replaced."""
    redact: Redactor = field(compare=False, repr=False)


def _secret_parts(url: str) -> list[str]:
    """Every part of `url` that may be a credential: user, password, path segments, query values, the fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.username or "", parts.password or "", parts.fragment]
    found += [unquote(s) for s in parts.path.split("/")]
    found += [value for _key, value in parse_qsl(parts.query, keep_blank_values=True)]
    host = parts.hostname or ""
    if "." not in host and ":" not in host:  # `slack://TokenA/TokenB/...`: apprise reads a token where a host goes
        found.append(host)
    return [s for s in found if len(s) >= _SHORT]


def target(url: str, flag: str = "--notify") -> Target:
    """A target apprise accepts, or `TargetError` naming `flag`: checked when the option is parsed, before any work."""
    redact = Redactor([url, *_secret_parts(url)] if len(url) >= _SHORT else [])
    with _apprise_log() as log:
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        reason = redact(one_line(log.text().strip().splitlines()[-1])) if log.text().strip() else "unknown schema"
        shown = url.split("://", 1)[0][:20] + "://…" if "://" in url else "(not schema://...)"
        raise TargetError(f"{flag} {shown}: not a notification URL apprise can use ({reason}); see "
                          "https://github.com/caronc/apprise/wiki for each service's URL form")  # fmt: skip
    shown = redact(str(plugin.url(privacy=True)))  # type: ignore[no-untyped-call]  # apprise leaves url() untyped
    return Target(url, shown, redact)


@dataclass
class Delivery:
    target: str
    """The target's shown form (no secret)."""
    ok: bool
    attempts: int
    at: str
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "ok": self.ok, "attempts": self.attempts, "at": self.at, "error": self.error}


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.lines.append(record.getMessage())

    def text(self) -> str:
        return "\n".join(self.lines)


_APPRISE_LOGGERS = ("apprise", "urllib3")


@contextmanager
def _apprise_log() -> Iterator[_Captured]:
    """apprise's (and its HTTP stack's) log lines, kept from every other handler while `with` runs: they name URLs,
    headers and payloads. The caller redacts what it keeps."""
    captured = _Captured()
    saved = []
    for name in _APPRISE_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.handlers[:], logger.level))
        logger.handlers = [captured]
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    try:
        yield captured
    finally:
        for logger, propagate, handlers, level in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)


class Notifier:
    """Sends each message to every target, retrying each on its own; returns what happened, never raises."""

    def __init__(
        self,
        targets: list[Target],
        retries: int = RETRIES,
        backoff: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.targets = targets
        self.retries = max(1, retries)
        self.backoff = backoff
        self.sleep = sleep

    def send(self, title: str, body: str, kind: str = INFO) -> list[Delivery]:
        return [self._one(t, title, body, kind) for t in self.targets]

    def _one(self, chosen: Target, title: str, body: str, kind: str) -> Delivery:
        error: str | None = None
        wait = self.backoff
        for attempt in range(1, self.retries + 1):
            with _apprise_log() as log:
                try:
                    sender = apprise.Apprise()
                    sender.add(chosen.url)
                    for plugin in sender:
                        plugin.socket_connect_timeout = plugin.socket_read_timeout = TIMEOUT_SECONDS
                    ok = bool(sender.notify(body=body, title=title, notify_type=kind))
                except Exception as exc:  # a plugin's bug must not stop a watch or a drill
                    ok, log.lines = False, [*log.lines, f"{type(exc).__name__}: {exc}"]
            if ok:
                return Delivery(chosen.shown, True, attempt, _now())
            error = chosen.redact(one_line(log.text() or "the target refused the message"))
            if attempt < self.retries:
                self.sleep(wait)
                wait *= 2
        return Delivery(chosen.shown, False, self.retries, _now(), error)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
