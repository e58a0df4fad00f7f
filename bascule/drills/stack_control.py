"""Drill a real Pulumi stack: inject a fault through stack config `bascule:drill` and `pulumi up`.

The components turn that config into the fault's resource changes (see components/), so the fault is
applied by the same code, providers and credentials as any deployment, and undone by clearing the config
and updating again. The stack is reached through a small `StackBackend` interface: Pulumi's Automation
API in production, a fake in tests (the Automation API needs the Pulumi CLI, which CI does not have).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import dns.exception
import dns.resolver

from bascule.drills.control import ControlError
from bascule.drills.journal import Redactor
from bascule.drills.plan import DrillTarget, Fault, Resolver
from bascule.spec import DRILL_KEY

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

    def pending_operations(self) -> list[str]: ...

    def drill_config(self) -> str | None: ...

    def set_drill(self, value: str) -> None: ...

    def clear_drill(self) -> None: ...

    def up(self, on_output: Progress) -> None: ...


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
            raise ControlError(f"cannot select stack '{stack}' in {work_dir}: {_first_line(exc)}") from None

    def outputs(self) -> dict[str, tuple[Any, bool]]:
        return {key: (out.value, out.secret) for key, out in self._stack.outputs().items()}

    def pending_operations(self) -> list[str]:
        deployment = self._stack.export_stack().deployment or {}
        return [
            f"{op.get('type', '?')} {op.get('resource', {}).get('urn', '?')}"
            for op in deployment.get("pending_operations") or []
        ]

    def drill_config(self) -> str | None:
        try:
            return str(self._stack.get_config(DRILL_KEY).value)
        except self._auto.CommandError:
            return None

    def set_drill(self, value: str) -> None:
        self._stack.set_config(DRILL_KEY, self._auto.ConfigValue(value=value))

    def clear_drill(self) -> None:
        if self.drill_config() is not None:
            self._stack.remove_config(DRILL_KEY)

    def up(self, on_output: Progress) -> None:
        try:
            self._stack.up(on_output=on_output, message="bascule drill")
        except self._auto.ConcurrentUpdateError:
            raise ControlError("another update is running on this stack; try again when it has finished") from None
        except self._auto.CommandError as exc:
            raise ControlError(f"pulumi up failed: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def make_backend(stack: str, work_dir: Path) -> StackBackend:
    if shutil.which("pulumi") is None:
        raise CliMissing(f"the Pulumi CLI is not installed (no `pulumi` on PATH); {INSTALL_HINT}")
    return AutomationBackend(stack, work_dir)


def _secret_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secret_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _secret_strings(v)]
    return [str(value)] if value not in (None, "") else []


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
        ca_bundle: str | None = None,
    ):
        self.backend = backend
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

    def secrets(self) -> list[str]:
        return [s for value, secret in self.backend.outputs().values() if secret for s in _secret_strings(value)]

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

    def inject(self, fault: Fault) -> None:
        self.backend.set_drill(json.dumps({"service": self.service, "fault": fault.value}))
        self.progress(f"pulumi up: injecting '{fault.value}' into {self.service}")
        self.backend.up(self.progress)

    def restore(self, fault: Fault) -> None:
        self.backend.clear_drill()
        self.progress(f"pulumi up: restoring {self.service} after '{fault.value}'")
        self.backend.up(self.progress)

    def lock_key(self) -> str:
        return f"pulumi:{self.work_dir.resolve()}:{self.stack}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "pulumi-stack", "stack": self.stack, "work_dir": str(self.work_dir.resolve()),
                "service": self.service}  # fmt: skip
