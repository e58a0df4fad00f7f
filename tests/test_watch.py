"""`bascule watch` without a network: the state machine, the regulatory deadlines, notifications to a local
receiver (retries, secrets), the incident record, the public page and the metrics file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from bascule.cli import watch as cli_watch
from bascule.cli.app import app
from bascule.readiness.probes import DnsResult
from bascule.readiness.site import CertInfo, SiteReadiness
from bascule.readiness.target import DrillTarget
from bascule.readiness.verify import PRIMARY, ServiceReadiness
from bascule.watch import incident as incidents
from bascule.watch import metrics, page, store
from bascule.watch.notify import Notifier, TargetError, target
from bascule.watch.observe import MIXED, SECONDARY, Observation, Watched, serving
from bascule.watch.regulatory import add_month, deadlines, dora_deadlines, nis2_deadlines
from bascule.watch.states import OK_STATES, State, Transition, classify, measured, public_detail

ROOT = Path(__file__).resolve().parent.parent
HOST = "checkout.example.com"
T0 = datetime(2026, 1, 31, 9, 15, tzinfo=UTC)


# --- a local receiver for apprise's json:// ----------------------------------------------------------------------


class Receiver:
    """A tiny HTTP server taking apprise's JSON POSTs: what arrived, with which headers; `fail_next` answers 500."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_next = 0
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the http.server interface names it
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if received.fail_next > 0:
                    received.fail_next -= 1
                    self.send_response(500)
                else:
                    received.messages.append(json.loads(body))
                    received.headers.append(dict(self.headers))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


SECRET = "TOPSECRET"


def secret_url(port: int) -> str:
    """A JSON webhook whose password, path and header all carry a token, as real webhooks do."""
    return f"json://user:{SECRET}pass@127.0.0.1:{port}/hooks/{SECRET}path?+X-Token={SECRET}header"


# --- observations made up, to drive the state machine --------------------------------------------------------------


def site(role: str, ready: bool, days: float = 80) -> SiteReadiness:
    cert = CertInfo(f"CN={HOST}", [HOST], "CN=ca", "2026-04-01T00:00:00+00:00", days)
    found = SiteReadiness(role, "127.0.0.2" if role == PRIMARY else "127.0.0.3", 443, HOST, "/healthz", cert, True,
                          200 if ready else 503, role)  # fmt: skip
    if not ready:
        found.problems.append(f"{role} {found.address}: health /healthz for {HOST} answered HTTP 503")
    return found


def observation(where: str, primary: bool = True, secondary: bool = True, drill: str | None = None) -> Observation:
    sites = [site(PRIMARY, primary), site(SECONDARY, secondary)]
    answers = {PRIMARY: ["127.0.0.2"], SECONDARY: ["127.0.0.3"]}
    resolvers = [PRIMARY, SECONDARY] if where == MIXED else [where, where]
    dns = [DnsResult(f"r{i}", answers.get(w, []), w, None, 1.0) for i, w in enumerate(resolvers)]
    problems = [p for s in sites for p in s.problems]
    problems += [f"dns {d.resolver}: {HOST} answers {d.site}, not the primary" for d in dns if d.site != PRIMARY]
    readiness = ServiceReadiness("checkout", HOST, "test", sites, dns, problems)
    return Observation("checkout", HOST, T0, readiness, serving(readiness), drill)


def test_serving_reads_the_resolvers() -> None:
    assert observation(PRIMARY).serving == PRIMARY
    assert observation(SECONDARY).serving == SECONDARY
    assert observation(MIXED).serving == MIXED


def test_the_done_when_sequence_of_states() -> None:
    steps = [
        (observation(PRIMARY), State.HEALTHY),
        (observation(PRIMARY, secondary=False), State.DEGRADED),
        (observation(SECONDARY, primary=False), State.FAILED_OVER),
        (observation(MIXED, primary=True), State.RECOVERING),
        (observation(PRIMARY), State.RESTORED),
        (observation(PRIMARY), State.HEALTHY),
    ]
    state: State | None = None
    for seen, expected in steps:
        state, causes = classify(seen, state)
        assert state is expected
        assert bool(causes) == (expected not in (State.HEALTHY,))


def test_failover_causes_name_the_hostname_and_the_primary_problem() -> None:
    state, causes = classify(observation(SECONDARY, primary=False), State.HEALTHY)
    assert state is State.FAILED_OVER
    assert causes[0] == f"DNS sends clients of {HOST} to the secondary"
    assert "primary 127.0.0.2" in causes[1]


def test_a_message_says_what_changed_since_when_why_what_was_measured_and_what_next() -> None:
    seen = observation(PRIMARY, secondary=False)
    state, causes = classify(seen, State.HEALTHY)
    change = Transition("checkout", HOST, State.HEALTHY, state, T0 + timedelta(minutes=5), T0, causes, measured(seen))
    body = change.body()
    assert change.title() == f"checkout ({HOST}): healthy -> degraded"
    assert "since 2026-01-31 09:20:00 UTC (was healthy since 2026-01-31 09:15:00 UTC)" in body
    assert "secondary 127.0.0.3: health /healthz" in body
    assert "dns r0: 127.0.0.2 (primary)" in body
    assert "Next step: the standby could not take traffic" in body
    drill = Transition("checkout", HOST, State.HEALTHY, State.FAILED_OVER, T0, T0, [], [], drill="/j.jsonl")
    assert drill.title().startswith("[DRILL] ") and "this is a drill" in drill.body()


def test_public_words_name_no_address() -> None:
    for seen in (observation(PRIMARY, secondary=False), observation(SECONDARY, primary=False)):
        state, _ = classify(seen, State.HEALTHY)
        words = public_detail(seen, state)
        assert "127.0.0" not in words and HOST not in words
    assert "standby site is not ready" in public_detail(observation(PRIMARY, secondary=False), State.DEGRADED)


WHERE = st.sampled_from([PRIMARY, SECONDARY, MIXED])


@given(st.lists(st.tuples(WHERE, st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_state_machine_invariants(rounds: list[tuple[str, bool, bool]]) -> None:
    state: State | None = None
    for where, primary, secondary in rounds:
        before = state
        seen = observation(where, primary, secondary)
        state, _causes = classify(seen, before)
        if where != PRIMARY:  # clients away from the primary: never counted as fine
            assert state in (State.FAILED_OVER, State.RECOVERING)
        if state is State.RECOVERING:
            assert before in (State.FAILED_OVER, State.RECOVERING) and primary
        if state is State.RESTORED:
            assert before in (State.FAILED_OVER, State.RECOVERING) and where == PRIMARY and primary and secondary
        if state in OK_STATES:
            assert not seen.readiness.problems


# --- deadlines ----------------------------------------------------------------------------------------------------

MOMENTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@given(MOMENTS)
def test_one_month_is_the_same_day_next_month_or_its_last_day(moment: datetime) -> None:
    later = add_month(moment)
    assert 28 <= (later - moment).days <= 31
    assert (later.month - moment.month) % 12 == 1
    assert later.day == moment.day or (later.day < moment.day and (later + timedelta(days=1)).day == 1)
    assert later.time() == moment.time()


def test_one_month_after_the_31st_of_january() -> None:
    assert add_month(T0) == datetime(2026, 2, 28, 9, 15, tzinfo=UTC)
    assert add_month(datetime(2027, 12, 31, tzinfo=UTC)) == datetime(2028, 1, 31, tzinfo=UTC)


@given(MOMENTS, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
def test_dora_initial_is_4h_after_classification_and_never_past_24h_after_awareness(
    aware: datetime, delay: timedelta
) -> None:
    initial, intermediate, final = dora_deadlines(aware, aware + delay)
    assert initial.due == min(aware + delay + timedelta(hours=4), aware + timedelta(hours=24))
    assert intermediate.due - initial.due == timedelta(hours=72)
    assert final.due == add_month(intermediate.due)
    assert "2025/301 Art. 5" in initial.rule


def test_dora_examples_and_nis2() -> None:
    aware = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    initial, _, _ = dora_deadlines(aware, aware + timedelta(hours=6))
    assert initial.due == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # classified 12:00: 4 h later
    initial, _, _ = dora_deadlines(aware, aware + timedelta(hours=22))
    assert initial.due == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # classified late: the 24 h bound wins
    (unclassified,) = dora_deadlines(aware, None)
    assert unclassified.due == aware + timedelta(hours=24)
    early, notification, final = nis2_deadlines(aware)
    assert (early.due, notification.due, final.due) == (
        datetime(2026, 3, 3, 6, 0, tzinfo=UTC), datetime(2026, 3, 5, 6, 0, tzinfo=UTC),
        datetime(2026, 4, 5, 6, 0, tzinfo=UTC))  # fmt: skip
    assert "NIS2 Art. 23(4)(d)" in final.rule
    assert [d.due for d in deadlines(aware, None)] == sorted(d.due for d in deadlines(aware, None))


# --- notifications --------------------------------------------------------------------------------------------------


def test_a_malformed_url_is_refused_without_repeating_it() -> None:
    for bad in ("nosuch://token123456", "json://", f"slack://{SECRET}", "not a url"):
        with pytest.raises(TargetError) as caught:
            target(bad)
        assert str(caught.value).startswith("--notify ") and SECRET not in str(caught.value)


def test_the_shown_target_keeps_no_secret(receiver: Receiver) -> None:
    shown = target(secret_url(receiver.port)).shown
    assert SECRET not in shown and f"127.0.0.1:{receiver.port}" in shown


def test_delivery_retries_with_backoff_then_succeeds(receiver: Receiver) -> None:
    waits: list[float] = []
    receiver.fail_next = 2
    (delivery,) = Notifier([target(secret_url(receiver.port))], retries=3, backoff=0.5, sleep=waits.append).send(
        "title", "body"
    )
    assert delivery.ok and delivery.attempts == 3 and waits == [0.5, 1.0]
    assert receiver.messages[0]["title"] == "title" and receiver.messages[0]["message"] == "body"
    assert receiver.headers[0]["X-Token"] == f"{SECRET}header"  # the secret reached the target, and only it


def test_a_failed_delivery_is_recorded_redacted_and_never_raised(receiver: Receiver) -> None:
    receiver.fail_next = 10
    (delivery,) = Notifier([target(secret_url(receiver.port))], retries=2, sleep=lambda _s: None).send("t", "b")
    assert not delivery.ok and delivery.attempts == 2
    assert delivery.error and SECRET not in delivery.error and SECRET not in json.dumps(delivery.as_json())


def test_notify_flag_is_checked_at_parse_time(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["watch", "--local", "--once", "--notify", f"slack://{SECRET}",
                                      "--sandbox-dir", str(tmp_path / "none")])  # fmt: skip
    assert result.exit_code == 2
    assert "--notify slack://" in result.output and SECRET not in result.output
    result = CliRunner().invoke(app, ["drill", "--local", "--notify", "nosuch://x", "--dry-run"])
    assert result.exit_code == 2 and "--notify" in result.output


def _loop_with(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, during: Callable[[int], None], *args: str
) -> tuple[Result, list[int]]:
    """`bascule watch --local` (no --once) in this process, its rounds replaced by `during(n)` for round n (which
    may signal this process): the loop's own signal handling, with signals delivered for real."""
    finished: list[int] = []

    def fake_round(*_args: Any) -> None:
        during(len(finished) + 1)
        finished.append(len(finished) + 1)

    there = DrillTarget("checkout", HOST, (), {}, {}, 443, "/healthz", 10.0, "none")
    monkeypatch.setattr(cli_watch, "_services", lambda *_args: [Watched(there, "lock")])
    monkeypatch.setattr(cli_watch, "_round", fake_round)
    result = CliRunner().invoke(app, ["watch", "--local", "--state-file", str(tmp_path / "state.json"), *args])
    return result, finished


def _raise_in(number: int, *signals: signal.Signals) -> Callable[[int], None]:
    def during(current: int) -> None:
        if current == number:
            for sig in signals:
                signal.raise_signal(sig)  # its handler runs before this returns, in this (the main) thread

    return during


def test_the_loop_finishes_its_round_on_a_signal_then_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, finished = _loop_with(monkeypatch, tmp_path, _raise_in(2, signal.SIGTERM), "--interval", "1")
    assert finished == [1, 2]  # round 2 ran to its end after the signal, and no round 3 began
    assert result.exit_code == 0, result.output
    assert "watch stopped by SIGTERM after 2 round(s)" in result.output


def test_a_signal_between_rounds_ends_the_wait(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A signal while the watch waits an hour for its next round stops it then (were it not, this would hang)."""
    timers: list[threading.Timer] = []

    def during(_number: int) -> None:
        timers.append(threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)))
        timers[-1].start()

    try:
        result, finished = _loop_with(monkeypatch, tmp_path, during, "--interval", "3600")
    finally:
        for timer in timers:
            timer.join()
    assert finished == [1] and result.exit_code == 0, result.output
    assert "watch stopped by SIGINT after 1 round(s)" in result.output


def test_a_second_signal_abandons_the_round(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, finished = _loop_with(monkeypatch, tmp_path, _raise_in(2, signal.SIGINT, signal.SIGINT), "--interval", "1")
    assert finished == [1]  # round 2 was left where the second signal found it
    assert result.exit_code == 1
    assert "watch stopped by a second SIGINT: the round under way was abandoned" in result.output
    assert "holds the last finished round's state (1 finished)" in result.output


# --- incident record --------------------------------------------------------------------------------------------------


def test_incident_classify_and_close(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    opened = incidents.open_incident(state_file, "checkout", HOST, T0, ["DNS sends clients to the secondary"])
    assert [d.regime for d in opened.deadlines()] == ["DORA", "NIS2", "NIS2", "NIS2"]
    cli = CliRunner()
    shown = cli.invoke(app, ["incident", "show", "--state-file", str(state_file), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["aware_at"] == "2026-01-31T09:15:00+00:00"
    late = cli.invoke(app, ["incident", "classify", "--major", "--state-file", str(state_file), "--at",
                            "2026-01-31T10:00:00", "--format", "json"])  # fmt: skip
    assert late.exit_code == 2 and "no time zone" in late.output
    done = cli.invoke(app, ["incident", "classify", "--major", "--by", "duty manager", "--state-file",
                            str(state_file), "--at", "2026-01-31T11:15:00+01:00", "--format", "json"])  # fmt: skip
    assert done.exit_code == 0, done.output
    record = json.loads(done.stdout)
    due = {(d["regime"], d["report"]): d["due"] for d in record["deadlines"]}
    assert due[("DORA", "initial notification")] == "2026-01-31T14:15:00+00:00"
    assert due[("DORA", "intermediate report")] == "2026-02-03T14:15:00+00:00"
    assert due[("DORA", "final report")] == "2026-03-03T14:15:00+00:00"
    assert due[("NIS2", "early warning")] == "2026-02-01T09:15:00+00:00"
    closed = cli.invoke(app, ["incident", "close", "--state-file", str(state_file), "--format", "json"])
    assert closed.exit_code == 0 and json.loads(closed.stdout)["recovered_at"] is not None
    again = cli.invoke(app, ["incident", "close", "--state-file", str(state_file)])
    assert again.exit_code == 2 and "no open incident" in again.output
    assert incidents.every(state_file)[0].timeline[1]["text"] == "classified as major by duty manager"


# --- page and metrics -------------------------------------------------------------------------------------------------


def test_page_escapes_everything_and_holds_no_address(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script>'
    state = store.WatchState({hostile: store.ServiceState(State.DEGRADED, "2026-01-31T09:15:00+00:00", hostile,
                                                         "2026-01-31T09:15:00+00:00", ["127.0.0.3 is down"],
                                                         "The standby site is not ready to take over.",
                                                         timeline=[{"at": "2026-01-31T09:15:00+00:00",
                                                                    "state": "degraded", "text": hostile}])})  # fmt: skip
    page.write(tmp_path, state, T0)
    html = (tmp_path / "index.html").read_text()
    assert hostile not in html and "&lt;script&gt;" in html
    doc = json.loads((tmp_path / "status.json").read_text())
    assert doc["overall"] == "degraded" and "127.0.0.3" not in json.dumps(doc)
    assert "<link" not in html and "src=" not in html  # self-contained: uploaded as is


def test_metrics_file_parses_as_prometheus_text(tmp_path: Path) -> None:
    seen = observation(PRIMARY, secondary=False)
    state = store.WatchState({"checkout": store.ServiceState(State.DEGRADED, T0.isoformat(), HOST, T0.isoformat())})
    rows = [{"started": "2026-01-30T09:15:00+00:00", "service": "checkout", "status": "pass", "fault": "health"},
            {"started": "2026-01-01T09:15:00+00:00", "service": "checkout", "status": "fail", "fault": "health"}]  # fmt: skip
    path = tmp_path / "bascule.prom"
    metrics.write(path, metrics.registry([seen], state, rows, T0, 1.5, 0))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(path.read_text()) for s in family.samples}  # fmt: skip
    assert samples[("bascule_site_ready", (("service", "checkout"), ("site", "secondary")))] == 0
    assert samples[("bascule_serving", (("service", "checkout"), ("site", "primary")))] == 1
    assert (
        samples[("bascule_certificate_expires_in_seconds", (("service", "checkout"), ("site", "primary")))]
        == 80 * 86400
    )
    assert samples[("bascule_last_drill_success", (("service", "checkout"),))] == 1
    assert samples[("bascule_last_drill_age_seconds", (("service", "checkout"),))] == 86400
    assert samples[("bascule_service_state", (("bascule_service_state", "degraded"), ("service", "checkout")))] == 1
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run([promtool, "check", "metrics"], input=path.read_text(), capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_rules_parse() -> None:
    """docs/alerts.yml: promtool's own check where Debian's prometheus package is installed (scripts/setup.sh), and
    at least a YAML parse naming only metrics the watch writes."""
    import yaml

    rules = yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text())["groups"][0]["rules"]
    written = {"bascule_site_ready", "bascule_certificate_expires_in_seconds", "bascule_serving",
               "bascule_replication_lag_seconds", "bascule_last_drill_success", "bascule_last_drill_age_seconds",
               "bascule_watch_last_round_timestamp_seconds", "bascule_watch_failed_deliveries"}  # fmt: skip
    for rule in rules:
        assert any(name in rule["expr"] for name in written), rule["alert"]
    promtool = shutil.which("promtool")
    if promtool is None:
        if __import__("os").environ.get("CI"):
            raise AssertionError("promtool is missing in CI: scripts/setup.sh installs Debian's prometheus")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    checked = subprocess.run([promtool, "check", "rules", str(ROOT / "docs" / "alerts.yml")], capture_output=True,
                             text=True)  # fmt: skip
    assert checked.returncode == 0 and "SUCCESS: 9 rules found" in checked.stdout, checked.stdout + checked.stderr
