"""Drills on a real stack always restore: a fake Pulumi backend that fails mid-inject the way Pulumi does.

`FakePulumi` keeps a state (URN -> inputs) and pending operations as the engine does, and its `up` behaves as a
targeted `pulumi up`: a target neither in the state nor registered by the program is refused before anything
changes ("Target '...' could not be found in the stack", pulumi/pulumi#11375); targets are then applied one by one
(a create or an update takes the program's inputs, a resource the program no longer registers is deleted), and a
resource named in `fail_on` fails its step (what a provider error does) while one in `kill_on` leaves a pending
create and the process dies (what SIGKILL of `pulumi up` leaves). The program is the real root program, offline.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bascule.components.program import main as program
from bascule.drills.control import ControlError
from bascule.drills.lock import DrillLock
from bascule.drills.plan import Fault
from bascule.drills.recovery import Outcome, dead_man, recover_stack
from bascule.drills.stack_control import (
    DrillMarker,
    PulumiStackControl,
    UpdateRunning,
    deployed_services,
    fault_targets,
    inject_phases,
    marker_value,
)
from bascule.offline.engine import run_offline
from bascule.readiness.probes import DnsResult
from bascule.readiness.target import Resolver
from bascule.spec import DRILL_KEY, SERVICES_KEY, parse_drill, parse_services
from tests.conftest import ROOT

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class Killed(BaseException):
    """The drill process died mid-update (SIGKILL): nothing after this runs in it."""


def _prod_config() -> dict[str, Any]:
    return {SERVICES_KEY: yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"][SERVICES_KEY]}


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[1]


class FakePulumi:
    def __init__(self) -> None:
        self.cfg: dict[str, Any] = _prod_config()
        self.tag: str | None = None
        self.state = self._program_inputs()
        self.pending: list[str] = []
        self.fail_on: set[str] = set()
        self.kill_on: set[str] = set()
        self.running_update = False
        self.ups: list[list[str]] = []
        self.refreshed: list[list[str]] = []
        self.cancelled = 0

    def _program_inputs(self) -> dict[str, Any]:
        return {r.urn: r.inputs for r in run_offline(program, self.cfg, project="bascule", stack="prod").resources}

    def outputs(self) -> dict[str, tuple[Any, bool]]:
        outputs = run_offline(program, self.cfg, project="bascule", stack="prod").stack_outputs
        return {key: (value, False) for key, value in outputs.items()}

    def resources(self) -> list[dict[str, Any]]:
        """The state as `pulumi stack export` lists it: each service's registered outputs under its component."""
        run = run_offline(program, self.cfg, project="bascule", stack="prod")
        return [{"urn": r.urn, "type": r.type, "outputs": r.outputs} for r in run.resources]

    def config(self) -> dict[str, tuple[str, bool]]:
        return {}

    def pending_operations(self) -> list[str]:
        return list(self.pending)

    def state_urns(self) -> set[str]:
        return set(self.state)

    def clear_pending(self) -> list[str]:
        cleared, self.pending = self.pending, []
        return cleared

    def refresh(self, on_output: Any, targets: list[str]) -> None:
        assert set(targets) <= set(self.state), "refresh targets outside the state"
        self.refreshed.append(targets)

    def cancel(self) -> None:
        self.cancelled += 1
        self.running_update = False

    def drill_config(self) -> str | None:
        return self.cfg.get(DRILL_KEY) or self.tag

    def set_drill(self, value: str) -> None:
        self.cfg[DRILL_KEY] = value
        self.tag = value

    def clear_drill(self, keep_tag: bool = False) -> None:
        self.cfg.pop(DRILL_KEY, None)
        if not keep_tag:
            self.tag = None

    def up(self, on_output: Any, targets: list[str]) -> None:
        if self.running_update:
            raise UpdateRunning("another update is running on this stack; try again when it has finished")
        if self.pending:
            on_output(f"warning: Attempting to deploy or update resources with {len(self.pending)} pending operations")
        wanted = self._program_inputs()
        for urn in targets:
            if urn not in self.state and urn not in wanted:
                raise ControlError(
                    f"pulumi up failed: exit 255: error: Target '{urn}' could not be found in the stack."
                )
        self.ups.append(targets)
        for urn in targets:
            if any(name in urn for name in self.kill_on):
                self.pending.append(f"creating {urn}")
                raise Killed(urn)
            if any(name in urn for name in self.fail_on):
                raise ControlError(f"pulumi up failed: exit 255: error: creating {_short(urn)}: AccessDenied")
            if urn in wanted:
                self.state[urn] = wanted[urn]
            else:
                self.state.pop(urn, None)


def control_for(backend: FakePulumi, lines: list[str]) -> PulumiStackControl:
    return PulumiStackControl(
        backend, "prod", Path("."), "checkout", lines.append, with_authoritative=False,  # type: ignore[arg-type]
        targets_for=lambda service, fault: fault_targets(program, _prod_config(), "bascule", "prod", service, fault),
    )  # fmt: skip


def _tg(backend: FakePulumi) -> Any:
    return next(v for k, v in backend.state.items() if k.endswith("::checkout-primary-tg"))


def test_the_fake_refuses_a_target_missing_from_state_and_program_as_pulumi_does() -> None:
    backend = FakePulumi()
    missing = next(iter(backend.state)).rsplit("::", 1)[0] + "::not-there"
    with pytest.raises(ControlError, match="could not be found in the stack"):
        backend.up(lambda _line: None, [missing])


def test_health_fault_applies_the_target_group_last_and_restores_it_first() -> None:
    urns = fault_targets(program, _prod_config(), "bascule", "prod", "checkout", Fault.HEALTH)
    # The service's component goes with the first update: its registered outputs record the drill in the state.
    assert [[_short(u) for u in phase] for phase in inject_phases(urns)] == [
        ["checkout-primary-drill-health", "checkout"],
        ["checkout-primary-tg"],
    ]
    backend, lines = FakePulumi(), []
    control = control_for(backend, lines)
    clean_tg = _tg(backend)
    control.inject(Fault.HEALTH, NOW)
    assert _tg(backend) != clean_tg
    control.restore(Fault.HEALTH)
    assert [[_short(u) for u in up] for up in backend.ups] == [
        ["checkout-primary-drill-health", "checkout"], ["checkout-primary-tg"],  # inject
        ["checkout-primary-tg"], ["checkout-primary-drill-health", "checkout"],  # restore, reversed
    ]  # fmt: skip
    assert _tg(backend) == clean_tg and backend.drill_config() is None
    assert not any(u.endswith("::checkout-primary-drill-health") for u in backend.state)


def test_outage_attaches_the_listener_check_before_it_scales_the_tasks_to_zero() -> None:
    """The AWS site's declaration (`inject_last`): tasks at zero alone would leave the primary answering 503 behind an
    alias that may still count as healthy; after the check through the listener, traffic moves first."""
    urns = fault_targets(program, _prod_config(), "bascule", "prod", "checkout", Fault.OUTAGE)
    assert [[_short(u) for u in phase] for phase in inject_phases(urns, Fault.OUTAGE)] == [
        ["checkout-dns-primary-drill", "checkout-dns-primary", "checkout"],
        ["checkout-primary-service"],
    ]
    backend, lines = FakePulumi(), []
    backend.fail_on = {"checkout-dns-primary-drill"}
    control = control_for(backend, lines)
    with pytest.raises(ControlError, match="AccessDenied"):
        control.inject(Fault.OUTAGE, NOW)
    service = next(v for k, v in backend.state.items() if k.endswith("::checkout-primary-service"))
    assert service["desiredCount"] == 3, "the tasks were scaled down although traffic never moved"
    backend.fail_on = set()
    control.restore(Fault.OUTAGE)
    assert backend.drill_config() is None


def test_a_failed_listener_rule_never_leaves_the_target_group_on_a_closed_port() -> None:
    """The 503 rule fails to create (a provider error): the target group's check port is never touched, and restore
    does not target the rule that never reached the state (which Pulumi would refuse)."""
    backend, lines = FakePulumi(), []
    backend.fail_on = {"drill-health"}
    control = control_for(backend, lines)
    clean_tg = _tg(backend)
    with pytest.raises(ControlError, match="AccessDenied"):
        control.inject(Fault.HEALTH, NOW)
    assert _tg(backend) == clean_tg
    backend.fail_on = set()
    control.restore(Fault.HEALTH)
    assert backend.drill_config() is None
    restore_ups = backend.ups[1:]
    assert [[_short(u) for u in up] for up in restore_ups] == [["checkout-primary-tg"], ["checkout"]]
    assert any("1 never reached the state" in line for line in lines), lines


def test_a_drill_killed_during_inject_is_recovered_from_a_fresh_checkout() -> None:
    """SIGKILL while the rule is being created leaves a pending create; `drill recover --stack` clears it, reads
    the fault's resources back, restores what is in the state and says what may exist outside it."""
    backend, lines = FakePulumi(), []
    backend.kill_on = {"drill-health"}
    with pytest.raises(Killed):
        control_for(backend, lines).inject(Fault.HEALTH, NOW + timedelta(hours=1))
    assert backend.pending and backend.drill_config()
    backend.kill_on = set()
    backend.cfg.pop(DRILL_KEY)  # a fresh checkout: only the backend's tag still names the drill
    outcomes: list[Outcome] = []
    fresh, lines = control_for(backend, []), []
    fresh._progress = lines.append
    recover_stack(fresh, outcomes.append)
    assert [o.outcome for o in outcomes] == ["stack-cleared"]
    assert backend.pending == [] and backend.drill_config() is None
    assert [[_short(u) for u in r] for r in backend.refreshed] == [["checkout-primary-tg", "checkout"]]
    assert any("cleared pending operation creating" in line and "delete it by hand" in line for line in lines), lines
    assert not any(u.endswith("::checkout-primary-drill-health") for u in backend.state)


def test_a_failed_restore_keeps_the_tag_for_the_next_scheduled_job() -> None:
    backend, lines = FakePulumi(), []
    control = control_for(backend, lines)
    control.inject(Fault.OUTAGE, NOW)
    backend.fail_on = {"checkout-primary-service"}
    with pytest.raises(ControlError):
        control.restore(Fault.OUTAGE)
    assert DRILL_KEY not in backend.cfg  # the program must not re-apply the fault
    assert backend.drill_config() is not None  # the tag: the dead-man switch still finds the drill
    backend.fail_on = set()
    control.restore(Fault.OUTAGE)
    assert backend.drill_config() is None


def test_the_marker_carries_a_deadline_and_the_spec_reads_both_forms() -> None:
    value = marker_value("checkout", Fault.SWITCH, NOW)
    marker = DrillMarker.parse(value)
    assert (marker.service, marker.fault, marker.deadline) == ("checkout", Fault.SWITCH, NOW)
    assert not marker.expired(NOW) and marker.expired(NOW + timedelta(seconds=1))
    old = DrillMarker.parse(json.dumps({"service": "checkout", "fault": "switch"}))
    assert old.deadline is None and not old.expired(NOW + timedelta(days=30))
    assert DrillMarker.parse("{not json").service is None
    spec = parse_services(_prod_config()[SERVICES_KEY], source="stacks/Pulumi.prod.yaml")
    for raw in (value, json.dumps({"service": "checkout", "fault": "switch"})):
        hook = parse_drill(raw, spec, "stacks/Pulumi.prod.yaml")
        assert hook is not None and (hook.service, hook.fault.value) == ("checkout", "switch")


def _drilled(deadline: datetime) -> tuple[FakePulumi, PulumiStackControl, list[str]]:
    backend, lines = FakePulumi(), []
    control = control_for(backend, lines)
    control.inject(Fault.OUTAGE, deadline)
    return backend, control, lines


def test_dead_man_restores_an_expired_drill_and_leaves_a_live_one(tmp_path: Path) -> None:
    outcomes: list[Outcome] = []
    backend, control, _ = _drilled(NOW)
    assert dead_man(control, tmp_path, outcomes.append, now=NOW - timedelta(minutes=5))
    assert outcomes[-1].outcome == "drill-in-progress" and backend.drill_config() is not None
    assert dead_man(control, tmp_path, outcomes.append, now=NOW + timedelta(minutes=5))
    assert outcomes[-1].outcome == "expired-restored" and "expired 5 min ago" in outcomes[-1].message
    assert backend.drill_config() is None
    assert dead_man(control, tmp_path, outcomes.append, now=NOW)  # clean: nothing said
    assert len(outcomes) == 2


def test_dead_man_leaves_a_drill_running_here_and_an_old_marker(tmp_path: Path) -> None:
    outcomes: list[Outcome] = []
    backend, control, _ = _drilled(NOW)
    lock = DrillLock(tmp_path, control.lock_key())
    lock.acquire({"journal": "j"})  # this process: alive
    assert not dead_man(control, tmp_path, outcomes.append, now=NOW + timedelta(hours=1))
    assert outcomes[-1].outcome == "running" and backend.drill_config() is not None
    lock.release()
    backend.set_drill(json.dumps({"service": "checkout", "fault": "outage"}))  # an older Bascule's marker
    assert not dead_man(control, tmp_path, outcomes.append, now=NOW + timedelta(days=3))
    assert "no deadline" in outcomes[-1].message and backend.drill_config() is not None


def test_dead_man_cancels_the_dead_drills_update_only_past_the_deadline(tmp_path: Path) -> None:
    backend, control, _ = _drilled(NOW)
    backend.running_update = True
    with pytest.raises(UpdateRunning):
        control.restore(Fault.OUTAGE)  # a drill's own restore never cancels anyone's update
    assert backend.cancelled == 0
    assert dead_man(control, tmp_path, lambda _o: None, now=NOW + timedelta(minutes=1))
    assert backend.cancelled == 1 and backend.drill_config() is None


def test_another_service_failed_over_is_a_risk(monkeypatch: pytest.MonkeyPatch) -> None:
    """`risks()` asks the resolvers about every other service; one answering its secondary is named."""
    backend = FakePulumi()
    resolver = Resolver("r", "192.0.2.53", 53, "recursive")
    control = PulumiStackControl(
        backend, "prod", Path("."), "checkout", lambda _l: None, resolvers=(resolver,),  # type: ignore[arg-type]
        with_authoritative=False, targets_for=lambda _s, _f: [],
    )  # fmt: skip
    others = sorted(set(deployed_services(backend.resources())) - {"checkout"})
    assert others, "the prod stack has more than one service"

    def answer(res: Resolver, target: Any, timeout: float) -> DnsResult:
        site = "secondary" if target.service == others[0] else "primary"
        return DnsResult(res.name, [target.addresses[site]], site, None, 1.0)

    monkeypatch.setattr("bascule.drills.stack_control.query_dns", answer)
    (risk,) = control.risks()
    assert risk.startswith(f"service '{others[0]}' of this stack is already failed over (r -> ")


def test_require_approval_refuses_without_the_variable(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bascule.cli.app import app

    env = {k: v for k, v in os.environ.items() if k != "BASCULE_DRILL_APPROVAL"}
    result = CliRunner().invoke(app, ["drill", "--local", "--require-approval"], env=env)
    assert result.exit_code == 3
    assert "BASCULE_DRILL_APPROVAL is not set" in result.output
    forced = CliRunner().invoke(app, ["drill", "--local", "--force", "  "])
    assert forced.exit_code == 2 and "--force: give the reason" in forced.output


def test_the_undo_drops_only_a_database_the_restore_drill_named_itself() -> None:
    """A damaged or edited journal naming another database (`postgres`, the team's own) makes the undo drop nothing:
    the only names it acts on are the drill's own `restore_<timestamp>`."""
    from bascule.drills import canary_undo

    class Refusing:
        def connect(self, *_args: object) -> object:
            raise AssertionError("the undo reached for the database")

    for name in ("postgres", "restore_x; DROP DATABASE app", "app", "restore_20261205T042203862815\n"):
        back, done = canary_undo.undo(Refusing(), [{"kind": canary_undo.FRESH_DATABASE, "database": name}])  # type: ignore[arg-type]
        assert back == 0 and "nothing dropped" in done
    assert canary_undo.FRESH_NAME.fullmatch(canary_undo.fresh_name())
