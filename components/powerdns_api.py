"""The PowerDNS API client's former path, kept for code that imports it from here (the sandbox did): it lives in
`bascule.components.powerdns.api` now."""

from bascule.components.powerdns.api import PowerDnsApi, PowerDnsApiError, lua_failover_content

__all__ = ["PowerDnsApi", "PowerDnsApiError", "lua_failover_content"]
