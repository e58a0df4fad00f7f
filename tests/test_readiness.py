"""Standby readiness against real processes on loopback: HTTPS sites routing on SNI and Host, a real PowerDNS.

Nothing here mocks TLS, DNS or HTTP. Each way a real standby fails to serve the hostname (not bound, the
platform's default certificate, an expired certificate, down, slow, unhealthy) must make `verify` say
"not ready" and a drill refuse before touching anything, naming site, address, hostname and what was seen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bascule.drills.control import SandboxControl
from bascule.drills.journal import Journal, read_journal
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.report import summarize, write_reports
from bascule.drills.runner import run_drill
from bascule.readiness.site import Trust, check_site, client, get_as_client
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox
from bascule.sandbox.modes import DOWN, EXPIRED_CERT, HEALTHY, MODES, SLOW, UNBOUND, UNHEALTHY, WRONG_CERT
from bascule.sandbox.pki import DEFAULT_HOSTNAME
from tests.conftest import have_pdns, wait_until

pytestmark = pytest.mark.sandbox
BASCULE = [sys.executable, "-m", "bascule.cli"]
HOST = "checkout.sandbox.test"

if not have_pdns():
    if os.environ.get("CI"):
        raise RuntimeError("pdns_server is missing in CI: .ci/run must install pdns-server pdns-backend-bind")
    pytest.skip("pdns_server not installed (apt-get install pdns-server pdns-backend-bind)", allow_module_level=True)

EXPECTED = {
    UNBOUND: f"secondary 127.0.0.3: health /healthz for {HOST} answered HTTP 404 (the platform's own answer",
    WRONG_CERT: f"secondary 127.0.0.3: certificate is for {DEFAULT_HOSTNAME}, not {HOST}",
    EXPIRED_CERT: f"secondary 127.0.0.3: certificate for {HOST} expired 1 day ago",
    UNHEALTHY: f"secondary 127.0.0.3: health /healthz for {HOST} answered HTTP 503",
    SLOW: f"secondary 127.0.0.3: health /healthz for {HOST} answered after ",
    DOWN: "secondary 127.0.0.3: no TLS answer on port",
}
"""What each broken mode must be reported as: the first words of the one problem line it causes."""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox.start(tmp_path_factory.mktemp("readiness") / "sandbox")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(box: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox, both sites healthy and DNS back on the primary before and after each test."""
    for role in (PRIMARY, SECONDARY):
        box.set_site_mode(role, HEALTHY)
    box.wait_ready()
    yield box
    for role in (PRIMARY, SECONDARY):
        box.set_site_mode(role, HEALTHY)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASCULE, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_healthy_sandbox_is_ready_and_verify_reports_certificates(sandbox: Sandbox) -> None:
    proc = cli("verify", "--local", "--sandbox-dir", sandbox.state.directory, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ready"] is True
    (service,) = report["services"]
    assert service["problems"] == []
    for site in service["sites"]:
        assert site["certificate"]["names"] == [HOST]
        assert site["certificate"]["issuer"] == "CN=Bascule sandbox CA"
        assert 89 <= site["certificate"]["days_left"] <= 90
        assert (site["trusted"], site["status"], site["site"]) == (True, 200, site["role"])
        assert site["latency_ms"] > 0
    assert [d["ok"] for d in service["dns"]] == [True] * len(service["dns"]) and service["dns"]


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_each_broken_standby_refuses_the_drill_and_fails_verify(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    sandbox.set_site_mode(SECONDARY, mode)
    verify = cli("verify", "--local", "--sandbox-dir", sandbox.state.directory, "--format", "json")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    problems = json.loads(verify.stdout)["services"][0]["problems"]
    assert len(problems) == 1 and problems[0].startswith(EXPECTED[mode]), problems

    out = tmp_path / "report"
    drill = cli("drill", "--local", "--sandbox-dir", sandbox.state.directory, "--lock-dir", str(tmp_path / "locks"),
                "--out", str(out))  # fmt: skip
    assert drill.returncode == 3, drill.stdout + drill.stderr
    assert EXPECTED[mode] in drill.stdout
    events = read_journal(out / "journal.jsonl")
    assert "inject" not in [e["kind"] for e in events]  # nothing was touched
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "refused" and report["reasons"][0].startswith(EXPECTED[mode])
    secondary = next(r for r in report["readiness"] if r["role"] == SECONDARY)
    assert secondary["ready"] is False
    assert sandbox.site_mode(PRIMARY) == HEALTHY


def test_every_mode_is_covered() -> None:
    assert set(EXPECTED) == set(MODES) - {HEALTHY}


def test_expired_primary_certificate_is_reported_before_inject(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_site_mode(PRIMARY, EXPIRED_CERT)
    control = SandboxControl(sandbox)
    journal = Journal(tmp_path / "journal.jsonl")
    run_drill(DrillPlan(control.target(), Fault.HEALTH, rto_seconds=10, timeout_seconds=5), control, journal,
              lambda _line: None)  # fmt: skip
    journal.close()
    events = read_journal(tmp_path / "journal.jsonl")
    assert [e["kind"] for e in events] == ["plan", "readiness", "preflight", "refused"]
    (reason,) = events[-1]["reasons"]
    assert reason.startswith(f"primary 127.0.0.2: certificate for {HOST} expired 1 day ago (")
    assert summarize(events)["exit_code"] == 3


def test_min_cert_days_refuses_a_certificate_about_to_expire(sandbox: Sandbox) -> None:
    result = check_site(SECONDARY, "127.0.0.3", sandbox.state.https_port, HOST, "/healthz",
                        Trust(str(sandbox.state.pki.ca), min_cert_days=100))  # fmt: skip
    assert result.trusted and result.status == 200
    assert result.problems == [
        f"secondary 127.0.0.3: certificate for {HOST} expires in 90 days ({result.certificate.not_after[:10]}), "  # type: ignore[union-attr]
        "sooner than the 100 days asked for (--min-cert-days)"
    ]


def test_a_client_without_the_sandbox_ca_does_not_trust_the_site(sandbox: Sandbox) -> None:
    """The system trust store knows nothing of the sandbox CA: trust comes from the bundle, not from skipping checks."""
    result = check_site(SECONDARY, "127.0.0.3", sandbox.state.https_port, HOST, "/healthz", Trust(None))
    assert not result.trusted
    assert result.problems[0].startswith(f"secondary 127.0.0.3: certificate for {HOST} is not trusted:")


def test_sites_route_on_sni_and_host_like_a_platform(sandbox: Sandbox) -> None:
    port, trust = sandbox.state.https_port, Trust(str(sandbox.state.pki.ca))
    with client(trust) as http:
        good = get_as_client(http, "127.0.0.3", port, HOST, "/healthz", 5)
        assert (good.status_code, good.headers["X-Bascule-Site"]) == (200, SECONDARY)
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            get_as_client(http, "127.0.0.3", port, "other.sandbox.test", "/healthz", 5)  # the default certificate
    with client(None) as http:
        other = get_as_client(http, "127.0.0.3", port, "other.sandbox.test", "/healthz", 5)
        assert other.status_code == 404 and "X-Bascule-Site" not in other.headers
        plain = http.get(f"http://127.0.0.3:{sandbox.state.http_port}/healthz", headers={"Host": HOST})
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://{HOST}:{port}/healthz"


def test_powerdns_check_asks_for_the_hostname_but_does_not_verify_certificates(sandbox: Sandbox) -> None:
    """What the sandbox's ifurlup() check sees: an unbound primary (404 for the hostname) is down, so DNS moves;
    a primary presenting the wrong certificate still answers 200, so DNS stays, although clients fail there.
    That gap is why `bascule verify` exists."""
    resolve = lambda: sandbox.resolve(HOST)  # noqa: E731
    sandbox.set_site_mode(PRIMARY, UNBOUND)
    assert wait_until(lambda: resolve() == ["127.0.0.3"]), resolve()
    sandbox.set_site_mode(PRIMARY, HEALTHY)
    assert wait_until(lambda: resolve() == ["127.0.0.2"]), resolve()
    sandbox.set_site_mode(PRIMARY, WRONG_CERT)
    stayed = not wait_until(lambda: resolve() != ["127.0.0.2"], timeout=4 * sandbox.state.failover_bound_seconds)
    assert stayed, "PowerDNS 4.7's ifurlup() was seen verifying certificates: update README and this test"


def test_standby_unbound_after_inject_fails_the_drill_with_404_from_secondary(sandbox: Sandbox, tmp_path: Path) -> None:
    class UnbindSecondary(SandboxControl):
        def inject(self, fault: Fault, deadline: datetime) -> None:
            self.sandbox.set_site_mode(SECONDARY, UNBOUND)
            super().inject(fault, deadline)

    control = UnbindSecondary(sandbox)
    journal = Journal(tmp_path / "journal.jsonl")
    plan = DrillPlan(control.target(), Fault.HEALTH, rto_seconds=10, timeout_seconds=6)
    run_drill(plan, control, journal, lambda _line: None)
    journal.close()
    summary = write_reports(tmp_path, read_journal(tmp_path / "journal.jsonl"))
    assert summary["status"] == "fail"
    assert summary["failover"]["outcome"] == "timeout"
    assert "HTTP 404 from secondary" in summary["failover"]["client_errors"]
    assert any("HTTP 404 from secondary" in reason for reason in summary["reasons"]), summary["reasons"]
    assert "HTTP 404 from secondary" in (tmp_path / "report.md").read_text()


def test_client_errors_name_tls_failures_on_the_standby(sandbox: Sandbox, tmp_path: Path) -> None:
    class WrongCertOnSecondary(SandboxControl):
        def inject(self, fault: Fault, deadline: datetime) -> None:
            self.sandbox.set_site_mode(SECONDARY, WRONG_CERT)
            super().inject(fault, deadline)

    control = WrongCertOnSecondary(sandbox)
    journal = Journal(tmp_path / "journal.jsonl")
    run_drill(DrillPlan(control.target(), Fault.HEALTH, rto_seconds=10, timeout_seconds=6), control, journal,
              lambda _line: None)  # fmt: skip
    journal.close()
    summary: dict[str, Any] = summarize(read_journal(tmp_path / "journal.jsonl"))
    # PowerDNS moves the record (its check does not verify certificates); clients then fail the handshake.
    assert summary["status"] == "fail"
    errors = summary["failover"]["client_errors"]
    assert any(e.startswith("TLS:") and e.endswith("from secondary") for e in errors), errors


def test_sandbox_site_command_sets_modes_and_refuses_unknown_ones(sandbox: Sandbox) -> None:
    directory = sandbox.state.directory
    proc = cli("sandbox", "site", "secondary", "down", "--dir", directory)
    assert proc.returncode == 0 and not sandbox.site_alive(SECONDARY)
    assert sandbox.running()  # a site down on purpose is a state of the sandbox, not a broken sandbox
    proc = cli("sandbox", "site", "secondary", "healthy", "--dir", directory)
    assert proc.returncode == 0 and sandbox.site_alive(SECONDARY)
    bad = cli("sandbox", "site", "secondary", "sideways", "--dir", directory)
    assert bad.returncode == 2 and "no site mode 'sideways'" in bad.stderr
    bad = cli("sandbox", "site", "tertiary", "healthy", "--dir", directory)
    assert bad.returncode == 2 and "no site 'tertiary'" in bad.stderr


def test_verify_junit_names_the_failing_site(sandbox: Sandbox) -> None:
    sandbox.set_site_mode(SECONDARY, WRONG_CERT)
    proc = cli("verify", "--local", "--sandbox-dir", sandbox.state.directory, "--format", "junit")
    assert proc.returncode == 1
    suite = ET.fromstring(proc.stdout).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["site secondary 127.0.0.3"]


def test_verify_without_a_sandbox_is_bad_input(tmp_path: Path) -> None:
    proc = cli("verify", "--local", "--sandbox-dir", str(tmp_path / "none"))
    assert proc.returncode == 2 and f"start one with `bascule sandbox up --dir {tmp_path / 'none'}`" in proc.stderr
    proc = cli("verify")
    assert proc.returncode == 2 and "choose one target" in proc.stderr
