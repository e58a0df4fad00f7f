"""PowerDNS: the 'powerdns' DNS backend, a LUA `ifurlup()` record in a zone you run (`failover.py`), written through
the PowerDNS HTTP API (`api.py`, shared with the sandbox). `plugin.py` declares the backend without importing Pulumi.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    # Stacks deployed before the move hold the record provider pickled as
    # `bascule.components.powerdns.PowerDnsRecordProvider`: it must still resolve here (loading Pulumi only then).
    if name == "PowerDnsRecordProvider":
        return importlib.import_module("bascule.components.powerdns.failover").PowerDnsRecordProvider
    raise AttributeError(f"module 'bascule.components.powerdns' has no attribute {name!r}")
