"""The local sandbox: real PowerDNS failover between two loopback sites, the drills' embedded default target."""

from bascule.sandbox.sandbox import (
    ADDRESSES,
    PRIMARY,
    SECONDARY,
    Sandbox,
    SandboxError,
    SandboxService,
    SandboxState,
    default_state_dir,
)

__all__ = [
    "ADDRESSES",
    "PRIMARY",
    "SECONDARY",
    "Sandbox",
    "SandboxError",
    "SandboxService",
    "SandboxState",
    "default_state_dir",
]
