"""Drills against a Pulumi stack, through the same control interface, without the Pulumi CLI.

The stand-in backend is honest about both halves: its outputs come from the real root program run offline
(so the control reads the real output shape), each `up` re-runs that program with the drill config the
control set (so a config the program rejects fails the `up`), and the fault lands on the sandbox, whose
real PowerDNS plays the cloud's DNS for the real probes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bascule.components.program import main as program
from bascule.data import pair_from_state, problems, promote, status
from bascule.drills import history, recovery
from bascule.drills.control import ControlError
from bascule.drills.data import StackDataDrill
from bascule.drills.journal import REDACTED, Journal, Redactor, read_journal
from bascule.drills.lock import DrillLock, LockHeld
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.report import summarize, write_reports
from bascule.drills.runner import DrillInterrupted, run_drill
from bascule.drills.schedule import parse_blackout, window_delay
from bascule.drills.stack_control import (
    AutomationBackend,
    CliMissing,
    PulumiStackControl,
    deployed_services,
    drill_from_state,
    fault_changes,
    fault_targets,
    make_backend,
)
from bascule.offline.engine import ProgramError, load_program_dir, run_offline
from bascule.readiness.site import Trust
from bascule.readiness.target import Resolver
from bascule.readiness.verify import assess
from bascule.sandbox import PRIMARY, Sandbox
from bascule.sandbox.modes import HEALTHY, UNBOUND, WRONG_CERT
from bascule.sandbox.pki import DEFAULT_HOSTNAME
from bascule.spec import DRILL_KEY, SERVICE_TYPE, SERVICES_KEY
from tests.conftest import ROOT, have_pdns, have_postgres, standby_resource, wait_until

SECRET = "hunter2-db-password-7f3a"
CONFIG_SECRET = "pdns-api-key-0c41e9"
DEPLOYED_AT = {"192.0.2.2": "127.0.0.2", "192.0.2.3": "127.0.0.3"}


class SandboxStack:
    """A deployed stack as the Automation API shows it: state and outputs from running `program` offline."""

    def __init__(
        self,
        sandbox: Sandbox,
        pending: list[str] | None = None,
        program: Callable[[], None] = program,
        stack_config: dict[str, Any] | None = None,
        project: str = "bascule",
        extra: list[dict[str, Any]] | None = None,
    ):
        self.sandbox = sandbox
        self.extra = extra or []
        """Resources the program does not make but the state holds (a data standby deployed by another program)."""
        self.pending = pending or []
        self.program, self.project = program, project
        self.ups = 0
        self.targets: list[list[str]] = []
        port = sandbox.state.https_port
        self.stack_config: dict[str, Any] = stack_config if stack_config is not None else {
            SERVICES_KEY: [
                {
                    "name": "checkout", "hostname": "checkout.sandbox.test", "criticality": "critical",
                    "rto_seconds": 60,
                    "primary": {"kind": "endpoint", "provider": "aws", "region": "eu-west-3", "address": "192.0.2.2"},
                    "secondary": {"kind": "endpoint", "provider": "azure", "region": "francecentral",
                                  "address": "192.0.2.3"},
                    "health_check": {"protocol": "HTTPS", "port": port, "path": "/healthz", "interval_seconds": 10,
                                     "failure_threshold": 3},
                    "dns": {"kind": "route53", "zone": "sandbox.test", "zone_id": "Z1", "ttl": 1},
                }
            ]
        }  # fmt: skip
        self.state, self.stack_outputs = self._run()  # what `pulumi up` last deployed: read from state, not config
        self.deployed_config = dict(self.stack_config)

    def _run(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Deploy the program: its sites' addresses (which the spec requires to be reachable from elsewhere, so
        never loopback) land on the sandbox's loopback sites, as a real deployment puts them on machines. The state
        lists each resource as `pulumi stack export` does (urn, type, outputs)."""
        run = run_offline(self.program, self.stack_config, project=self.project, stack="drill")
        state = [{"urn": r.urn, "type": r.type, "outputs": r.outputs} for r in run.resources]
        text = json.dumps([state, run.stack_outputs])
        for public, local in DEPLOYED_AT.items():
            text = text.replace(public, local)
        deployed, outputs = json.loads(text)
        return [*deployed, *self.extra], outputs

    def outputs(self) -> dict[str, tuple[Any, bool]]:
        outputs = {key: (value, False) for key, value in self.stack_outputs.items()}
        outputs["db_password"] = (SECRET, True)
        return outputs

    def resources(self) -> list[dict[str, Any]]:
        return self.state

    def config(self) -> dict[str, tuple[str, bool]]:
        plain = {
            key: (value if isinstance(value, str) else json.dumps(value), False)
            for key, value in self.stack_config.items()
        }
        return {**plain, "bascule:powerdnsApiKey": (CONFIG_SECRET, True)}

    def pending_operations(self) -> list[str]:
        return self.pending

    def state_urns(self) -> set[str]:
        return {str(r["urn"]) for r in self.state}

    def clear_pending(self) -> list[str]:
        cleared, self.pending = self.pending, []
        return cleared

    def refresh(self, on_output: Any, targets: list[str]) -> None:
        raise AssertionError("nothing was pending")

    def cancel(self) -> None:
        raise AssertionError("no update was running")

    def drill_config(self) -> str | None:
        return self.stack_config.get(DRILL_KEY)

    def set_drill(self, value: str) -> None:
        self.stack_config[DRILL_KEY] = value

    def clear_drill(self, keep_tag: bool = False) -> None:
        self.stack_config.pop(DRILL_KEY, None)

    def up(self, on_output: Any, targets: list[str]) -> None:
        self.ups += 1
        self.targets.append(targets)
        try:
            self.state, self.stack_outputs = self._run()
            self.deployed_config = dict(self.stack_config)
        except ProgramError as exc:
            raise ControlError(f"pulumi up failed: {exc}") from None
        on_output(f"Updating (drill): connection string postgres://app:{SECRET}@db, PowerDNS key {CONFIG_SECRET}")
        fault = deployed_services(self.state)["checkout"][0].get("drill")
        if fault == "switch":
            self.sandbox.set_switched(True)
        elif fault is None:
            self.sandbox.set_site_mode(PRIMARY, HEALTHY)
            if self.sandbox.state.switched:
                self.sandbox.set_switched(False)

    def targets_for(self, service: str, fault: Fault) -> list[str]:
        """What the control asks before each update: the fault's URNs, from the program with this config."""
        return fault_targets(self.program, self.stack_config, self.project, "drill", service, fault)


needs_pdns = pytest.mark.skipif(not have_pdns() and not os.environ.get("CI"), reason="pdns_server not installed")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox.start(tmp_path / "sandbox")
    yield box
    box.stop()


def control_for(stack: SandboxStack, lines: list[str]) -> PulumiStackControl:
    resolver = Resolver("sandbox-authoritative", "127.0.0.1", stack.sandbox.state.dns_port, "authoritative")
    return PulumiStackControl(
        stack, "drill", Path("."), "checkout", lines.append, resolvers=(resolver,), with_authoritative=False,
        targets_for=stack.targets_for,
        ca_bundle=str(stack.sandbox.state.pki.ca),
    )  # fmt: skip


def run(control: PulumiStackControl, journal_dir: Path, lines: list[str], fault: Fault = Fault.SWITCH) -> Path:
    redact = Redactor(control.secrets())
    journal = Journal(journal_dir / "journal.jsonl", redact)
    plan = DrillPlan(control.target(), fault, rto_seconds=control.rto_seconds(), timeout_seconds=20)
    try:
        run_drill(plan, control, journal, lambda line: lines.append(redact(line)))
    finally:
        journal.close()
    return journal_dir / "journal.jsonl"


@pytest.mark.sandbox
@needs_pdns
def test_full_stack_drill_with_real_probes(sandbox: Sandbox, tmp_path: Path) -> None:
    stack, lines = SandboxStack(sandbox), []
    control = control_for(stack, lines)
    target = control.target()
    assert target.sites == {"primary": ("127.0.0.2",), "secondary": ("127.0.0.3",)}
    assert target.addresses == {"primary": "127.0.0.2", "secondary": "127.0.0.3"}
    assert (target.port, target.health_path) == (sandbox.state.https_port, "/healthz")
    assert target.ca_bundle == str(sandbox.state.pki.ca)
    assert target.failover_bound_seconds == 31
    reports = tmp_path / "report"
    summary = write_reports(reports, read_journal(run(control, reports, lines)))
    assert summary["status"] == "pass", summary["reasons"]
    assert summary["failover"]["by_resolver_kind_s"]["authoritative"] is not None
    assert stack.ups == 2 and stack.drill_config() is None
    # Both updates targeted the one resource the switch changes, the primary's health check, and the service's
    # component, whose registered outputs record the drill in the state.
    assert [[t.rsplit("::", 1)[1] for t in ts] for ts in stack.targets] == [["checkout-dns-primary", "checkout"]] * 2
    assert sandbox.resolve("checkout.sandbox.test") == ["127.0.0.2"]
    # The planted secret went through progress output and would sit in the plan: it is nowhere on disk.
    assert any(REDACTED in line for line in lines)
    assert sorted(p.name for p in reports.iterdir()) == ["journal.jsonl", "report.html", "report.json", "report.md"]
    for path in reports.iterdir():
        assert SECRET not in path.read_text(), path.name
        assert CONFIG_SECRET not in path.read_text(), path.name
    assert all(SECRET not in line and CONFIG_SECRET not in line for line in lines)


@pytest.mark.sandbox
@needs_pdns
def test_a_drill_the_program_rejects_never_touches_the_stack(sandbox: Sandbox, tmp_path: Path) -> None:
    """`health` needs an aws, aws-alb, hetzner or ovhcloud or scaleway primary: working out the fault's targets runs the program, which rejects the drill
    config, so no update runs and restore only clears the marker."""
    stack, lines = SandboxStack(sandbox), []
    summary = summarize(read_journal(run(control_for(stack, lines), tmp_path, lines, Fault.HEALTH)))
    assert summary["status"] == "fail"
    assert any(
        "'health' needs an aws or aws-alb or hetzner or ovhcloud or scaleway primary" in r for r in summary["reasons"]
    )
    assert summary["restore"] == "ok"
    assert stack.drill_config() is None and stack.ups == 0


@pytest.mark.sandbox
@needs_pdns
def test_interrupt_mid_observation_restores_before_exit(sandbox: Sandbox, tmp_path: Path) -> None:
    stack, lines = SandboxStack(sandbox), []
    control = control_for(stack, lines)
    journal = Journal(tmp_path / "journal.jsonl")
    plan = DrillPlan(control.target(), Fault.SWITCH, rto_seconds=60, timeout_seconds=20)

    def progress(line: str) -> None:
        if line.startswith("failover +"):  # an observation line
            raise DrillInterrupted("SIGTERM")  # what signals_interrupt raises when SIGTERM arrives

    with pytest.raises(DrillInterrupted):
        run_drill(plan, control, journal, progress)
    journal.close()
    kinds = [e["kind"] for e in read_journal(tmp_path / "journal.jsonl")]
    assert kinds[-3:] == ["interrupted", "restore", "restored"]
    assert stack.drill_config() is None
    assert not sandbox.state.switched


@pytest.mark.sandbox
@needs_pdns
def test_pending_operations_refuse_without_touching_the_stack(sandbox: Sandbox, tmp_path: Path) -> None:
    stack, lines = SandboxStack(sandbox, pending=["creating urn:pulumi:drill::bascule::aws:ecs/service:Service::x"]), []
    summary = summarize(read_journal(run(control_for(stack, lines), tmp_path, lines)))
    assert summary["status"] == "refused" and summary["exit_code"] == 3
    assert "pending operation: creating" in summary["reasons"][0]
    assert stack.ups == 0 and stack.drill_config() is None


@pytest.mark.sandbox
@needs_pdns
def test_leftover_drill_config_refuses_and_lock_is_per_stack(sandbox: Sandbox, tmp_path: Path) -> None:
    stack, lines = SandboxStack(sandbox), []
    stack.set_drill(json.dumps({"service": "checkout", "fault": "switch"}))
    control = control_for(stack, lines)
    assert any("bascule drill recover" in p for p in control.problems())
    lock = DrillLock(tmp_path / "locks", control.lock_key())
    lock.acquire({"journal": "j"})
    other = DrillLock(tmp_path / "locks", control_for(SandboxStack(sandbox), []).lock_key())
    with pytest.raises(LockHeld):
        other.acquire({"journal": "k"})


def test_cli_missing_is_a_clear_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "--stack", "dev", "--service", "checkout"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert "the Pulumi CLI is not installed" in proc.stderr and "pulumi.com/docs/install" in proc.stderr
    assert "Traceback" not in proc.stderr
    with pytest.raises(CliMissing):
        make_backend("dev", tmp_path)


def test_real_automation_backend_is_used_when_the_cli_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `pulumi` on PATH records what the Automation API asks of the CLI."""
    bin_dir, log = tmp_path / "bin", tmp_path / "pulumi.log"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncase "$1" in version) echo v3.272.0;; esac\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "Pulumi.yaml").write_text("name: bascule\nruntime: python\n")
    backend = make_backend("dev", tmp_path)
    assert isinstance(backend, AutomationBackend)
    assert "stack select --stack dev" in log.read_text()


def test_recover_keeps_the_lock_when_the_stack_cannot_be_reached(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    journal = Journal(tmp_path / "j" / "journal.jsonl")
    journal.append("inject", fault="switch")
    journal.close()
    lock = DrillLock(locks, "pulumi:/nowhere:prod")
    lock.acquire(
        {
            "journal": str(journal.path),
            "fault": "switch",
            "control": {"kind": "pulumi-stack", "stack": "prod", "work_dir": "/nowhere", "service": "checkout"},
        }
    )
    data = json.loads(lock.path.read_text())
    data["pid"] = 999_999_999  # a dead drill
    lock.path.write_text(json.dumps(data))
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "recover", "--lock-dir", str(locks)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert "the Pulumi CLI is not installed" in proc.stderr
    assert lock.path.exists()


def test_blackout_and_window() -> None:
    days = parse_blackout(["2026-12-24..2026-12-26", "2027-01-01"])
    assert days == [date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)]
    with pytest.raises(ValueError, match="'24-12-2026' is not a date"):
        parse_blackout(["24-12-2026"])
    delays = [window_delay(30, random.Random(seed)) for seed in range(50)]
    assert all(0 <= d <= 1800 for d in delays) and len(set(delays)) == 50
    assert window_delay(0, random.Random(1)) == 0


def test_history_trend(tmp_path: Path) -> None:
    base = {"service": "checkout", "target": "t", "fault": "health", "rto_seconds": 300}
    for i, seconds in enumerate([60.0, 62.0, 90.0, 95.0]):
        summary = {**base, "started": f"2026-11-0{i + 1}", "status": "pass",
                   "failover": {"dns_all_s": seconds - 5, "http_s": seconds}, "failback": {"http_s": 30.0}}  # fmt: skip
        history.append(tmp_path, summary, tmp_path)
    trend = history.trend(history.read(tmp_path))["checkout (health)"]
    assert (trend["runs"], trend["passed"], trend["last_s"], trend["trend"]) == (4, 4, 95.0, "slower")
    assert trend["series"] == [60.0, 62.0, 90.0, 95.0]


def test_recover_stack_without_cli_is_a_clear_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "recover", "--stack", "prod", "--service",
                           "checkout"], capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert "the Pulumi CLI is not installed" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.sandbox
@needs_pdns
def test_verify_checks_every_site_a_stack_names(sandbox: Sandbox) -> None:
    control = control_for(SandboxStack(sandbox), [])
    trust = Trust(str(sandbox.state.pki.ca))
    ready = assess(control.target(), trust)
    assert ready.ready, ready.problems
    assert [(s.role, s.address, s.status) for s in ready.sites] == [("primary", "127.0.0.2", 200),
                                                                      ("secondary", "127.0.0.3", 200)]  # fmt: skip
    sandbox.set_site_mode("secondary", WRONG_CERT)
    try:
        broken = assess(control.target(), trust)
    finally:
        sandbox.set_site_mode("secondary", HEALTHY)
    assert broken.problems == [f"secondary 127.0.0.3: certificate is for {DEFAULT_HOSTNAME}, not checkout.sandbox.test"]


@pytest.mark.sandbox
@needs_pdns
def test_verify_stack_cli_through_the_automation_api(sandbox: Sandbox, tmp_path: Path) -> None:
    """`bascule verify --stack` end to end: a stand-in `pulumi` answers `stack export` with the state the real
    program produces, and the sites behind them are the sandbox's (real TLS, real DNS)."""
    deployment = {"version": 3, "deployment": {"resources": SandboxStack(sandbox).state}}
    (tmp_path / "export.json").write_text(json.dumps(deployment))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        "  *version*) echo v3.272.0;;\n"
        f'  *"stack export"*) echo export >> {tmp_path / "exports.log"}; cat {tmp_path / "export.json"};;\n'
        '  *"stack output"*) echo "{}";;\n'
        # No drill marker: `config get` and `stack tag get` of a missing key fail, as the real CLI does.
        '  *"config get"*|*"tag get"*) echo "error: not found" >&2; exit 255;;\n'
        "esac\nexit 0\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "Pulumi.yaml").write_text("name: bascule\nruntime: python\n")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    resolver = f"127.0.0.1:{sandbox.state.dns_port}"
    command = [sys.executable, "-m", "bascule.cli", "verify", "--stack", "drill", "--cwd", str(tmp_path),
               "--no-authoritative", "--resolver", resolver, "--ca-bundle", str(sandbox.state.pki.ca),
               "--format", "json"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    (service,) = report["services"]
    assert service["service"] == "checkout" and service["ready"] is True
    assert [d["answers"] for d in service["dns"]] == [["127.0.0.2"]]

    sandbox.set_site_mode("secondary", UNBOUND)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    finally:
        sandbox.set_site_mode("secondary", HEALTHY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["services"][0]["problems"][0].startswith(
        "secondary 127.0.0.3: health /healthz for checkout.sandbox.test answered HTTP 404"
    )
    no_ca = subprocess.run([*command[:-4], "--format", "json"], capture_output=True, text=True, env=env, timeout=60,
                           check=False)  # fmt: skip
    assert no_ca.returncode == 1  # the system store does not know the sandbox CA: not trusted, not ready


def _prod_stack_config() -> dict[str, Any]:
    return {SERVICES_KEY: yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"][SERVICES_KEY]}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("switch", ["aws:route53/healthCheck:HealthCheck::checkout-dns-primary-drill",
                    "aws:route53/record:Record::checkout-dns-primary"]),
        # Behind Route 53 the target group's own check fails too (the alias inherits the target groups' health).
        ("health", ["aws:lb/listenerRule:ListenerRule::checkout-primary-drill-health",
                    "aws:lb/targetGroup:TargetGroup::checkout-primary-tg"]),
        # Behind Route 53 a check through the listener too (an empty target group is documented both ways).
        ("outage", ["aws:ecs/service:Service::checkout-primary-service",
                    "aws:route53/healthCheck:HealthCheck::checkout-dns-primary-drill",
                    "aws:route53/record:Record::checkout-dns-primary"]),
    ],
)  # fmt: skip
def test_a_fault_targets_only_its_own_resources(fault: str, expected: list[str]) -> None:
    """Targets come from running the program with and without the drill: an image bump waiting in the stack file
    for another service (and for this one) is not deployed by the drill's update. The service's component is
    targeted too: its registered outputs record the drill in the state."""
    config = _prod_stack_config()
    config[SERVICES_KEY][1]["primary"]["image"] = "ghcr.io/example/catalog:9.9.9"  # pending, unrelated
    config[SERVICES_KEY][0]["secondary"]["image"] = "europe-docker.pkg.dev/shop-dr-eu/images/checkout:9.9.9"
    targets = fault_targets(program, config, "bascule", "prod", "checkout", Fault(fault))
    assert [t.split("::", 2)[2].rsplit("$", 1)[-1] for t in targets] == [*expected, f"{SERVICE_TYPE}::checkout"]
    assert all(t.startswith("urn:pulumi:prod::bascule::") for t in targets)


def _state(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"urn": r.urn, "type": r.type, "outputs": r.outputs}
            for r in run_offline(program, config, stack="prod").resources]  # fmt: skip


def test_recover_from_a_fresh_checkout_finds_the_drill_in_the_state() -> None:
    """The stack config file that held `bascule:drill` stayed on the runner that died; the drilled service's
    registered outputs in the state still say which service is drilled and how, so a new runner restores exactly
    that fault's resources."""
    config = _prod_stack_config()
    drilled = _state({**config, DRILL_KEY: json.dumps({"service": "checkout", "fault": "outage"})})
    assert json.loads(drill_from_state(drilled) or "") == {"service": "checkout", "fault": "outage"}
    clean = _state(config)
    assert drill_from_state(clean) is None

    class FreshCheckout:
        """No `bascule:drill` in the checkout's config; the backend's state is the drilled one."""

        def __init__(self) -> None:
            self.state, self.ups = drilled, []

        def outputs(self) -> dict[str, tuple[Any, bool]]:
            return {}

        def resources(self) -> list[dict[str, Any]]:
            return self.state

        def config(self) -> dict[str, tuple[str, bool]]:
            return {}

        def pending_operations(self) -> list[str]:
            return []

        def state_urns(self) -> set[str]:
            return {str(r["urn"]) for r in self.state}

        def clear_pending(self) -> list[str]:
            raise AssertionError("nothing was pending")

        def refresh(self, on_output: Any, targets: list[str]) -> None:
            raise AssertionError("nothing was pending")

        def cancel(self) -> None:
            raise AssertionError("no update was running")

        def drill_config(self) -> str | None:
            return drill_from_state(self.state)

        def set_drill(self, value: str) -> None:
            raise AssertionError("recovery never sets a drill")

        def clear_drill(self, keep_tag: bool = False) -> None:
            pass

        def up(self, on_output: Any, targets: list[str]) -> None:
            self.ups.append(targets)
            self.state = clean

    backend, lines = FreshCheckout(), []
    # Recovery is started for another service name: the stack's own marker decides what is restored.
    control = PulumiStackControl(
        backend, "prod", Path("."), "catalog", lines.append, with_authoritative=False,
        targets_for=lambda service, fault: fault_targets(program, config, "bascule", "prod", service, fault),
    )  # fmt: skip
    leftover = json.loads(backend.drill_config() or "")
    control.restore(Fault(leftover["fault"]))
    # The tasks first (harmful alone, as the AWS site declares), then the check and the record with the component.
    assert [[t.rsplit("::", 1)[1] for t in ts] for ts in backend.ups] == [
        ["checkout-primary-service"],
        ["checkout-dns-primary-drill", "checkout-dns-primary", "checkout"],
    ]
    assert backend.drill_config() is None


def test_secret_service_outputs_are_unwrapped_and_redacted() -> None:
    """A state exported with --show-secrets wraps each secret as `{sig, "plaintext": JSON}`: the control reads the
    value and counts it among the secrets every report redacts."""
    sig = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    state = [{"urn": "urn:pulumi:prod::team::bascule:service:FailoverService::web", "type": SERVICE_TYPE,
              "outputs": {"service": "checkout", "hostname": {**sig, "plaintext": '"checkout.internal.example"'}}}]  # fmt: skip
    services = deployed_services(state)
    assert services == {"checkout": ({"service": "checkout", "hostname": "checkout.internal.example"},
                                     ["checkout.internal.example"])}  # fmt: skip


def test_automation_backend_sends_targets_and_tags_to_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `pulumi` records the command lines the Automation API runs: the drill marker goes to the stack
    config and a stack tag, and `up` carries one `--target` per URN."""
    bin_dir, log = tmp_path / "bin", tmp_path / "pulumi.log"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        'case "$*" in *"stack output"*) echo "{}";; *version*) echo v3.272.0;; *"stack history"*) echo '
        '\'[{"kind": "update", "startTime": "2026-11-23T10:00:00.000Z", "message": "bascule drill", '
        '"environment": {}, "config": {}, "result": "succeeded"}]\';; '
        "esac\nexit 0\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "Pulumi.yaml").write_text("name: bascule\nruntime: python\n")
    backend = make_backend("dev", tmp_path)
    backend.set_drill('{"service": "checkout", "fault": "switch"}')
    urns = ["urn:pulumi:dev::bascule::a$b::one", "urn:pulumi:dev::bascule::a$b::two"]
    backend.up(lambda _line: None, urns)
    calls = log.read_text()
    assert "config set bascule:drill" in calls, calls
    assert "stack tag set bascule:drill" in calls, calls
    (up_line,) = [line for line in calls.splitlines() if " up --yes" in line]
    assert all(f"--target {urn}" in up_line for urn in urns), up_line


README_PROGRAM = ROOT / "tests" / "programs" / "readme_team"


def _readme_stack(sandbox: Sandbox) -> SandboxStack:
    """The README-style program (no `services` output, no `bascule:services`, no drill glue), deployed."""
    project, team_program = load_program_dir(README_PROGRAM)
    config = {f"{project}:health_port": str(sandbox.state.https_port)}
    return SandboxStack(sandbox, program=team_program, stack_config=config, project=project)


@pytest.mark.sandbox
@needs_pdns
def test_a_program_written_as_the_readme_shows_is_drilled_and_verified(sandbox: Sandbox, tmp_path: Path) -> None:
    """The control finds the service in the state (the component's registered outputs), the component reads the
    marker, the updates target the switch's resources, and restore clears the marker and undoes the fault."""
    stack, lines = _readme_stack(sandbox), []
    assert SERVICES_KEY not in stack.stack_config and set(stack.stack_outputs) == {"hostname"}
    control = control_for(stack, lines)
    target = control.target()
    assert target.addresses == {"primary": "127.0.0.2", "secondary": "127.0.0.3"}
    assert (target.hostname, target.port, target.health_path) == (
        "checkout.sandbox.test", sandbox.state.https_port, "/healthz")  # fmt: skip
    assert control.rto_seconds() == 60
    ready = assess(target, Trust(str(sandbox.state.pki.ca)))  # what `bascule verify --stack` runs per service
    assert ready.ready, ready.problems

    reports = tmp_path / "report"
    summary = write_reports(reports, read_journal(run(control, reports, lines)))
    assert summary["status"] == "pass", summary["reasons"]
    prefix = "urn:pulumi:drill::readme-team::bascule:service:FailoverService"
    expected = [f"{prefix}$bascule:dns:Route53Failover$aws:route53/healthCheck:HealthCheck::checkout-dns-primary",
                f"{prefix}::checkout"]  # fmt: skip
    assert stack.targets == [expected, expected]  # inject, then restore: the same resources, nothing else
    assert stack.drill_config() is None and drill_from_state(stack.state) is None
    assert not sandbox.state.switched
    assert sandbox.resolve("checkout.sandbox.test") == ["127.0.0.2"]


def test_dry_run_of_any_program_needs_no_pulumi_cli(tmp_path: Path) -> None:
    """`drill --stack S --cwd DIR --dry-run -f json` runs the README-style program offline: each fault's exact
    resources, or the program's own reason for refusing it, and nothing else on stdout."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "XDG_CACHE_HOME": str(tmp_path)}
    assert shutil.which("pulumi", path=env["PATH"]) is None
    command = [sys.executable, "-m", "bascule.cli", "drill", "--stack", "dev", "--cwd", str(README_PROGRAM),
               "--dry-run", "-f", "json"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    levers = json.loads(proc.stdout)
    assert (levers["stack"], levers["work_dir"]) == ("dev", str(README_PROGRAM))
    (service,) = levers["services"]
    faults = {f["fault"]: f for f in service["faults"]}
    assert service["service"] == "checkout" and set(faults) == {"health", "outage", "switch"}
    prefix = "urn:pulumi:dev::readme-team::bascule:service:FailoverService"
    assert faults["switch"]["resources"] == [
        {"urn": f"{prefix}$bascule:dns:Route53Failover$aws:route53/healthCheck:HealthCheck::checkout-dns-primary",
         "type": "aws:route53/healthCheck:HealthCheck", "name": "checkout-dns-primary"},
        {"urn": f"{prefix}::checkout", "type": SERVICE_TYPE, "name": "checkout"},
    ]  # fmt: skip
    for fault in ("health", "outage"):  # an endpoint primary has no load balancer or tasks Bascule controls
        assert f"'{fault}' needs an aws" in faults[fault]["refused"], faults[fault]
        assert "readme_team/__main__.py:" in faults[fault]["refused"]
    assert "drill in progress" not in proc.stderr  # the drilled runs' own warning is not noise here

    text = subprocess.run(command[:-2], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert text.returncode == 0, text.stderr
    assert "switch: 2 resources targeted" in text.stdout and "nothing was changed" in text.stdout


EXISTING_SERVICE = ROOT / "tests" / "projects" / "existing-service"


def test_dry_run_of_a_stack_works_out_only_the_fault_given(tmp_path: Path) -> None:
    """`--fault switch` with `--stack S --dry-run` printed all three faults; without --fault, all three still.
    A refused fault is named by the drill, not by a `Pulumi.prod.yaml: bascule:drill.fault` key the user never
    wrote (the dry run set that marker itself), and without "a 'aws-alb'"."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "bascule.cli", "drill", "--stack", "prod", "--cwd", str(EXISTING_SERVICE),
               "--dry-run", "-f", "json"]  # fmt: skip

    def faults(*extra: str) -> dict[str, Any]:
        proc = subprocess.run([*command, *extra], capture_output=True, text=True, env=env, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        (service,) = json.loads(proc.stdout)["services"]
        return {f["fault"]: f for f in service["faults"]}

    assert list(faults("--fault", "switch")) == ["switch"]
    everything = faults()
    assert list(everything) == ["health", "outage", "switch"]
    refused = everything["outage"]["refused"]
    assert refused.startswith("'outage' cannot be injected into 'checkout' (its primary is kind 'aws-alb'): "), refused
    assert DRILL_KEY not in refused and "Pulumi.prod.yaml" not in refused
    assert "existing-service/__main__.py:" in refused  # where the program declared the service


def test_a_refused_fault_names_the_flag_not_the_marker() -> None:
    """The real drill works out a fault's resources the same way: its refusal names --fault."""
    project, team_program = load_program_dir(EXISTING_SERVICE)
    config = yaml.safe_load((EXISTING_SERVICE / "Pulumi.prod.yaml").read_text())["config"]
    with pytest.raises(ControlError) as exc:
        fault_changes(team_program, config, project, "prod", "checkout", Fault.OUTAGE)
    assert str(exc.value).startswith("--fault outage: 'outage' cannot be injected into 'checkout' (its primary is ")
    assert DRILL_KEY not in str(exc.value)


needs_pg = pytest.mark.skipif(not have_postgres() and not os.environ.get("CI"), reason="postgresql-15 not installed")


@pytest.fixture(scope="module")
def data_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox with its two PostgreSQL clusters, playing a stack whose data standby is at them."""
    box = Sandbox.start(tmp_path_factory.mktemp("stack-data") / "sandbox", data=True)
    yield box
    box.stop()


@pytest.mark.sandbox
@needs_pdns
@needs_pg
def test_a_data_drill_on_a_stack_promotes_measures_and_fails_back(data_box: Sandbox, tmp_path: Path) -> None:
    """`drill --stack S --data` in-process: the stack's state holds a PostgresStandby whose `bascule_data` points at
    the sandbox's real clusters. The same promotion as `bascule data promote` runs once the fault is in, the figures
    the databases can give are measured (no canary: the stack's app has none), and the restore fails back before the
    primary site returns."""
    stack, lines = SandboxStack(data_box, extra=[standby_resource(data_box, stack="drill")]), []
    control = control_for(stack, lines).with_data()
    assert control.describe()["data"] is True
    pair = pair_from_state(stack.resources(), "drill", "checkout")
    reports = tmp_path / "report"
    journal = Journal(reports / "journal.jsonl", Redactor(control.secrets()))
    plan = DrillPlan(control.target(), Fault.SWITCH, rto_seconds=control.rto_seconds(), timeout_seconds=20,
                     rpo_seconds=pair.rpo_seconds)  # fmt: skip
    try:
        run_drill(plan, control, journal, lines.append, StackDataDrill(pair, journal, plan.rpo_seconds))
    finally:
        journal.close()
    events = read_journal(reports / "journal.jsonl")
    summary = write_reports(reports, events)
    assert summary["status"] == "pass", summary["reasons"]
    data = summary["data"]
    assert data["canary"] is False and data["acknowledged_writes"] is None and data["lost_writes"] is None
    assert data["caught_up"] == {"bascule": True} and data["primary_fenced"] is True
    assert data["promotion_s"] > 0 and data["first_write_s"] is not None and data["lag_samples"] == 1
    kinds = [e["kind"] for e in events]
    assert kinds.index("injected") < kinds.index("promote") < kinds.index("first-write") < kinds.index("restore")
    assert {e["step"] for e in events if e["kind"] == "data-step"} >= {"fence-primary", "open-standby"}
    # The restore failed the data back before the site's update: a replica again, the primary the writer.
    assert any(line.startswith("data failback: open-primary on primary: done") for line in lines)
    assert data_box.data_state() == "replica" and problems(status(data_box.data_pair())) == []
    assert stack.drill_config() is None and data_box.resolve("checkout.sandbox.test") == ["127.0.0.2"]
    assert "not measured: no canary writer" in (reports / "report.md").read_text()
    for secret in pair.secrets():
        assert all(secret not in path.read_text() for path in reports.iterdir())


@pytest.mark.sandbox
@needs_pdns
@needs_pg
def test_recover_fails_back_the_data_of_a_killed_stack_data_drill(
    data_box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `--data` drill killed after its promotion: the lock names a data drill, so `drill recover` fails the data
    back before restoring the site; a drill without --data would leave a promotion alone."""
    stack, lines = SandboxStack(data_box, extra=[standby_resource(data_box, stack="drill")]), []
    control = control_for(stack, lines).with_data()
    control.inject(Fault.SWITCH, datetime.now(UTC) + timedelta(minutes=5))
    promote(data_box.data_pair())
    assert data_box.data_state() == "promoted"
    control_for(stack, lines).restore(Fault.SWITCH)  # no --data: the site back, the promotion left as it is
    assert data_box.data_state() == "promoted"
    control.inject(Fault.SWITCH, datetime.now(UTC) + timedelta(minutes=5))
    monkeypatch.setattr(recovery, "make_backend", lambda _stack, _work_dir: stack)  # the stand-in, not `pulumi`
    rebuilt = recovery.control_from_description(control.describe())  # what `drill recover` does with the lock
    assert isinstance(rebuilt, PulumiStackControl) and rebuilt.data is True
    rebuilt._targets_for = stack.targets_for
    rebuilt.restore(Fault.SWITCH)
    assert data_box.data_state() == "replica" and stack.drill_config() is None


def _fake_pulumi(tmp_path: Path, state: list[dict[str, Any]]) -> dict[str, str]:
    """A stand-in `pulumi` on PATH answering `stack export` with `state` (no drill marker set), and a project in
    `tmp_path`; the environment to run `bascule` with."""
    (tmp_path / "export.json").write_text(json.dumps({"version": 3, "deployment": {"resources": state}}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        "  *version*) echo v3.272.0;;\n"
        f'  *"stack export"*) echo export >> {tmp_path / "exports.log"}; cat {tmp_path / "export.json"};;\n'
        '  *"stack output"*) echo "{}";;\n'
        '  *"config get"*|*"tag get"*) echo "error: not found" >&2; exit 255;;\n'
        "esac\nexit 0\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "Pulumi.yaml").write_text("name: bascule\nruntime: python\n")
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.sandbox
@needs_pdns
@needs_pg
def test_verify_stack_data_through_the_automation_api(data_box: Sandbox, tmp_path: Path) -> None:
    """`bascule verify --stack S --data` end to end: a stand-in `pulumi` answers `stack export` with the program's
    state plus a PostgresStandby at the sandbox's clusters; broken replication fails it, naming the cause."""
    state = SandboxStack(data_box, extra=[standby_resource(data_box, stack="drill")]).state
    env = _fake_pulumi(tmp_path, state)
    # A failback before this (the tests above) fences each side in turn, so each site's health, which asks its
    # database, failed for a moment: wait for the sandbox's health checks to see both healthy again.
    assert wait_until(lambda: data_box.resolve("checkout.sandbox.test") == ["127.0.0.2"], 30)
    command = [sys.executable, "-m", "bascule.cli", "verify", "--stack", "drill", "--cwd", str(tmp_path), "--data",
               "--no-authoritative", "--resolver", f"127.0.0.1:{data_box.state.dns_port}", "--ca-bundle",
               str(data_box.state.pki.ca), "--lock-dir", str(tmp_path / "locks"), "--format", "json"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=90, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The dead-man switch reads the state for a drill marker; then one export serves the sites, the data pair
    # and the backups alike (one consistent state).
    assert (tmp_path / "exports.log").read_text().split() == ["export", "export"]
    (service,) = json.loads(proc.stdout)["services"]
    assert service["ready"] is True and service["data"]["state"] == "replica"
    assert service["data"]["sides"]["standby"]["provider"] == "azure-flexible"
    data_box.set_data_mode("subscription-disabled")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=90, check=False)
    finally:
        data_box.set_data_mode("healthy")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (service,) = json.loads(proc.stdout)["services"]
    assert any(p.startswith("data: database bascule: subscription bascule_sub is disabled")
               for p in service["problems"]), service["problems"]  # fmt: skip
    secrets = pair_from_state(state, "drill").secrets()
    assert all(secret not in proc.stdout + proc.stderr for secret in secrets)


@pytest.mark.sandbox
@needs_pdns
def test_drill_stack_data_without_a_standby_in_the_state_is_bad_input(sandbox: Sandbox, tmp_path: Path) -> None:
    """`drill --stack S --data` reads the service's data pair from the state before anything is changed: a stack
    without a PostgresStandby is exit 2, naming the stack, and the stack is not touched."""
    env = _fake_pulumi(tmp_path, SandboxStack(sandbox).state)
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "--stack", "drill", "--service", "checkout",
                           "--cwd", str(tmp_path), "--data", "--no-authoritative", "--resolver",
                           f"127.0.0.1:{sandbox.state.dns_port}", "--lock-dir", str(tmp_path / "locks"),
                           "--out", str(tmp_path / "report")],
                          capture_output=True, text=True, env=env, timeout=90, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--data: stack 'drill': no bascule:data:PostgresStandby in its state" in proc.stderr
    assert not (tmp_path / "report").exists() and not list((tmp_path / "locks").glob("*.lock"))


def test_dry_run_without_the_stacks_settings_file_warns_and_hints_what_drill_takes(tmp_path: Path) -> None:
    """`drill --stack staging --cwd D --dry-run` with no D/Pulumi.staging.yaml ran without config, then hinted
    `--stack-config`, which drill has not. The missing file is named up front (a warning: Pulumi accepts a stack
    without one), and a missing config value points at the file `pulumi config set` writes."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "bascule.cli", "drill", "--stack", "staging", "--cwd", str(EXISTING_SERVICE),
               "--dry-run"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    missing = EXISTING_SERVICE / "Pulumi.staging.yaml"
    warning, error = proc.stderr.strip().splitlines()
    assert warning == f"warning: {missing}: no such file: the program runs without stack config (a typo in --stack " \
                      "or --cwd?)"  # fmt: skip
    assert "--stack-config" not in error
    assert error.endswith(f"hint: set it in {missing} (`pulumi config set KEY VALUE --stack staging`)"), error
