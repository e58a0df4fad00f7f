"""Run a drill: preflight -> inject -> observe -> restore -> verify failback, all into the journal.

The runner decides nothing about pass or fail; it records. Restore runs on every exit path once a
fault may have been applied: normal end, exception, Ctrl-C, SIGTERM, timeout, the switch going dark.
"""

from __future__ import annotations

import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from bascule.drills.control import ControlError, DrillControl
from bascule.drills.data import DataDrill
from bascule.drills.journal import Journal, Redactor
from bascule.drills.plan import DrillPlan
from bascule.readiness.probes import DnsResult, probe_clients, query_dns
from bascule.readiness.site import client as client_for
from bascule.readiness.target import Resolver
from bascule.readiness.verify import check_sites

PRIMARY, SECONDARY = "primary", "secondary"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Observation:
    """One probe round while a phase is observed, for whoever shows it live (the CLI's status line): the runner
    only reports, it draws nothing."""

    phase: str
    elapsed: float
    """Seconds since the phase began."""
    dns: tuple[tuple[Resolver, DnsResult], ...]
    """Each resolver asked, with what it answered."""
    http: dict[str, Any]
    """What clients got, as `probe_clients` returns it (`site`, `error`, ...)."""


def status_line(observation: Observation) -> str:
    """One probe round as a line: phase, elapsed time, what each resolver answers (named by its kind and address,
    so the authoritative server and a caching resolver are told apart) and where HTTP clients land. The CLI's live
    line on a terminal, and the drill's progress line in a log each time the answers change."""
    parts = [f"{observation.phase} +{observation.elapsed:.1f} s"]
    for resolver, result in observation.dns:
        label = "recursor" if resolver.kind == "recursive" else "authoritative"
        where = f"{resolver.address}:{resolver.port}"
        named = "" if resolver.name in (resolver.address, where) or label in resolver.name else f" ({resolver.name})"
        parts.append(f"{label} {where}{named} -> {result.site or result.error}")
    http = observation.http
    parts.append(f"HTTP -> {http['site']}" if http.get("site") else f"HTTP failed: {http.get('error')}")
    return " | ".join(parts)


Watch = Callable[[Observation], None]
READINESS_TIMEOUT = 5.0
"""Seconds each readiness step (connect, handshake, health) may take: a site slower than a health checker's
timeout is reported as such, but a standby is not refused for a slow first connection."""


class DrillInterrupted(BaseException):
    """A stop was asked for (SIGTERM, Ctrl-C): raised at the runner's next checkpoint, so restore runs."""


_requested: list[str] = []


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into a request the runner honours at its next checkpoint (within one poll).

    The handler only records the signal: an exception raised from inside a library call (a DNS parse,
    an HTTP read) can be swallowed or rewritten by that library, and a stop must never be lost.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        _requested.append(signal.Signals(signum).name)

    _requested.clear()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _requested.clear()


def stop_requested() -> str | None:
    """The first stop asked for since `signals_interrupt` began (a signal name), if any."""
    return _requested[0] if _requested else None


def checkpoint() -> None:
    if _requested:
        raise DrillInterrupted(_requested[0])


def preflight(
    plan: DrillPlan, client: httpx.Client, journal: Journal, progress: Progress, control: DrillControl
) -> list[str]:
    """Steady state before any fault: each site ready for the hostname when asked directly (TLS, certificate,
    health), then every resolver answering the primary within the preflight wait. Readiness is checked once: a
    certificate or binding problem does not heal in seconds, and a drill must not start on a standby that cannot
    serve."""
    blockers = control.problems()
    if blockers:
        journal.append("preflight", ok=False, problems=blockers)
        return blockers
    target = plan.target
    progress(f"readiness: checking {', '.join(f'{r} {a}' for r, a in target.addresses.items())} for {target.hostname}")
    sites = check_sites(target, plan.trust, READINESS_TIMEOUT)
    journal.append("readiness", sites=[s.as_json() for s in sites])
    problems = [line for site in sites for line in site.problems] + control.risks()
    if problems and plan.force_reason:
        # The operator's call, on record: the report shows the reason and every problem it overrode.
        progress(f"forced ({plan.force_reason}): going on despite {'; '.join(problems)}")
        journal.append("forced", reason=plan.force_reason, overridden=problems)
    elif problems:
        journal.append("preflight", ok=False, problems=problems)
        return problems
    deadline = time.monotonic() + plan.preflight_timeout
    progress(f"preflight: waiting up to {plan.preflight_timeout:g} s for DNS to answer the primary")
    while True:
        problems = []
        for resolver in target.resolvers:
            result = query_dns(resolver, target, plan.probe_timeout)
            if result.error:
                problems.append(f"resolver {resolver.name} did not answer: {result.error}")
            elif result.site != PRIMARY:
                problems.append(f"resolver {resolver.name} answers {result.answers} ({result.site}), not the primary")
        if not problems or time.monotonic() > deadline:
            journal.append("preflight", ok=not problems, problems=problems)
            return problems
        checkpoint()
        time.sleep(plan.poll_interval)


def dry_run(
    plan: DrillPlan,
    control: DrillControl,
    redact: Redactor,
    progress: Progress,
    data: Callable[[Journal], DataDrill] | None = None,
) -> list[str]:
    """The preflight alone (with `data`, the data half's too, as a `--data` drill runs it), nothing changed and
    nothing kept (its journal is a scratch file): the problems, redacted, that would refuse the drill."""
    with tempfile.TemporaryDirectory() as scratch:
        journal = Journal(Path(scratch) / "preflight.jsonl", redact)
        with client_for(plan.trust) as client:
            problems = preflight(plan, client, journal, progress, control)
        if not problems and data is not None:
            progress("data: checking the standby database (subscription, slot, lag within the RPO)")
            problems = data(journal).preflight()
        journal.close()
    return [redact(p) for p in problems]


def observe(
    plan: DrillPlan,
    client: httpx.Client,
    journal: Journal,
    phase: str,
    want: str,
    progress: Progress,
    watch: Watch | None = None,
) -> str:
    """Poll at a fixed rate until every resolver and HTTP reach `want`; return why observation ended.

    `progress` gets a line when the state changes; `watch`, if given, every probe round."""
    target = plan.target
    start = time.monotonic()
    deadline = start + plan.timeout_seconds
    dark = 0
    tick = start
    seen: set[str] = set()
    while True:
        checkpoint()
        results = [query_dns(r, target, plan.probe_timeout) for r in target.resolvers]
        # Clients reach a site through a caching resolver: when one is probed, HTTP follows its answer.
        recursive = [res for res, spec in zip(results, target.resolvers, strict=True) if spec.kind == "recursive"]
        answer = next((r.answers for r in recursive + results if r.answers), [])
        http = probe_clients(client, answer, target, plan.probe_timeout)
        journal.append("probe", phase=phase, dns=[r.as_json() for r in results], http=http)
        observation = Observation(
            phase, time.monotonic() - start, tuple(zip(target.resolvers, results, strict=True)), http
        )
        if watch is not None:
            watch(observation)
        state = ",".join(str(r.site) for r in results) + f" http={http['site'] or http['error']}"
        if state not in seen:  # a line per change, naming each resolver as the live line does
            seen.add(state)
            progress(status_line(observation))
        dark = dark + 1 if all(r.error for r in results) else 0
        if dark >= plan.dns_abort_after:
            reason = f"no resolver answered for {dark} probes in a row: the DNS switch itself is unreachable"
            journal.append("abort", phase=phase, reason=reason)
            return "dns-unreachable"
        if all(r.site == want for r in results) and http["site"] == want:
            journal.append("reached", phase=phase, site=want)
            return "reached"
        if time.monotonic() >= deadline:
            journal.append("timeout", phase=phase, after_seconds=plan.timeout_seconds)
            return "timeout"
        tick += plan.poll_interval
        time.sleep(max(0.0, tick - time.monotonic()))


def run_drill(
    plan: DrillPlan,
    control: DrillControl,
    journal: Journal,
    progress: Progress,
    data: DataDrill | None = None,
    watch: Watch | None = None,
) -> None:
    """With `data`, a canary writer runs from before the fault until the restore, and the standby database is
    promoted once the fault is in effect; the failover phase then also waits for the first write on it. `watch`
    sees every probe round of failover and failback (see `observe`)."""
    journal.append("plan", plan=plan.as_json())
    with client_for(plan.trust) as client:
        try:
            problems = preflight(plan, client, journal, progress, control)
            if not problems and data is not None:
                problems = data.preflight()
            checkpoint()  # a stop asked for during preflight: nothing is injected, and the journal says why
        except (KeyboardInterrupt, DrillInterrupted) as exc:
            journal.append("interrupted", signal=str(exc) or "SIGINT", phase="preflight")
            raise
        if problems:
            journal.append("refused", reasons=problems)
            return
        injected = False
        restored = False
        try:
            if data is not None:
                progress("data: canary writer started; measuring replication lag")
                data.start()
                checkpoint()
            progress(f"inject: {plan.fault.value}")
            deadline = datetime.now(UTC) + timedelta(seconds=plan.max_fault_seconds)
            journal.append("inject", fault=plan.fault.value, deadline=deadline.isoformat(timespec="seconds"))
            if journal.write_error is not None:
                # `drill recover` learns from this line that a fault may be in place: without it, no fault.
                journal.append("abort", phase="inject", reason=f"the journal cannot be written ({journal.write_error})"
                               ": nothing injected")  # fmt: skip
                journal.append("end")
                return
            injected = True  # before the call: a half-applied fault must be restored too
            control.inject(plan.fault, deadline)
            journal.append("injected", fault=plan.fault.value)
            checkpoint()
            if data is not None:
                progress("data: promoting the standby database")
                data.promote()
            observe(plan, client, journal, "failover", SECONDARY, progress, watch)
            if data is not None and not data.await_first_write(plan.timeout_seconds):
                journal.append("timeout", phase="first-write", after_seconds=plan.timeout_seconds)
        except ControlError as exc:
            journal.append("abort", phase="inject", reason=str(exc))
        except (KeyboardInterrupt, DrillInterrupted) as exc:
            journal.append("interrupted", signal=str(exc) or "SIGINT", phase="failover")
            raise
        finally:
            try:
                if data is not None:
                    data.stop()  # before the restore: the merge back and the re-seed need a quiet standby
            finally:
                if injected:
                    restored = _restore(plan, control, journal, progress)
        if restored:
            try:
                checkpoint()
                observe(plan, client, journal, "failback", PRIMARY, progress, watch)
                checkpoint()  # a stop asked for during the last probe round is still a stop
            except (KeyboardInterrupt, DrillInterrupted) as exc:
                journal.append("interrupted", signal=str(exc) or "SIGINT", phase="failback")
                raise
        journal.append("end")


def _restore(plan: DrillPlan, control: DrillControl, journal: Journal, progress: Progress) -> bool:
    """Undo the fault. The journal never stands in the way: its appends do not raise (see `Journal`)."""
    progress("restore")
    journal.append("restore", fault=plan.fault.value)
    try:
        control.restore(plan.fault)
    except Exception as exc:  # any failure here must be on record: the fault may still be in place
        error = str(exc) if isinstance(exc, ControlError) else f"{type(exc).__name__}: {exc}"
        journal.append("restore-failed", error=error)
        progress(f"restore FAILED: {error}")
        return False
    journal.append("restored", fault=plan.fault.value)
    return True
