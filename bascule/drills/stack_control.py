"""Drill a real Pulumi stack: inject a fault through stack config `bascule:drill` and a targeted `pulumi up`.

The components turn that config into the fault's resource changes (see components/), so the fault is
applied by the same code, providers and credentials as any deployment, and undone by clearing the config
and updating again. Both updates are targeted: the program is run offline with and without the drill, and
only the resources whose inputs differ (the fault's) are passed as `target`, so a drill never deploys
unrelated changes waiting in the stack or in the checkout.

What the drill and `verify` read of each service (hostname, endpoints, health URLs, RTO, zone, the drill in
force) is what each `FailoverService` registered as its component outputs, which Pulumi keeps in the stack's
state: any program that uses the component can be drilled, with no stack output or config block of its own.

A fresh checkout (a new CI runner) must find a drill left behind: besides the stack config file, the marker
lives where the backend keeps it, in the state (each service's registered `drill` output) and, on backends
that support them, a stack tag `bascule:drill` set before the inject update starts.

The stack is reached through a small `StackBackend` interface: Pulumi's Automation API in production, a fake
in tests (the Automation API needs the Pulumi CLI, which CI does not have).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import dns.exception
import dns.resolver
import psycopg

from bascule.data import DataError, DataRefused, PairStateError, failback, pair_from_state, standby_secrets
from bascule.drills.control import ControlError
from bascule.drills.journal import Redactor
from bascule.drills.plan import FAILOVER_FAULTS, Fault
from bascule.io.documents import InputError, read_yaml
from bascule.io.secrets import unwrap_secrets
from bascule.offline.engine import ProgramError, load_program_dir, run_offline
from bascule.offline.types import FailureKind, RegisteredResource
from bascule.readiness.probes import query_dns
from bascule.readiness.target import AcmeRenewal, DrillTarget, Resolver
from bascule.spec import (
    DRILL_KEY,
    SERVICE_TYPE,
    DrillFault,
    DrillHook,
    SpecError,
    injected_refusal,
    read_stack_config,
)
from bascule.spec.plugins import harmful_alone

DRILL_TAG = DRILL_KEY
"""The stack tag that mirrors `bascule:drill` in the backend (Pulumi Cloud keeps tags with the stack)."""

INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/) and log in to the stack's backend; "
    "`bascule drill --local` needs neither"
)
Progress = Callable[[str], None]
Running = Callable[[str, Iterable[str]], AbstractContextManager[object]]
"""Wraps each offline run of the program (a spinner, its log as the CLI's lines): `running(message, already_warned)`."""


def _plainly(_message: str, _already_warned: Iterable[str]) -> AbstractContextManager[object]:
    """The default `running`: nothing around the run."""
    return contextlib.nullcontext()


PROBE_TIMEOUT = 2.0
"""Seconds each resolver may take to answer when the other services' DNS is checked before a switch."""


class CliMissing(ControlError):
    """No `pulumi` executable: stack drills cannot run here (exit 2, not a drill failure)."""


class StackBackend(Protocol):
    def outputs(self) -> dict[str, tuple[Any, bool]]:
        """Stack outputs as (value, secret)."""
        ...

    def resources(self) -> list[dict[str, Any]]:
        """The state's resources as `pulumi stack export --show-secrets` lists them (`urn`, `type`, `outputs`)."""
        ...

    def config(self) -> dict[str, tuple[str, bool]]:
        """Stack config as (value, secret); secret values in plain text, so they can be redacted."""
        ...

    def pending_operations(self) -> list[str]: ...

    def state_urns(self) -> set[str]:
        """URNs of the resources in the stack's state (its export): the only ones an update may target."""
        ...

    def clear_pending(self) -> list[str]:
        """Drop every pending operation from the state; return them (`<type> <urn>`)."""
        ...

    def refresh(self, on_output: Progress, targets: list[str]) -> None:
        """Read `targets` (all in the state) back from the cloud into the state."""
        ...

    def cancel(self) -> None:
        """Cancel the update running on the stack (one a dead drill started)."""
        ...

    def drill_config(self) -> str | None: ...

    def set_drill(self, value: str) -> None: ...

    def clear_drill(self, keep_tag: bool = False) -> None:
        """Remove the marker; `keep_tag`: only from the config the program reads (the tag stays until the restoring
        update succeeded, so a failed restore is still found by the next scheduled job)."""
        ...

    def up(self, on_output: Progress, targets: list[str]) -> None:
        """Update only `targets` (URNs); never called with an empty list."""
        ...


class UpdateRunning(ControlError):
    """Another update holds the stack (`pulumi up` refused with a concurrent update)."""


@dataclass(frozen=True)
class DrillMarker:
    """`bascule:drill` as read from a stack, leniently: the old form (service and fault, no deadline) and an
    unreadable value are markers too, since a marker of any form means the stack may be switched."""

    raw: str
    service: str | None
    fault: Fault | None
    deadline: datetime | None

    @classmethod
    def parse(cls, raw: str) -> DrillMarker:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return cls(raw, None, None, None)
        service = data.get("service") if isinstance(data.get("service"), str) else None
        fault = Fault(data["fault"]) if data.get("fault") in [f.value for f in Fault] else None
        try:
            deadline = datetime.fromisoformat(str(data["deadline"])) if data.get("deadline") else None
        except ValueError:
            deadline = None
        if deadline is not None and deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=UTC)
        return cls(raw, service, fault, deadline)

    def expired(self, now: datetime) -> bool:
        """Past its deadline: the drill that set it is dead or overdue, and anyone may restore the stack."""
        return self.deadline is not None and now > self.deadline

    def describe(self, now: datetime) -> str:
        what = f"'{self.fault.value if self.fault else '?'}' on {self.service or '?'}"
        if self.deadline is None:
            return f"{what} (no deadline: set by an older Bascule)"
        minutes = abs(now - self.deadline).total_seconds() / 60
        return f"{what}, deadline {self.deadline.isoformat(timespec='seconds')} " + (
            f"(expired {minutes:.0f} min ago)" if self.expired(now) else f"(in {minutes:.0f} min)"
        )


def marker_value(service: str, fault: Fault, deadline: datetime) -> str:
    """The `bascule:drill` value a drill sets: the components read service and fault (`bascule.spec.parse_drill`);
    the deadline is the dead-man switch's (see `DrillMarker.expired`)."""
    return json.dumps({"service": service, "fault": fault.value,
                       "deadline": deadline.astimezone(UTC).isoformat(timespec="seconds")})  # fmt: skip


def _resource_type(urn: str) -> str:
    return urn.split("::")[-2].rsplit("$", 1)[-1] if urn.count("::") >= 3 else ""


def inject_phases(targets: list[str], fault: Fault | None = None) -> list[list[str]]:
    """The fault's URNs as the updates that apply it, in order; restore runs them reversed.

    What a site kind declares harmful alone for the fault (`SiteKind.inject_last`, e.g. the target group's check on a
    closed port behind Route 53) goes in an update after everything else of the fault, so a half-applied fault is at
    worst the rest, i.e. traffic on the standby, which restore and the dead-man switch undo. Within one update Pulumi
    runs independent resources in parallel, so only separate updates give an order. `fault` None: what any fault
    declares."""
    last_types = harmful_alone(DrillFault(fault.value) if fault is not None else None)
    first = [t for t in targets if _resource_type(t) not in last_types]
    last = [t for t in targets if _resource_type(t) in last_types]
    return [phase for phase in (first, last) if phase]


def deployed_services(resources: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    """Each `FailoverService` in a state, by service name: its registered outputs (secrets unwrapped) and the
    values among them that were secret. The name is the `service` output, else the component's own name."""
    found: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    for resource in resources:
        if resource.get("type") != SERVICE_TYPE or not isinstance(resource.get("outputs"), dict):
            continue
        secrets: list[Any] = []
        outputs = unwrap_secrets(resource["outputs"], secrets)
        name = outputs.get("service") or str(resource.get("urn", "")).rsplit("::", 1)[-1]
        found[str(name)] = (outputs, secrets)
    return found


def drill_from_state(resources: list[dict[str, Any]]) -> str | None:
    """The drill a deployed stack is in, as its services' registered `drill` outputs say, in `bascule:drill` form."""
    for name, (outputs, _) in sorted(deployed_services(resources).items()):
        if outputs.get("drill"):
            return json.dumps({"service": name, "fault": outputs["drill"]})
    return None


def _service_urns(run: list[RegisteredResource], service: str) -> list[str]:
    return [r.urn for r in run if r.type == SERVICE_TYPE and (r.outputs.get("service") or r.name) == service]


def _service_names(run: list[RegisteredResource]) -> list[str]:
    return sorted({str(r.outputs.get("service") or r.name) for r in run if r.type == SERVICE_TYPE})


def _no_such_service(run: list[RegisteredResource], service: str) -> ControlError:
    names = ", ".join(_service_names(run)) or "none"
    return ControlError(f"the program declares no FailoverService for service '{service}' (it has: {names})")


def _marker(service: str, fault: Fault) -> str:
    return json.dumps({"service": service, "fault": fault.value})


def _changed(
    before: list[RegisteredResource], after: list[RegisteredResource], service: str
) -> list[RegisteredResource]:
    """Created, deleted or with other inputs in `after`; with the service's component, whose registered outputs
    record the drill in the state (so recovery from a fresh checkout finds it), when anything changed."""
    old = {r.urn: r for r in before}
    new = {r.urn: r for r in after}
    changed = {urn: r for urn, r in {**old, **new}.items() if urn not in old or urn not in new
               or old[urn].inputs != new[urn].inputs}  # fmt: skip
    if changed:
        changed.update({urn: new[urn] for urn in _service_urns(after, service)})
    return [changed[urn] for urn in sorted(changed)]


def fault_changes(
    program: Callable[[], None], config: dict[str, Any], project: str, stack: str, service: str, fault: Fault
) -> list[RegisteredResource]:
    """The resources a fault changes: those that differ when the program runs with the drill than without it (see
    `_changed`). Both runs use the same config otherwise, so pending edits elsewhere are not included. Raises
    `ControlError` when the program fails or rejects the drill (a fault the primary cannot take), with its reason."""
    base = {k: v for k, v in config.items() if k != DRILL_KEY}
    try:
        before = run_offline(program, base, project=project, stack=stack).resources
        if not _service_urns(before, service):
            raise _no_such_service(before, service)
        after = run_offline(program, {**base, DRILL_KEY: _marker(service, fault)}, project=project, stack=stack)
    except ProgramError as exc:
        refused = _refusal(exc)
        if refused is not None:
            raise ControlError(f"--fault {fault.value}: {refused}") from None
        raise ControlError(f"cannot work out what the fault changes: {exc}") from None
    return _changed(before, after.resources, service)


def _refusal(exc: ProgramError) -> str | None:
    """The program's refusal of a fault this drill's marker named (`injected_refusal`), where in the program, None
    for any other failure: the marker was set by the drill, so its file and config key are not named."""
    reason = injected_refusal(exc.message)
    return None if reason is None else str(ProgramError(reason, exc.kind, exc.location, exc.hint))


def fault_targets(
    program: Callable[[], None], config: dict[str, Any], project: str, stack: str, service: str, fault: Fault
) -> list[str]:
    """URNs of `fault_changes`: what a drill's targeted `pulumi up` updates."""
    return [r.urn for r in fault_changes(program, config, project, stack, service, fault)]


def local_program(work_dir: Path, stack: str) -> tuple[str, Callable[[], None], dict[str, Any]]:
    """The Pulumi project in `work_dir`: its name, its program and the config of its stack file (`stackConfigDir`
    honoured; none, when the file is absent, as in a project whose config lives in the backend)."""
    try:
        project, program = load_program_dir(work_dir)
    except ProgramError as exc:
        raise ControlError(str(exc)) from None
    path = stack_config_path(work_dir, stack)
    try:
        config = read_stack_config(path) if path.exists() else {}
    except SpecError as exc:
        raise ControlError("; ".join(exc.lines)) from None
    return project, program, config


def stack_config_path(work_dir: Path, stack: str) -> Path:
    """The stack settings file of `stack` in the Pulumi project `work_dir` (`stackConfigDir` honoured)."""
    return _stack_config_dir(work_dir) / f"Pulumi.{stack}.yaml"


def local_fault_targets(work_dir: Path, stack: str) -> Callable[[str, Fault], list[str]]:
    """`fault_targets` for the Pulumi project in `work_dir` and its stack file (see `local_program`)."""

    def targets(service: str, fault: Fault) -> list[str]:
        project, program, config = local_program(work_dir, stack)
        return fault_targets(program, config, project, stack, service, fault)

    return targets


def fault_levers(
    work_dir: Path,
    stack: str,
    service: str | None = None,
    running: Running = _plainly,
    faults: tuple[Fault, ...] = FAILOVER_FAULTS,
) -> list[dict[str, Any]]:
    """What each fault would change in each service (or only `service`) of the program in `work_dir`, run offline:
    per service and fault, the resources (URN, type, name) a drill's update targets, or why the fault is refused.
    Needs no Pulumi CLI and changes nothing: what `bascule drill --stack S --dry-run` prints. The program runs
    inside `running(message, already_warned)`; the drill warning of each drilled run is passed as already warned.
    `faults`: those to work out (`--fault` given: that one), in this order."""
    project, program, config = local_program(work_dir, stack)
    base = {k: v for k, v in config.items() if k != DRILL_KEY}
    try:
        with running(f"running the program in {work_dir} offline", ()):
            before = run_offline(program, base, project=project, stack=stack).resources
    except ProgramError as exc:
        if exc.kind is FailureKind.CONFIG:  # the engine's hint names check's --stack-config, which drill has not
            exc.hint = f"set it in {stack_config_path(work_dir, stack)} (`pulumi config set KEY VALUE --stack {stack}`)"
        raise ControlError(f"the program failed offline: {exc}") from None
    if service is not None and not _service_urns(before, service):
        raise _no_such_service(before, service)
    names = [service] if service else _service_names(before)
    drilled = [DrillHook(service=n, fault=DrillFault(f.value)).in_progress() for n in names for f in faults]
    levers: list[dict[str, Any]] = []
    with running("running it again with each fault", drilled):
        for name in names:
            found: list[dict[str, Any]] = []
            for fault in faults:
                marked = {**base, DRILL_KEY: _marker(name, fault)}
                try:
                    after = run_offline(program, marked, project=project, stack=stack).resources
                except ProgramError as exc:  # the program refuses the fault, with its reason
                    found.append({"fault": fault.value, "refused": _refusal(exc) or str(exc)})
                    continue
                changed = [{"urn": r.urn, "type": r.type, "name": r.name} for r in _changed(before, after, name)]
                found.append({"fault": fault.value, "resources": changed})
            levers.append({"service": name, "faults": found})
    return levers


def _stack_config_dir(work_dir: Path) -> Path:
    try:
        project = read_yaml(work_dir / "Pulumi.yaml", "Pulumi project file")
    except InputError as exc:
        raise ControlError(str(exc)) from None
    if not isinstance(project, dict):
        raise ControlError(f"{work_dir / 'Pulumi.yaml'}: expected a mapping, as Pulumi project files have")
    return work_dir / str(project.get("stackConfigDir") or ".")


class AutomationBackend:
    """The stack through Pulumi's Automation API (a local program in `work_dir`, any backend it is logged in to).

    `snapshot`: the state is exported once and every later read uses that export, so a read-only command (verify,
    watch, backup) sees one consistent state and pays for one `stack export`; a drill, which changes the stack and
    reads it back, leaves it off."""

    def __init__(self, stack: str, work_dir: Path, snapshot: bool = False):
        from pulumi import automation as auto

        self._auto = auto
        self._snapshot = snapshot
        self._exported: Any = None
        try:
            self._stack = auto.select_stack(stack_name=stack, work_dir=str(work_dir))
        except FileNotFoundError as exc:
            raise CliMissing(f"the pulumi executable was not found ({exc.filename}); {INSTALL_HINT}") from None
        except auto.StackNotFoundError:
            raise ControlError(
                f"stack '{stack}' does not exist for the project in {work_dir} (pulumi stack ls)"
            ) from None
        except auto.CommandError as exc:
            raise ControlError(f"cannot select stack '{stack}' in {work_dir}: {command_cause(exc)}") from None

    def outputs(self) -> dict[str, tuple[Any, bool]]:
        return {key: (out.value, out.secret) for key, out in self._stack.outputs().items()}

    def resources(self) -> list[dict[str, Any]]:
        # `stack export --show-secrets` (https://www.pulumi.com/docs/iac/cli/commands/pulumi_stack_export/): the
        # state, with each component's registered outputs, secrets as `{sig, "plaintext"}`.
        return list((self._export().deployment or {}).get("resources") or [])

    def config(self) -> dict[str, tuple[str, bool]]:
        return {key: (str(value.value), value.secret) for key, value in self._stack.get_all_config().items()}

    def _export(self) -> Any:
        """`stack export`: the snapshot's one export, or a fresh one."""
        if not self._snapshot:
            return self._stack.export_stack()
        if self._exported is None:
            self._exported = self._stack.export_stack()
        return self._exported

    def pending_operations(self) -> list[str]:
        deployment = self._export().deployment or {}
        return [
            f"{op.get('type', '?')} {op.get('resource', {}).get('urn', '?')}"
            for op in deployment.get("pending_operations") or []
        ]

    def state_urns(self) -> set[str]:
        deployment = self._export().deployment or {}
        return {str(r.get("urn")) for r in deployment.get("resources") or [] if r.get("urn")}

    def clear_pending(self) -> list[str]:
        # Export, drop `pending_operations`, import: the documented manual repair of an interrupted update
        # (https://www.pulumi.com/docs/iac/operations/troubleshooting/interrupted-updates/). `refresh` alone clears
        # pending updates and deletes but keeps pending creates unless run interactively or with
        # `--clear-pending-creates` (automation `_stack.py`, `refresh(clear_pending_creates=...)`); the import needs
        # no cloud call, and the refresh of the fault's resources that follows reads back what really happened.
        state = self._stack.export_stack()
        deployment = dict(state.deployment or {})
        pending = [f"{op.get('type', '?')} {op.get('resource', {}).get('urn', '?')}"
                   for op in deployment.pop("pending_operations", None) or []]  # fmt: skip
        if pending:
            self._stack.import_stack(self._auto.Deployment(version=state.version, deployment=deployment))
        return pending

    def refresh(self, on_output: Progress, targets: list[str]) -> None:
        try:
            self._stack.refresh(on_output=on_output, message="bascule drill restore", target=targets)
        except self._auto.ConcurrentUpdateError:
            raise UpdateRunning("another update is running on this stack") from None
        except self._auto.CommandError as exc:
            raise ControlError(f"pulumi refresh failed: {command_cause(exc)}") from None

    def cancel(self) -> None:
        # "Cancel stops a stack's currently running update ... may leave the stack in an inconsistent state if a
        # resource operation was pending" (automation `_stack.py`, `Stack.cancel`): the pending operations it leaves
        # are cleared next (`clear_pending`). Only called for a drill past its deadline.
        try:
            self._stack.cancel()
        except self._auto.CommandError as exc:
            raise ControlError(f"pulumi cancel failed: {command_cause(exc)}") from None

    def drill_config(self) -> str | None:
        """The drill marker: the stack config file, else the backend's tag, else the services' state."""
        try:
            return str(self._stack.get_config(DRILL_KEY).value)
        except self._auto.CommandError:
            pass
        try:
            return self._stack.get_tag(DRILL_TAG)
        except self._auto.CommandError:
            pass  # no such tag, or a backend without stack tags
        return drill_from_state(self.resources())

    def set_drill(self, value: str) -> None:
        self._stack.set_config(DRILL_KEY, self._auto.ConfigValue(value=value))
        # Backends without stack tags: the service's registered outputs carry the marker once the update has run.
        with contextlib.suppress(self._auto.CommandError):
            self._stack.set_tag(DRILL_TAG, value)

    def clear_drill(self, keep_tag: bool = False) -> None:
        # Either may be absent: a fresh checkout has no config entry, a DIY backend no tags.
        with contextlib.suppress(self._auto.CommandError):
            self._stack.remove_config(DRILL_KEY)
        if not keep_tag:
            with contextlib.suppress(self._auto.CommandError):
                self._stack.remove_tag(DRILL_TAG)

    def up(self, on_output: Progress, targets: list[str]) -> None:
        try:
            self._stack.up(on_output=on_output, message="bascule drill", target=targets, target_dependents=False)
        except self._auto.ConcurrentUpdateError:
            raise UpdateRunning("another update is running on this stack; try again when it has finished") from None
        except self._auto.CommandError as exc:
            raise ControlError(f"pulumi up failed: {command_cause(exc)}") from None


def command_cause(exc: Exception) -> str:
    """What went wrong in a failed Pulumi command, from its stderr (where Pulumi writes the cause).

    The Automation API's CommandError reads "code: N / stdout: ... / stderr: ..."; its first line is only the
    exit code, which tells an operator nothing. The last error lines of stderr (else of stdout) are kept.
    """
    text = str(exc)
    head, _, stderr = text.partition("\n stderr: ")
    code = re.search(r"code: (-?\d+)", head)
    _, _, stdout = head.partition("\n stdout: ")
    for stream in (stderr, stdout):
        lines = [" ".join(line.split()) for line in stream.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith(("error", "fatal", "panic"))] or lines
        if errors:
            return f"exit {code.group(1) if code else '?'}: {' | '.join(errors[-3:])}"
    return " ".join(text.split()) or type(exc).__name__


def make_backend(stack: str, work_dir: Path, snapshot: bool = False) -> StackBackend:
    """The stack's backend; `snapshot` for a read-only command (one `stack export`, one consistent state)."""
    if shutil.which("pulumi") is None:
        raise CliMissing(f"the Pulumi CLI is not installed (no `pulumi` on PATH); {INSTALL_HINT}")
    return AutomationBackend(stack, work_dir, snapshot)


def open_stack_control(
    stack: str,
    service: str,
    cwd: Path,
    progress: Progress,
    resolvers: tuple[Resolver, ...] = (),
    with_authoritative: bool = True,
    ca_bundle: str | None = None,
) -> PulumiStackControl:
    """The control of `service` in the deployed `stack` of the Pulumi project in `cwd`, through the Automation API.

    Raises `CliMissing` (no Pulumi CLI) or `ControlError` (the stack cannot be selected).
    """
    return PulumiStackControl(
        make_backend(stack, cwd), stack, cwd, service, progress,
        resolvers=resolvers, with_authoritative=with_authoritative, ca_bundle=ca_bundle,
    )  # fmt: skip


def stack_lock_key(work_dir: Path, stack: str) -> str:
    """The drill lock of a stack: one per project folder and stack, whichever service is drilled."""
    return f"pulumi:{work_dir.resolve()}:{stack}"


def stack_targets(
    stack: str,
    service: str | None,
    cwd: Path,
    resolvers: tuple[Resolver, ...] = (),
    with_authoritative: bool = True,
    ca_bundle: str | None = None,
    backend: StackBackend | None = None,
) -> list[DrillTarget]:
    """What a client of each service of a deployed stack (or only `service`) sees, as the stack's outputs say;
    from `backend` when the caller reads more of the same state (a snapshot), else from one snapshot of its own.

    Raises `CliMissing`, or `ControlError` when the stack has no FailoverService or cannot be reached.
    """
    backend = backend if backend is not None else make_backend(stack, cwd, snapshot=True)
    names = [service] if service else sorted(deployed_services(backend.resources()))
    if not names:
        raise ControlError(f"stack '{stack}' has no FailoverService in its state: is it deployed (pulumi up)?")
    return [
        PulumiStackControl(
            backend, stack, cwd, name, lambda _line: None, resolvers=resolvers,
            with_authoritative=with_authoritative, ca_bundle=ca_bundle,
        ).target()
        for name in names
    ]  # fmt: skip


def _secret_values(value: Any) -> list[Any]:
    """Every leaf of a secret value; a structured config secret (JSON text) is itself and its leaves."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secret_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in _secret_values(v)]
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return [value, *_secret_values(json.loads(value))]
        except ValueError:
            return [value]
    return [] if value is None or value == "" else [value]


def _acme_renewals(registered: Any) -> dict[str, AcmeRenewal]:
    """Role -> its ACME renewal, from the `acme` output a `FailoverService` registers (`components/service.py`); a
    state deployed before that output existed has none, and then nothing is known about renewal, as for the sandbox
    without `--acme`."""
    return {
        str(role): AcmeRenewal(str(renewal["directory"]), int(renewal["renew_days"]))
        for role, renewal in dict(registered or {}).items()
    }


def authoritative_resolvers(zone: str) -> tuple[Resolver, ...]:
    """The zone's own name servers: they see a switch first, before any resolver cache."""
    try:
        hosts = [str(r.target).rstrip(".") for r in dns.resolver.resolve(zone, "NS")]
        found = tuple(
            Resolver(host, str(a), 53, "authoritative")
            for host in sorted(hosts)
            for a in dns.resolver.resolve(host, "A")
        )
    except (dns.exception.DNSException, OSError) as exc:
        raise ControlError(f"cannot look up the name servers of {zone}: {exc}; pass --resolver instead") from None
    return found


class PulumiStackControl:
    def __init__(
        self,
        backend: StackBackend,
        stack: str,
        work_dir: Path,
        service: str,
        progress: Progress,
        resolvers: tuple[Resolver, ...] = (),
        with_authoritative: bool = True,
        targets_for: Callable[[str, Fault], list[str]] | None = None,
        ca_bundle: str | None = None,
        data: bool = False,
    ):
        self.backend = backend
        self._targets_for = targets_for or local_fault_targets(work_dir, stack)
        self._redact: Redactor | None = None
        self.stack = stack
        self.work_dir = work_dir
        self.service = service
        self._progress = progress
        self.extra_resolvers = resolvers
        self.with_authoritative = with_authoritative
        self.ca_bundle = ca_bundle
        self.data = data
        """A `--data` drill: its restore fails the service's data standby back first (`restore`)."""

    def with_data(self) -> PulumiStackControl:
        """The same control for a `--data` drill. Not the dead-man switch's: a drill past its deadline is undone
        without knowing whether it promoted anything, and a standby promoted for a real incident must stay so."""
        return PulumiStackControl(
            self.backend, self.stack, self.work_dir, self.service, self._progress, resolvers=self.extra_resolvers,
            with_authoritative=self.with_authoritative, targets_for=self._targets_for, ca_bundle=self.ca_bundle,
            data=True,
        )  # fmt: skip

    def progress(self, line: str) -> None:
        """Update output (`pulumi up` echoes values) goes out only after every secret output is redacted."""
        if self._redact is None:
            self._redact = Redactor(self.secrets())
        self._progress(self._redact(line))

    def _service_outputs(self) -> dict[str, Any]:
        services = deployed_services(self.backend.resources())
        if not services:
            raise ControlError(f"stack '{self.stack}' has no FailoverService in its state: is it deployed (pulumi up)?")
        if self.service not in services:
            raise ControlError(f"stack '{self.stack}' has no service '{self.service}' (it has: {', '.join(services)})")
        outputs, secret = services[self.service]
        if secret:
            self.progress("note: some of the service's outputs are secret; they are redacted from every report")
        return outputs

    def secrets(self) -> list[Any]:
        """Secret outputs, secret config and the services' secret outputs: `pulumi up` prints them in some form."""
        marked = [value for value, secret in self.backend.outputs().values() if secret]
        marked += [value for value, secret in self.backend.config().values() if secret]
        marked += [value for _, found in deployed_services(self.backend.resources()).values() for value in found]
        marked += standby_secrets(self.backend.resources())
        return [s for value in marked for s in _secret_values(value)]

    def target(self) -> DrillTarget:
        svc = self._service_outputs()
        # The primary first: a state's maps come back in any order (protobuf Structs are unordered).
        endpoints = dict(sorted(dict(svc["endpoints"]).items(), key=lambda item: item[0] != "primary"))
        health = dict(svc.get("health_urls") or {})
        url = urlsplit(health.get("primary") or f"https://{svc['hostname']}/")
        resolvers = (
            authoritative_resolvers(str(svc["zone"])) if self.with_authoritative else ()
        ) + self.extra_resolvers
        if not resolvers:
            raise ControlError("no resolvers: keep the zone's name servers or pass --resolver")
        return DrillTarget(
            service=self.service,
            hostname=str(svc["hostname"]),
            resolvers=resolvers,
            sites={role: (str(target).rstrip("."),) for role, target in endpoints.items()},
            addresses={role: str(target).rstrip(".") for role, target in endpoints.items()},
            # Clients use HTTPS on the service hostname whatever the health checker speaks.
            port=url.port if url.scheme == "https" and url.port else 443,
            health_path=url.path or "/",
            ca_bundle=self.ca_bundle,
            certificate_authorities={
                str(role): tuple(str(ca) for ca in cas)
                for role, cas in dict(svc.get("certificate_authorities") or {}).items()
            },
            acme=_acme_renewals(svc.get("acme")),
            failover_bound_seconds=float(svc["rto_budget_seconds"]),
            description=f"Pulumi stack {self.stack} ({self.work_dir}), service {self.service}",
        )

    def rto_seconds(self) -> float:
        return float(self._service_outputs()["rto_target_seconds"])

    def problems(self) -> list[str]:
        found = [f"pending operation: {op} (resolve it with `pulumi refresh` first)"
                 for op in self.backend.pending_operations()]  # fmt: skip
        marker = self.marker()
        if marker is not None:
            # Never overridable: the stack holds one marker, and a second drill would lose track of the first.
            found.append(f"{DRILL_KEY} is already set ({marker.describe(datetime.now(UTC))}): a drill is running "
                         "or was killed; `bascule drill recover` clears it")  # fmt: skip
        return found

    def risks(self) -> list[str]:
        """Every other service of the stack whose DNS already answers its secondary (resolvers as for this one)."""
        found = []
        for name in sorted(deployed_services(self.backend.resources())):
            if name == self.service:
                continue
            other = PulumiStackControl(
                self.backend, self.stack, self.work_dir, name, self._progress, resolvers=self.extra_resolvers,
                with_authoritative=self.with_authoritative, targets_for=self._targets_for, ca_bundle=self.ca_bundle,
            ).target()  # fmt: skip
            answers = [query_dns(resolver, other, PROBE_TIMEOUT) for resolver in other.resolvers]
            away = [f"{r.name} -> {a.answers}" for r, a in zip(other.resolvers, answers, strict=True)
                    if a.site not in (None, "primary")]  # fmt: skip
            if away:
                found.append(f"service '{name}' of this stack is already failed over ({'; '.join(away)}): "
                             "two services on their standby at once is not a drill")  # fmt: skip
        return found

    def _targets(self, service: str, fault: Fault) -> list[str]:
        targets = self._targets_for(service, fault)
        if not targets:
            raise ControlError(f"fault '{fault.value}' changes no resource of service '{service}'")
        return targets

    def marker(self) -> DrillMarker | None:
        """The drill the stack says it is in (config, tag or outputs), if any."""
        raw = self.backend.drill_config()
        return DrillMarker.parse(raw) if raw else None

    def inject(self, fault: Fault, deadline: datetime) -> None:
        """Set the marker (with its deadline), then apply the fault in the order of `inject_phases`."""
        targets = self._targets(self.service, fault)
        self.backend.set_drill(marker_value(self.service, fault, deadline))
        for phase in inject_phases(targets, fault):
            self.progress(f"pulumi up: injecting '{fault.value}' into {self.service} ({len(phase)} resources targeted)")
            self.backend.up(self.progress, phase)

    def restore(self, fault: Fault, cancel_running: bool = False) -> None:
        """Undo the drill the stack says it is in (its marker names the service), else this control's service.

        Converges from any half-done inject: pending operations a killed update left are cleared and the fault's
        resources refreshed, so the state says what the cloud has; only URNs in the state are targeted (Pulumi
        refuses a target it cannot find in the stack, pulumi/pulumi#11375 "could not be found in the stack"); the
        harmful-alone changes are undone first. `cancel_running`: cancel an update still holding the stack (only
        for a drill known dead: past its deadline).
        """
        if self.data:
            self._fail_back()
        marker = self.marker()
        service = marker.service if marker is not None and marker.service else self.service
        try:
            targets = self._targets(service, fault)
        except ControlError as exc:
            # The program rejects this drill (or it changes nothing), so no update can have deployed it.
            self.backend.clear_drill()
            self.progress(f"restore: {exc}; {DRILL_KEY} cleared, nothing to update")
            return
        try:
            self._restore_targets(service, fault, targets)
        except UpdateRunning:
            if not cancel_running:
                raise
            self.progress("restore: an update of the dead drill still holds the stack; cancelling it")
            self.backend.cancel()
            self._restore_targets(service, fault, targets)

    def _fail_back(self) -> None:
        """The data standby back to a replica of the primary, before the primary site returns (as the sandbox's
        restore does): `bascule.data.failback`, which finds a pair never promoted nothing to do. When it cannot, the
        site stays failed over to the standby, which is then the writer, and the lock stays for `drill recover`."""
        try:
            pair = pair_from_state(self.backend.resources(), self.stack, self.service)
            result = failback(pair, on_step=lambda step: self.progress(
                f"data failback: {step.step} on {step.where}: {step.status} {step.detail}".rstrip()))  # fmt: skip
        except (PairStateError, DataRefused, DataError, psycopg.Error) as exc:
            raise ControlError(f"stack '{self.stack}': the data standby of '{self.service}' could not fail back "
                               f"({' '.join(str(exc).split())}); the site stays failed over until it does: "
                               "`bascule drill recover` tries again") from exc  # fmt: skip
        self.progress(f"data failback: {result.outcome}")

    def _restore_targets(self, service: str, fault: Fault, targets: list[str]) -> None:
        pending = self.backend.pending_operations()
        if pending:
            for op in self.backend.clear_pending():
                urn = op.split(" ", 1)[-1]
                note = (" (a resource of this fault: it may exist in the cloud outside the state; if so, delete it "
                        "by hand)" if op.startswith("creat") and urn in targets else "")  # fmt: skip
                self.progress(f"restore: cleared pending operation {op}{note}")
        in_state = self.backend.state_urns()
        present = [t for t in targets if t in in_state]
        skipped = len(targets) - len(present)
        if pending and present:
            self.progress(f"pulumi refresh: reading {len(present)} resources of the fault back from the cloud")
            self.backend.refresh(self.progress, present)
        self.backend.clear_drill(keep_tag=True)  # the program reads the config: it must go before the update
        if not present:
            self.progress(f"restore: no resource of '{fault.value}' reached the state; {DRILL_KEY} cleared")
        for phase in reversed(inject_phases(present, fault)):
            self.progress(f"pulumi up: restoring {service} after '{fault.value}' ({len(phase)} resources targeted"
                          + (f"; {skipped} never reached the state)" if skipped else ")"))  # fmt: skip
            self.backend.up(self.progress, phase)
        self.backend.clear_drill()

    def lock_key(self) -> str:
        return stack_lock_key(self.work_dir, self.stack)

    def describe(self) -> dict[str, Any]:
        return {"kind": "pulumi-stack", "stack": self.stack, "work_dir": str(self.work_dir.resolve()),
                "service": self.service, "data": self.data}  # fmt: skip
