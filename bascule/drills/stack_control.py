"""Drill a real Pulumi stack: inject a fault through stack config `bascule:drill` and a targeted `pulumi up`.

The components turn that config into the fault's resource changes (see components/), so the fault is
applied by the same code, providers and credentials as any deployment, and undone by clearing the config
and updating again. Both updates are targeted: the program is run offline with and without the drill, and
only the resources whose inputs differ (the fault's) are passed as `target`, so a drill never deploys
unrelated changes waiting in the stack or in the checkout.

A fresh checkout (a new CI runner) must find a drill left behind: besides the stack config file, the marker
lives where the backend keeps it, in the stack's outputs (each service exports its `drill`) and, on backends
that support them, a stack tag `bascule:drill` set before the inject update starts.

The stack is reached through a small `StackBackend` interface: Pulumi's Automation API in production, a fake
in tests (the Automation API needs the Pulumi CLI, which CI does not have).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import dns.exception
import dns.resolver

from bascule.drills.control import ControlError
from bascule.drills.journal import Redactor
from bascule.drills.plan import Fault
from bascule.io.documents import InputError, read_yaml
from bascule.offline.engine import ProgramError, load_program_dir, run_offline
from bascule.readiness.target import DrillTarget, Resolver
from bascule.spec import DRILL_KEY, SpecError, load_stack_file

DRILL_TAG = DRILL_KEY
"""The stack tag that mirrors `bascule:drill` in the backend (Pulumi Cloud keeps tags with the stack)."""

INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/) and log in to the stack's backend; "
    "`bascule drill --local` needs neither"
)
Progress = Callable[[str], None]


class CliMissing(ControlError):
    """No `pulumi` executable: stack drills cannot run here (exit 2, not a drill failure)."""


class StackBackend(Protocol):
    def outputs(self) -> dict[str, tuple[Any, bool]]:
        """Stack outputs as (value, secret)."""
        ...

    def config(self) -> dict[str, tuple[str, bool]]:
        """Stack config as (value, secret); secret values in plain text, so they can be redacted."""
        ...

    def pending_operations(self) -> list[str]: ...

    def drill_config(self) -> str | None: ...

    def set_drill(self, value: str) -> None: ...

    def clear_drill(self) -> None: ...

    def up(self, on_output: Progress, targets: list[str]) -> None:
        """Update only `targets` (URNs); never called with an empty list."""
        ...


def drill_from_outputs(outputs: dict[str, tuple[Any, bool]]) -> str | None:
    """The drill a deployed stack is in, as its outputs say (`services.<name>.drill`), in `bascule:drill` form."""
    services, _ = outputs.get("services", (None, False))
    if not isinstance(services, dict):
        return None
    for name, svc in sorted(services.items()):
        fault = svc.get("drill") if isinstance(svc, dict) else None
        if fault:
            return json.dumps({"service": name, "fault": fault})
    return None


def fault_targets(
    program: Callable[[], None], config: dict[str, Any], project: str, stack: str, service: str, fault: Fault
) -> list[str]:
    """URNs of the resources a fault changes: created, deleted or with other inputs when the program runs with the
    drill than without it. Both runs use the same config otherwise, so pending edits elsewhere are not included."""
    base = {k: v for k, v in config.items() if k != DRILL_KEY}
    drilled = {**base, DRILL_KEY: json.dumps({"service": service, "fault": fault.value})}
    try:
        before = {r.urn: r.inputs for r in run_offline(program, base, project=project, stack=stack).resources}
        after = {r.urn: r.inputs for r in run_offline(program, drilled, project=project, stack=stack).resources}
    except ProgramError as exc:
        raise ControlError(f"cannot work out what the fault changes: {exc}") from None
    return sorted(urn for urn in before.keys() | after.keys() if before.get(urn) != after.get(urn))


def local_fault_targets(work_dir: Path, stack: str) -> Callable[[str, Fault], list[str]]:
    """`fault_targets` for the Pulumi project in `work_dir` and its stack file (`stackConfigDir` honoured)."""

    def targets(service: str, fault: Fault) -> list[str]:
        try:
            project, program = load_program_dir(work_dir)
        except ProgramError as exc:
            raise ControlError(str(exc)) from None
        config_dir = _stack_config_dir(work_dir)
        try:
            config, _ = load_stack_file(config_dir / f"Pulumi.{stack}.yaml")
        except SpecError as exc:
            raise ControlError("; ".join(exc.lines)) from None
        return fault_targets(program, config, project, stack, service, fault)

    return targets


def _stack_config_dir(work_dir: Path) -> Path:
    try:
        project = read_yaml(work_dir / "Pulumi.yaml", "Pulumi project file")
    except InputError as exc:
        raise ControlError(str(exc)) from None
    if not isinstance(project, dict):
        raise ControlError(f"{work_dir / 'Pulumi.yaml'}: expected a mapping, as Pulumi project files have")
    return work_dir / str(project.get("stackConfigDir") or ".")


class AutomationBackend:
    """The stack through Pulumi's Automation API (a local program in `work_dir`, any backend it is logged in to)."""

    def __init__(self, stack: str, work_dir: Path):
        from pulumi import automation as auto

        self._auto = auto
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

    def config(self) -> dict[str, tuple[str, bool]]:
        return {key: (str(value.value), value.secret) for key, value in self._stack.get_all_config().items()}

    def pending_operations(self) -> list[str]:
        deployment = self._stack.export_stack().deployment or {}
        return [
            f"{op.get('type', '?')} {op.get('resource', {}).get('urn', '?')}"
            for op in deployment.get("pending_operations") or []
        ]

    def drill_config(self) -> str | None:
        """The drill marker: the stack config file, else the backend's tag, else the deployed outputs."""
        try:
            return str(self._stack.get_config(DRILL_KEY).value)
        except self._auto.CommandError:
            pass
        try:
            return self._stack.get_tag(DRILL_TAG)
        except self._auto.CommandError:
            pass  # no such tag, or a backend without stack tags
        return drill_from_outputs(self.outputs())

    def set_drill(self, value: str) -> None:
        self._stack.set_config(DRILL_KEY, self._auto.ConfigValue(value=value))
        # Backends without stack tags: the outputs carry the marker once the update has run.
        with contextlib.suppress(self._auto.CommandError):
            self._stack.set_tag(DRILL_TAG, value)

    def clear_drill(self) -> None:
        # Either may be absent: a fresh checkout has no config entry, a DIY backend no tags.
        with contextlib.suppress(self._auto.CommandError):
            self._stack.remove_config(DRILL_KEY)
        with contextlib.suppress(self._auto.CommandError):
            self._stack.remove_tag(DRILL_TAG)

    def up(self, on_output: Progress, targets: list[str]) -> None:
        try:
            self._stack.up(on_output=on_output, message="bascule drill", target=targets, target_dependents=False)
        except self._auto.ConcurrentUpdateError:
            raise ControlError("another update is running on this stack; try again when it has finished") from None
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


def make_backend(stack: str, work_dir: Path) -> StackBackend:
    if shutil.which("pulumi") is None:
        raise CliMissing(f"the Pulumi CLI is not installed (no `pulumi` on PATH); {INSTALL_HINT}")
    return AutomationBackend(stack, work_dir)


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


def stack_targets(
    stack: str,
    service: str | None,
    cwd: Path,
    resolvers: tuple[Resolver, ...] = (),
    with_authoritative: bool = True,
    ca_bundle: str | None = None,
) -> list[DrillTarget]:
    """What a client of each service of a deployed stack (or only `service`) sees, as the stack's outputs say.

    Raises `CliMissing`, or `ControlError` when the stack has no services output or cannot be reached.
    """
    backend = make_backend(stack, cwd)
    services, _ = backend.outputs().get("services", (None, False))
    names = [service] if service else sorted(services) if isinstance(services, dict) else []
    if not names:
        raise ControlError(f"stack '{stack}' has no `services` output: is it a Bascule stack, deployed?")
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

    def progress(self, line: str) -> None:
        """Update output (`pulumi up` echoes values) goes out only after every secret output is redacted."""
        if self._redact is None:
            self._redact = Redactor(self.secrets())
        self._progress(self._redact(line))

    def _service_outputs(self) -> dict[str, Any]:
        outputs = self.backend.outputs()
        services, secret = outputs.get("services", (None, False))
        if not isinstance(services, dict):
            raise ControlError(f"stack '{self.stack}' has no `services` output: is it a Bascule stack, deployed?")
        if self.service not in services:
            raise ControlError(f"stack '{self.stack}' has no service '{self.service}' (it has: {', '.join(services)})")
        if secret:
            self.progress("note: the stack's services output is secret; it is redacted from every report")
        return dict(services[self.service])

    def secrets(self) -> list[Any]:
        """Secret outputs and secret config: both are printed by `pulumi up` in some form and both must go."""
        marked = [value for value, secret in self.backend.outputs().values() if secret]
        marked += [value for value, secret in self.backend.config().values() if secret]
        return [s for value in marked for s in _secret_values(value)]

    def target(self) -> DrillTarget:
        svc = self._service_outputs()
        endpoints = dict(svc["endpoints"])
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
            failover_bound_seconds=float(svc["rto_budget_seconds"]),
            description=f"Pulumi stack {self.stack} ({self.work_dir}), service {self.service}",
        )

    def rto_seconds(self) -> float:
        return float(self._service_outputs()["rto_target_seconds"])

    def problems(self) -> list[str]:
        found = [f"pending operation: {op} (resolve it with `pulumi refresh` first)"
                 for op in self.backend.pending_operations()]  # fmt: skip
        current = self.backend.drill_config()
        if current:
            found.append(f"{DRILL_KEY} is already set ({current}): a drill is running or was killed; "
                         "`bascule drill recover` clears it")  # fmt: skip
        return found

    def _targets(self, service: str, fault: Fault) -> list[str]:
        targets = self._targets_for(service, fault)
        if not targets:
            raise ControlError(f"fault '{fault.value}' changes no resource of service '{service}'")
        return targets

    def inject(self, fault: Fault) -> None:
        targets = self._targets(self.service, fault)
        self.backend.set_drill(json.dumps({"service": self.service, "fault": fault.value}))
        self.progress(f"pulumi up: injecting '{fault.value}' into {self.service} ({len(targets)} resources targeted)")
        self.backend.up(self.progress, targets)

    def restore(self, fault: Fault) -> None:
        """Undo the drill the stack says it is in (its marker names the service), else this control's service."""
        service = self.service
        marker = self.backend.drill_config()
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            service = str(json.loads(marker or "").get("service") or service)
        try:
            targets = self._targets(service, fault)
        except ControlError as exc:
            # The program rejects this drill (or it changes nothing), so no update can have deployed it.
            self.backend.clear_drill()
            self.progress(f"restore: {exc}; {DRILL_KEY} cleared, nothing to update")
            return
        self.backend.clear_drill()
        self.progress(f"pulumi up: restoring {service} after '{fault.value}' ({len(targets)} resources targeted)")
        self.backend.up(self.progress, targets)

    def lock_key(self) -> str:
        return f"pulumi:{self.work_dir.resolve()}:{self.stack}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "pulumi-stack", "stack": self.stack, "work_dir": str(self.work_dir.resolve()),
                "service": self.service}  # fmt: skip
