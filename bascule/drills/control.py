"""What a drill acts on. The sandbox and a Pulumi stack implement the same small interface.

`describe()` is written into the drill's lock, so recovery (`recovery.control_from_description`) can rebuild the
control and undo a fault left behind by a drill that was killed, without knowing what kind of target it was.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bascule.drills.plan import Fault
from bascule.readiness.target import AcmeRenewal, DrillTarget, Resolver
from bascule.sandbox import ADDRESSES, PRIMARY, SECONDARY, Sandbox, SandboxError
from bascule.sandbox.acme import RENEW_DAYS
from bascule.sandbox.modes import DOWN, HEALTHY, UNHEALTHY


class ControlError(Exception):
    """The control could not act (inject or restore); the message names the target and the step."""


class DrillControl(Protocol):
    def target(self) -> DrillTarget: ...

    def inject(self, fault: Fault, deadline: datetime) -> None:
        """Apply the fault. `deadline`: when anyone may restore it without asking (a stack's marker carries it)."""
        ...

    def restore(self, fault: Fault) -> None: ...

    def lock_key(self) -> str:
        """One lock per target: two drills on one stack or sandbox would measure each other's faults."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def problems(self) -> list[str]:
        """Reasons not to start that nothing overrides (pending operations, a drill already running)."""
        ...

    def risks(self) -> list[str]:
        """Reasons a switch is unsafe that an operator may override with `--force REASON` (another service of the
        target already failed over); the standby's readiness is checked by the runner on top of these."""
        ...

    def secrets(self) -> list[Any]:
        """Values that must never reach a journal, report or log (strings, or numbers that must be hidden too)."""
        ...


def sandbox_lock_key(directory: Path) -> str:
    return f"sandbox:{directory}"


def sandbox_description(directory: Path) -> dict[str, Any]:
    """What `drill recover` needs to find a sandbox again; written into the lock even before the sandbox starts."""
    return {"kind": "sandbox", "directory": str(directory)}


class SandboxControl:
    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def target(self) -> DrillTarget:
        state = self.sandbox.state
        return DrillTarget(
            service=state.service.name,
            hostname=state.service.hostname,
            resolvers=(Resolver("sandbox-authoritative", "127.0.0.1", state.dns_port),)
            + (
                (Resolver("sandbox-recursor", "127.0.0.1", state.resolver_port, "recursive"),)
                if state.resolver_port
                else ()
            ),
            sites={role: (address,) for role, address in ADDRESSES.items()},
            addresses=dict(ADDRESSES),
            port=state.https_port,
            health_path=state.service.health_path,
            ca_bundle=str(state.trust_bundle),
            acme=(
                {SECONDARY: AcmeRenewal(self.sandbox.acme_server().directory_url, RENEW_DAYS)}
                if state.acme is not None
                else {}
            ),
            check_timeout_seconds=state.service.check_timeout_seconds,
            failover_bound_seconds=state.failover_bound_seconds,
            description=(
                f"local sandbox: PowerDNS {state.pdns_version} on 127.0.0.1:{state.dns_port}, "
                f"primary {ADDRESSES[PRIMARY]}, secondary {ADDRESSES[SECONDARY]} (HTTPS :{state.https_port}), "
                f"checks every {state.service.interval_seconds} s, {state.effective_failures} failure(s) to switch, "
                f"TTL {state.service.ttl} s"
            ),
        )

    def inject(self, fault: Fault, deadline: datetime) -> None:
        """The sandbox keeps no marker: its deadline is the drill's lock, which `drill recover` reads."""
        try:
            if fault is Fault.HEALTH:
                self.sandbox.set_site_mode(PRIMARY, UNHEALTHY)
            elif fault is Fault.OUTAGE:
                self.sandbox.set_site_mode(PRIMARY, DOWN)
                if self.sandbox.state.data is not None:  # the whole primary side is gone, its database too
                    self.sandbox.kill_database(PRIMARY)
            else:
                self.sandbox.set_switched(True)
        except (SandboxError, OSError) as exc:
            raise ControlError(f"sandbox: inject {fault.value}: {exc}") from exc

    def restore(self, fault: Fault) -> None:
        """Undo every fault kind, not just `fault`: restoring must converge whatever state a crash left."""
        try:
            if self.sandbox.state.data is not None:  # primary-with-replica again, before the primary site returns
                self.sandbox.restore_data()
            self.sandbox.set_site_mode(PRIMARY, HEALTHY)  # restarts the site if it was stopped
            if self.sandbox.state.switched:
                self.sandbox.set_switched(False)
        except (SandboxError, OSError) as exc:
            raise ControlError(f"sandbox: restore after {fault.value}: {exc}") from exc

    def lock_key(self) -> str:
        return sandbox_lock_key(self.sandbox.dir)

    def describe(self) -> dict[str, Any]:
        return sandbox_description(self.sandbox.dir)

    def problems(self) -> list[str]:
        return [] if self.sandbox.running() else [f"the sandbox in {self.sandbox.dir} is not fully running"]

    def risks(self) -> list[str]:
        return []  # one service per sandbox

    def secrets(self) -> list[Any]:
        return []


def sandbox_target(directory: Path) -> DrillTarget:
    """What a client of the sandbox running in `directory` sees; `SandboxError` when there is none."""
    sandbox = Sandbox.load(directory)
    if sandbox is None:
        raise SandboxError(f"no sandbox in {directory}; start one with `bascule sandbox up`")
    return SandboxControl(sandbox).target()
