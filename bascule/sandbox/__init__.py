"""The local sandbox: real PowerDNS failover between two loopback sites, the drills' embedded default target.

Owns the sandbox's processes and state (`sandbox.py`, `site.py`, `database.py`, `pki.py`), the secondary's ACME
certificate by DNS-01 (`acme.py`), which settings it runs with and how a running one differs from those asked for
(`settings.py`), which sandbox a drill started and may delete (`ownership.py`), and its status in words
(`status.py`).

May import: `bascule.backup` (its store and plan), `bascule.components` (the PowerDNS API client and LUA record
only), `bascule.readiness` (the site header, the certificate days verify asks for), `bascule.data`, `bascule.spec`,
`bascule.io`.
"""

from bascule.sandbox.sandbox import (
    ADDRESSES,
    PRIMARY,
    SECONDARY,
    Sandbox,
    SandboxError,
    SandboxRefused,
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
    "SandboxRefused",
    "SandboxService",
    "SandboxState",
    "default_state_dir",
]
