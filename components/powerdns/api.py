"""PowerDNS as a failover switch: the LUA record and the HTTP API, shared by the sandbox and the component.

One place builds the `ifurlup()` record, so what the sandbox drills is what a production zone serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


def lua_failover_content(
    url: str,
    primary: str,
    secondary: str,
    *,
    timeout: int,
    interval: int,
    failures: int,
    stringmatch: str | None = None,
) -> str:
    """Content of a LUA record of qtype A: the primary group while its health URL answers, else the secondary.

    `backupSelector='all'`: with no healthy group, answer every address (fail open, as Route 53 does), so
    clients still get an answer and a drill can tell "no healthy site" from a failover. `interval` and
    `minimumFailures` are honoured by PowerDNS 5.0 and later (added in 5.0.0); older servers use the global
    `lua-health-checks-interval` and switch on the first failure.
    """
    for address in (primary, secondary, url, stringmatch or ""):
        if "'" in address or '"' in address:
            raise ValueError(f"quotes are not allowed in LUA record values: {address!r}")
    options = [f"timeout={timeout}", f"interval={interval}", f"minimumFailures={failures}", "backupSelector='all'"]
    if stringmatch:
        options.append(f"stringmatch='{stringmatch}'")
    groups = "{{'" + primary + "'},{'" + secondary + "'}}"
    return f"A \"ifurlup('{url}', {groups}, {{{', '.join(options)}}})\""


class PowerDnsApiError(Exception):
    pass


@dataclass(frozen=True)
class PowerDnsApi:
    """The few calls Bascule needs from the PowerDNS Authoritative HTTP API (v1)."""

    url: str
    api_key: str
    server_id: str = "localhost"
    timeout: float = 10.0

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        target = f"{self.url.rstrip('/')}/api/v1/servers/{self.server_id}{path}"
        try:
            response = httpx.request(method, target, json=body, headers={"X-API-Key": self.api_key},
                                     timeout=self.timeout, trust_env=False)  # fmt: skip
        except httpx.HTTPError as exc:
            raise PowerDnsApiError(f"{method} {target}: {exc}") from None
        if response.status_code >= 400:
            detail = response.text.strip()[:300]
            raise PowerDnsApiError(f"{method} {target}: HTTP {response.status_code}: {detail}")
        return response.json() if response.content else None

    @staticmethod
    def fqdn(name: str) -> str:
        return name.rstrip(".") + "."

    def require_lua(self) -> None:
        """LUA records are served only with `enable-lua-records=yes`; without it they answer nothing at all."""
        config: list[dict[str, Any]] = self._request("GET", "/config") or []
        settings = {item["name"]: item.get("value") for item in config}
        if settings.get("enable-lua-records") not in ("yes", "shared"):
            raise PowerDnsApiError(
                f"PowerDNS at {self.url} runs with enable-lua-records={settings.get('enable-lua-records', 'no')}: "
                "set enable-lua-records=yes in its configuration, or the failover record would answer nothing"
            )

    def create_zone(self, zone: str, rrsets: list[tuple[str, str, int, list[str]]]) -> None:
        """A Native zone holding `rrsets` (name, type, TTL, contents), its SOA and apex NS among them. `nameservers`
        stays empty: beside apex NS RRsets the API refuses it ("Nameservers list MUST NOT be mixed with zone-level NS
        in rrsets")."""
        records = [{"name": self.fqdn(name), "type": rtype, "ttl": ttl, "changetype": "REPLACE",
                    "records": [{"content": c, "disabled": False} for c in contents]}
                   for name, rtype, ttl, contents in rrsets]  # fmt: skip
        self._request("POST", "/zones", {"name": self.fqdn(zone), "kind": "Native", "nameservers": [],
                                         "rrsets": records})  # fmt: skip

    def replace(self, zone: str, name: str, rtype: str, ttl: int, contents: list[str]) -> None:
        rrset = {"name": self.fqdn(name), "type": rtype, "ttl": ttl, "changetype": "REPLACE",
                 "records": [{"content": c, "disabled": False} for c in contents]}  # fmt: skip
        self._request("PATCH", f"/zones/{self.fqdn(zone)}", {"rrsets": [rrset]})

    def change_type(self, zone: str, name: str, old_type: str, rtype: str, ttl: int, contents: list[str]) -> None:
        """Replace the RRset of `old_type` at `name` by one of `rtype`, in one PATCH: PowerDNS applies a PATCH's
        RRsets in one backend transaction (`patchZone` in pdns/ws-auth.cc starts it before the first RRset and
        commits after the last), so the name is never without an answer and a refused change leaves the old set."""
        rrsets = [
            {"name": self.fqdn(name), "type": rtype, "ttl": ttl, "changetype": "REPLACE",
             "records": [{"content": c, "disabled": False} for c in contents]},
            {"name": self.fqdn(name), "type": old_type, "changetype": "DELETE"},
        ]  # fmt: skip
        self._request("PATCH", f"/zones/{self.fqdn(zone)}", {"rrsets": rrsets})

    def delete(self, zone: str, name: str, rtype: str) -> None:
        rrset = {"name": self.fqdn(name), "type": rtype, "changetype": "DELETE"}
        self._request("PATCH", f"/zones/{self.fqdn(zone)}", {"rrsets": [rrset]})

    def get(self, zone: str, name: str, rtype: str) -> dict[str, Any] | None:
        data = self._request("GET", f"/zones/{self.fqdn(zone)}")
        return next((r for r in data.get("rrsets", []) if r["name"] == self.fqdn(name) and r["type"] == rtype), None)
