"""`bascule watch --local` against the real sandbox (PowerDNS, two loopback HTTPS sites), notifying a local
receiver through apprise's json://: the issue's Done-when sequence, end to end through the command line."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bascule.drills.control import SandboxControl
from bascule.drills.lock import DrillLock
from bascule.drills.plan import Fault
from bascule.drills.stack_control import stack_lock_key
from bascule.sandbox import PRIMARY, Sandbox, SandboxService
from bascule.sandbox.modes import HEALTHY, SLOW, UNBOUND
from bascule.watch import store
from bascule.watch.observe import MIXED, SECONDARY
from bascule.watch.states import State
from tests.conftest import BrowserPage, have_pdns, wait_until
from tests.test_stack_drills import SandboxStack, _fake_pulumi
from tests.test_watch import SECRET, Receiver, secret_url

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]

if not have_pdns():
    pytest.skip("pdns_server not installed (apt-get install pdns-server pdns-backend-bind)", allow_module_level=True)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox.start(tmp_path / "sandbox")
    yield box
    box.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


class Watch:
    """`bascule watch --local --once` with one set of files, and every output kept to look for secrets in."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path, receiver: Receiver):
        self.sandbox, self.tmp, self.receiver = sandbox, tmp_path, receiver
        self.status, self.metrics, self.state = (
            tmp_path / "status",
            tmp_path / "bascule.prom",
            tmp_path / "w" / "s.json",
        )
        self.locks = tmp_path / "locks"
        self.outputs: list[str] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*BASCULE, *args], capture_output=True, text=True, timeout=120)
        self.outputs += [done.stdout, done.stderr]
        return done

    def once(self) -> tuple[int, dict[str, Any]]:
        done = self.run("watch", "--local", "--once", "--sandbox-dir", str(self.sandbox.dir), "--status-dir",
                        str(self.status), "--notify", secret_url(self.receiver.port), "--metrics-file",
                        str(self.metrics), "--state-file", str(self.state), "--lock-dir", str(self.locks),
                        "--format", "json")  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)

    def until(self, state: str, timeout: float = 40, serving: str | None = None) -> tuple[int, dict[str, Any]]:
        """Rounds until the service is in `state` (and DNS sends clients to `serving`, when given)."""
        seen: list[tuple[int, dict[str, Any]]] = []

        def reached() -> bool:
            seen.append(self.once())
            found = seen[-1][1]["services"][0]
            return bool(found["state"] == state and serving in (None, found["serving"]))

        assert wait_until(reached, timeout), seen[-1][1]
        return seen[-1]

    def incidents(self) -> list[dict[str, Any]]:
        done = self.run("incident", "show", "--all", "--state-file", str(self.state), "--format", "json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

    def no_secret_anywhere(self) -> None:
        written = [
            p.read_text() for p in self.tmp.rglob("*") if p.is_file() and p.suffix in (".json", ".html", ".prom")
        ]
        for text in self.outputs + written:
            assert SECRET not in text


def test_done_when_healthy_degraded_failover_restored(sandbox: Sandbox, tmp_path: Path, receiver: Receiver) -> None:
    watch = Watch(sandbox, tmp_path, receiver)
    code, _ = watch.once()
    assert code == 0
    assert (watch.status / "index.html").is_file() and (watch.status / "status.json").is_file()
    assert "bascule_site_ready" in watch.metrics.read_text()
    hostname = sandbox.state.service.hostname

    assert watch.run("sandbox", "site", "secondary", "unbound", "--sandbox-dir", str(sandbox.dir)).returncode == 0
    code, doc = watch.once()
    assert code == 1 and doc["services"][0]["state"] == "degraded"
    message = receiver.messages[-1]
    assert hostname in message["title"] and "degraded" in message["title"]
    assert "secondary 127.0.0.3: health /healthz" in message["message"] and "HTTP 404" in message["message"]
    assert "Next step:" in message["message"]
    page = (watch.status / "index.html").read_text()
    assert "degraded" in page and "The standby site is not ready to take over." in page
    status = json.loads((watch.status / "status.json").read_text())
    assert status["overall"] == "degraded" and "127.0.0" not in json.dumps(status)
    assert receiver.headers[-1]["X-Token"] == f"{SECRET}header"

    watch.run("sandbox", "site", "secondary", "healthy", "--sandbox-dir", str(sandbox.dir))
    watch.until("healthy")
    watch.run("sandbox", "site", "primary", "down", "--sandbox-dir", str(sandbox.dir))  # a real outage, no drill
    code, doc = watch.until("failed_over")
    assert code == 1
    (opened,) = watch.incidents()
    assert opened["open"] and opened["service"] == sandbox.state.service.name
    regimes = {(d["regime"], d["report"]) for d in opened["deadlines"]}
    assert {("DORA", "initial notification"), ("NIS2", "early warning"), ("NIS2", "incident notification"),
            ("NIS2", "final report")} <= regimes  # fmt: skip
    aware = datetime.fromisoformat(opened["aware_at"])
    initial = next(d for d in opened["deadlines"] if d["report"] == "initial notification")
    assert datetime.fromisoformat(initial["due"]) == aware + timedelta(hours=24)
    failed = receiver.messages[-1]
    assert "failed over" in failed["title"] and not failed["title"].startswith("[DRILL]")
    assert f"Incident {opened['id']} opened" in failed["message"] and "NIS2 early warning" in failed["message"]

    classified = watch.run("incident", "classify", "--major", "--state-file", str(watch.state), "--format", "json")
    assert classified.returncode == 0, classified.stderr
    dora = {d["report"]: d["due"] for d in json.loads(classified.stdout)["deadlines"] if d["regime"] == "DORA"}
    assert set(dora) == {"initial notification", "intermediate report", "final report"}

    watch.run("sandbox", "site", "primary", "healthy", "--sandbox-dir", str(sandbox.dir))
    watch.until("restored")
    assert "restored" in receiver.messages[-1]["title"]
    closed = watch.run("incident", "close", "--state-file", str(watch.state), "--format", "json")
    assert closed.returncode == 0 and json.loads(closed.stdout)["recovered_at"] is not None
    watch.no_secret_anywhere()


CACHED_TTL = 20
"""The record's TTL in the recovery test: how long the sandbox's caching recursor keeps the secondary's answer once
the authoritative server answers the primary again; a few watch rounds fit in it, even on a loaded machine."""


def test_recovering_while_a_caching_resolver_still_sends_clients_to_the_secondary(
    tmp_path: Path, receiver: Receiver
) -> None:
    """What clients see after the primary returns: the authoritative server answers the primary at its next health
    check, but a caching resolver keeps handing out the secondary's address until the record's TTL runs out. The
    watch asks both (the sandbox's PowerDNS and its pdns_recursor), so it sees them disagree while the primary is
    ready: recovering, then restored once the cached answer expires, each change notified."""
    box = Sandbox.start(tmp_path / "sandbox", SandboxService(ttl=CACHED_TTL))
    try:
        if box.state.resolver_port is None:
            pytest.skip("pdns_recursor not installed (apt-get install pdns-recursor): no caching resolver to lag")
        watch = Watch(box, tmp_path, receiver)
        hostname, recursor = box.state.service.hostname, box.state.resolver_port
        assert watch.once()[0] == 0
        watch.run("sandbox", "site", "primary", "down", "--sandbox-dir", str(box.dir))
        # Failed over for every client: the recursor's cached answer for the primary has expired too.
        watch.until("failed_over", CACHED_TTL + 30, serving=SECONDARY)
        assert box.resolve(hostname, port=recursor) == ["127.0.0.3"]  # cached now, for up to CACHED_TTL s

        watch.run("sandbox", "site", "primary", "healthy", "--sandbox-dir", str(box.dir))
        code, _ = watch.until("recovering", CACHED_TTL, serving=MIXED)
        assert code == 1
        message = receiver.messages[-1]
        assert message["title"].endswith("failed over -> recovering") and hostname in message["title"]
        assert "the primary site is ready again" in message["message"]
        assert "Next step: the primary answers again; wait for every resolver to move back" in message["message"]
        status = json.loads((watch.status / "status.json").read_text())
        assert status["overall"] == "recovering"
        assert status["components"][0]["summary"] == "The primary site is back; traffic is moving back to it."

        code, _ = watch.until("restored", CACHED_TTL + 15, serving=PRIMARY)
        assert code == 0
        assert receiver.messages[-1]["title"].endswith("recovering -> restored")
        assert box.resolve(hostname, port=recursor) == ["127.0.0.2"]
        before = len(receiver.messages)
        assert watch.once()[0] == 0
        assert json.loads(watch.state.read_text())["services"][box.state.service.name]["state"] == "healthy"
        assert len(receiver.messages) == before  # the clean round after restored is quiet
        watch.no_secret_anywhere()
    finally:
        box.stop()


def test_a_drill_notifies_as_a_drill_and_opens_no_incident(
    sandbox: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    watch = Watch(sandbox, tmp_path, receiver)
    assert watch.once()[0] == 0
    control = SandboxControl(sandbox)
    lock = DrillLock(watch.locks, control.lock_key())
    lock.acquire({"journal": str(tmp_path / "drill" / "journal.jsonl")})  # this test is the drill holding the lock
    try:
        control.inject(Fault.OUTAGE, datetime.now(UTC) + timedelta(minutes=5))
        _code, doc = watch.until("failed_over")
        assert doc["services"][0]["drill"]
        assert receiver.messages[-1]["title"].startswith("[DRILL] ")
        assert "No incident opened: the failover is a drill's." in receiver.messages[-1]["message"]
    finally:
        control.restore(Fault.OUTAGE)
        lock.release()
    assert watch.incidents() == []
    watch.until("healthy")

    # The drill command announces its own start and end, marked as a drill.
    before = len(receiver.messages)
    done = watch.run("drill", "--local", "--sandbox-dir", str(sandbox.dir), "--lock-dir", str(watch.locks), "--out",
                     str(tmp_path / "report"), "--notify", secret_url(receiver.port), "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    titles = [m["title"] for m in receiver.messages[before:]]
    assert titles[0].endswith("failover drill starting") and titles[-1].endswith("drill ended: PASS")
    assert all(t.startswith("[DRILL] ") for t in titles)
    assert watch.incidents() == []
    watch.no_secret_anywhere()


def test_watch_stack_watches_what_the_stack_state_names(sandbox: Sandbox, tmp_path: Path, receiver: Receiver) -> None:
    """`bascule watch --stack` through the seam `verify --stack` uses: a stand-in `pulumi` on PATH answers the
    Automation API's `stack export` with the state the real program produces, so the watched service (hostname,
    sites, port, health path) comes from its FailoverService's registered outputs; the sites behind those
    addresses are the sandbox's (real TLS, real DNS). A drill holding the stack's lock makes a failover a drill's."""
    env = _fake_pulumi(tmp_path, SandboxStack(sandbox).state)
    state, locks = tmp_path / "w" / "state.json", tmp_path / "locks"

    def once(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BASCULE, "watch", "--stack", "drill", "--cwd", str(tmp_path), "--once", "--no-authoritative",
             "--resolver", f"127.0.0.1:{sandbox.state.dns_port}", "--ca-bundle", str(sandbox.state.pki.ca),
             "--state-file", str(state), "--lock-dir", str(locks), "--status-dir", str(tmp_path / "status"),
             "--notify", secret_url(receiver.port), "--format", "json", *extra],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip

    first = once()
    assert first.returncode == 0, first.stderr
    (seen,) = json.loads(first.stdout)["services"]
    assert (seen["service"], seen["hostname"], seen["state"], seen["serving"]) == (
        "checkout", "checkout.sandbox.test", "healthy", "primary")  # fmt: skip

    sandbox.set_site_mode("secondary", UNBOUND)
    try:
        degraded = once("--service", "checkout")
    finally:
        sandbox.set_site_mode("secondary", HEALTHY)
    assert degraded.returncode == 1, degraded.stderr
    assert json.loads(degraded.stdout)["services"][0]["state"] == "degraded"
    message = receiver.messages[-1]
    assert message["title"] == "checkout (checkout.sandbox.test): healthy -> degraded"
    assert "secondary 127.0.0.3: health /healthz for checkout.sandbox.test answered HTTP 404" in message["message"]

    lock = DrillLock(locks, stack_lock_key(tmp_path, "drill"))  # the key `drill --stack drill --cwd DIR` takes
    lock.acquire({"journal": str(tmp_path / "drill" / "journal.jsonl")})
    sandbox.set_switched(True)  # what the drill's `switch` update does to the zone
    try:
        switched = once()
    finally:
        sandbox.set_switched(False)
        lock.release()
    assert switched.returncode == 1, switched.stderr
    (seen,) = json.loads(switched.stdout)["services"]
    assert (seen["state"], seen["serving"], bool(seen["drill"])) == ("failed_over", "secondary", True)
    assert receiver.messages[-1]["title"].startswith("[DRILL] checkout (checkout.sandbox.test): degraded -> ")

    unknown = once("--service", "nosuch")
    assert unknown.returncode == 2 and "nosuch" in unknown.stderr, unknown.stderr
    for text in (first.stdout, first.stderr, degraded.stderr, state.read_text()):
        assert SECRET not in text


def _rounds_seen(metrics_file: Path) -> float | None:
    """When the watch's last round ended, from its metrics file (replaced in one step each round)."""
    try:
        text = metrics_file.read_text()
    except FileNotFoundError:
        return None
    found = re.search(r"^bascule_watch_last_round_timestamp_seconds (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


class Loop:
    """`bascule watch --local --interval 1` running in the background, its rounds counted from its metrics file."""

    def __init__(self, watch: Watch):
        self.watch, self.rounds = watch, set[float]()
        with (watch.tmp / "loop.out").open("w") as out, (watch.tmp / "loop.err").open("w") as err:
            self.proc = subprocess.Popen(
                [*BASCULE, "watch", "--local", "--interval", "1", "--sandbox-dir", str(watch.sandbox.dir),
                 "--status-dir", str(watch.status), "--notify", secret_url(watch.receiver.port), "--metrics-file",
                 str(watch.metrics), "--state-file", str(watch.state), "--lock-dir", str(watch.locks)],
                stdout=out, stderr=err, text=True,
            )  # fmt: skip

    def wait_rounds(self, more: int, timeout: float = 60) -> None:
        """Until `more` rounds beyond those already counted have ended."""
        wanted = len(self.rounds) + more

        def enough() -> bool:
            assert self.proc.poll() is None, (self.watch.tmp / "loop.err").read_text()
            seen = _rounds_seen(self.watch.metrics)
            if seen is not None:
                self.rounds.add(seen)
            return len(self.rounds) >= wanted

        assert wait_until(enough, timeout)

    def stop(self, sig: signal.Signals) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        out, err = ((self.watch.tmp / f"loop.{name}").read_text() for name in ("out", "err"))
        self.watch.outputs += [out, err]
        return code, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def test_the_interval_loop_keeps_state_between_rounds_and_stops_cleanly_on_sigterm(
    sandbox: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    watch = Watch(sandbox, tmp_path, receiver)
    loop = Loop(watch)
    try:
        loop.wait_rounds(2)
        assert [m["title"] for m in receiver.messages] == []  # first sight of a healthy service is quiet
        watch.run("sandbox", "site", "secondary", "unbound", "--sandbox-dir", str(sandbox.dir))
        assert wait_until(
            lambda: store.load(watch.state).services[sandbox.state.service.name].state is State.DEGRADED, 60
        )
        loop.wait_rounds(3)  # still degraded: the state carried from round to round, so no second message
        assert [m["title"].endswith("healthy -> degraded") for m in receiver.messages] == [True]
        code, out, err = loop.stop(signal.SIGTERM)
    finally:
        loop.kill()
        watch.run("sandbox", "site", "secondary", "healthy", "--sandbox-dir", str(sandbox.dir))
    assert code == 0, err
    assert "Traceback" not in out + err and "watch stopped by SIGTERM after" in out
    kept = store.load(watch.state)  # whole and readable: the state of the last finished round
    assert kept.services[sandbox.state.service.name].state is State.DEGRADED and len(kept.deliveries) == 1
    assert json.loads((watch.status / "status.json").read_text())["overall"] == "degraded"
    watch.no_secret_anywhere()


def test_ctrl_c_during_a_slow_round_lets_it_finish(sandbox: Sandbox, tmp_path: Path, receiver: Receiver) -> None:
    """A secondary whose health answers after 3 s makes every round that long: SIGINT then lands in a round,
    which finishes and writes its state before the watch exits."""
    watch = Watch(sandbox, tmp_path, receiver)
    sandbox.set_site_mode("secondary", SLOW)
    loop = Loop(watch)
    try:
        loop.wait_rounds(1)
        code, out, err = loop.stop(signal.SIGINT)
    finally:
        loop.kill()
        sandbox.set_site_mode("secondary", HEALTHY)
    assert code == 0, err
    assert "Traceback" not in out + err and "watch stopped by SIGINT after" in out
    assert sandbox.state.service.name in store.load(watch.state).services
    watch.no_secret_anywhere()


def test_the_status_page_reads_right_in_a_browser(
    sandbox: Sandbox, tmp_path: Path, receiver: Receiver, browser_page: BrowserPage
) -> None:
    """The public page as a reader opens it (headless Chromium, served over HTTP): the overall badge, each service's
    state in plain words, the timeline, nothing broken, and no address of a site."""
    watch = Watch(sandbox, tmp_path, receiver)
    assert watch.once()[0] == 0
    page = browser_page.open(watch.status, "index.html")
    overall = page.locator("#overall")
    assert overall.is_visible() and page.title() == f"Service status: {overall.inner_text()}"
    rows = page.locator("#components tr")
    assert rows.count() == 2  # the header and the sandbox's one service
    assert sandbox.state.service.hostname in rows.nth(1).inner_text()

    watch.run("sandbox", "site", "secondary", "unbound", "--sandbox-dir", str(sandbox.dir))
    assert watch.once()[0] == 1
    page.reload(wait_until="load")
    badge = page.locator("#components tr").nth(1).locator(".badge")
    assert badge.is_visible() and "degraded" in badge.get_attribute("class", timeout=5000).split()
    assert "The standby site is not ready to take over." in page.locator("#components").inner_text()
    assert page.locator("#timeline li").count() >= 1
    assert "127.0.0." not in page.locator("body").inner_text()
    assert browser_page.errors == []
