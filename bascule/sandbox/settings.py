"""Which failover settings a sandbox runs with: the embedded fast default or a stack service's, and how a running
sandbox's settings differ from the ones asked for (so a drill or `sandbox up` never silently uses other timing)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from bascule.io.escaping import quoted
from bascule.sandbox.sandbox import Sandbox, SandboxError, SandboxRefused, SandboxService
from bascule.spec import load_stack_file


def service_settings(stack: str | None, service: str | None, stacks_dir: Path) -> SandboxService:
    """The sandbox's failover settings: the embedded fast default (no stack), or a stack service's real ones.

    Raises `SpecError` for an invalid stack file and `SandboxError` when the service is not one of the stack's (or
    the stack has several and none was named).
    """
    if stack is None:
        return SandboxService()
    _, spec = load_stack_file(stacks_dir / f"Pulumi.{stack}.yaml")
    names = [s.name for s in spec.services]
    if service is None and len(names) > 1:
        raise SandboxError(f"stack '{stack}' has several services ({', '.join(names)}); choose one with --service")
    chosen = next((s for s in spec.services if s.name in (service, None) or service is None), None)
    if chosen is None or (service is not None and chosen.name != service):
        raise SandboxError(f"stack {quoted(stack)} has no service {quoted(service)} (it has: {', '.join(names)})")
    return SandboxService.from_spec(chosen)


_SETTING_LABELS = {
    "name": "service {}",
    "zone": "zone {}",
    "health_path": "health path {}",
    "interval_seconds": "interval {} s",
    "failure_threshold": "{} failures",
    "ttl": "TTL {} s",
    "check_timeout_seconds": "check timeout {} s",
    "rto_seconds": "RTO {} s",
    "rpo_seconds": "RPO {} s",
}
"""A sandbox setting as the messages about a running sandbox's other settings name it."""


def setting_differences(running: SandboxService, asked: SandboxService) -> tuple[str, str]:
    """The settings that differ, as the running sandbox has them and as the drill asked: a drill that silently used
    the running sandbox's 1 s TTL would time failover against settings the service does not have."""
    changed = [f.name for f in fields(SandboxService) if getattr(running, f.name) != getattr(asked, f.name)]

    def described(service: SandboxService) -> str:
        return ", ".join(_SETTING_LABELS.get(name, name + " {}").format(getattr(service, name)) for name in changed)

    return described(running), described(asked)


def running_as(
    directory: Path, settings: SandboxService, data: bool, acme: bool = False, backups: bool = False
) -> Sandbox | None:
    """The sandbox already running in `directory` with these settings, else None (nothing runs: start one).

    `up` twice is not an error, the sandbox is up as asked. One running with other settings is refused
    (`SandboxRefused`): restarting it under a drill or a colleague would be worse, and using it would not be what
    was asked.
    """
    existing = Sandbox.load(directory)
    if existing is None or not existing.running():
        return None
    running, asked = setting_differences(existing.state.service, settings)
    for wanted, has, said in (
        (data, existing.state.data is not None, ("with databases", "no databases")),
        (acme, existing.state.acme is not None, ("an ACME certificate", "no ACME certificate")),
        (backups, existing.state.backup is not None, ("a backup store", "no backup store")),
    ):
        if has != wanted:
            running = ", ".join(filter(None, (running, said[not has])))
            asked = ", ".join(filter(None, (asked, said[not wanted])))
    if running:
        raise SandboxRefused(f"a sandbox already runs in {directory} with {running}, not {asked}; stop it first with "
                             "`bascule sandbox down`")  # fmt: skip
    return existing
