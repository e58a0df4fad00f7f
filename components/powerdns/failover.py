"""PowerDNS failover: a LUA `ifurlup()` record in a self-hosted zone, written through the PowerDNS HTTP API.

Why a small dynamic provider and not the `pulumi-powerdns` package: that package (0.0.4, last released in
2023) needs a provider plugin binary fetched at install time, while four API calls (replace, delete, read
an RRset, enable LUA on the zone) cover everything this switch needs and are tested against a real
PowerDNS. The switch lives outside every cloud: its health checks run on your name servers, which must
run with `enable-lua-records=yes` (the API cannot turn it on per zone in PowerDNS 4.7).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from bascule.components.base import AcmeDnsChallenge, DnsFailover, SiteEndpoint, ValidationRecord, bascule_tags
from bascule.components.powerdns.api import PowerDnsApi, lua_failover_content
from bascule.components.powerdns.plugin import PowerDnsSpec
from bascule.spec import CONFIG_NAMESPACE, DrillFault, Role, ServiceSpec

API_KEY_CONFIG = "powerdnsApiKey"
_VALIDATION_TTL = 300


def _api(props: dict[str, Any]) -> PowerDnsApi:
    return PowerDnsApi(url=props["api_url"], api_key=props["api_key"], server_id=props["server_id"])


class PowerDnsRecordProvider(dynamic.ResourceProvider):
    """One RRset (zone, name, type) owned by Pulumi: REPLACE on create and update, DELETE on delete.

    A change of type (the `switch` drill turns the LUA record into a plain A record, restore turns it back) is an
    update, not a replacement: a replacement deletes the old set, then creates the new one, in two API calls, and a
    resolver asking in between caches "no such data" for the zone's SOA minimum (RFC 2308, section 5), while a
    create that then fails leaves the hostname with no address at all. One PATCH swaps the two sets atomically
    (`PowerDnsApi.change_type`).

    Runs inside Pulumi's dynamic-provider host, which pickles this class: it holds no state of its own.
    """

    # Pickled by reference into every record's state (`__provider`): the path it had before the plug-in packages,
    # which the package still resolves, keeps that string unchanged, so existing stacks see no diff on `pulumi up`.
    __module__ = "bascule.components.powerdns"

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        api = _api(props)
        if props["rtype"] == "LUA":
            api.require_lua()
        api.replace(props["zone"], props["name"], props["rtype"], int(props["ttl"]), list(props["contents"]))
        return dynamic.CreateResult(id_=f"{props['zone']}/{props['name']}/{props['rtype']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        keys = ("api_url", "server_id", "zone", "name", "rtype", "ttl", "contents", "api_key")
        changes = [k for k in keys if olds.get(k) != news.get(k)]
        identity: tuple[str, ...] = ("api_url", "server_id", "zone", "name")
        replaces = [k for k in identity if k in changes]
        return dynamic.DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        api = _api(news)
        zone, name, rtype, ttl, contents = (
            news["zone"], news["name"], news["rtype"], int(news["ttl"]), list(news["contents"])
        )  # fmt: skip
        if olds.get("rtype", rtype) == rtype:
            api.replace(zone, name, rtype, ttl, contents)
        else:
            if rtype == "LUA":
                api.require_lua()
            api.change_type(zone, name, olds["rtype"], rtype, ttl, contents)
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _api(props).delete(props["zone"], props["name"], props["rtype"])

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        found = _api(props).get(props["zone"], props["name"], props["rtype"])
        if found is None:
            return dynamic.ReadResult(id_="", outs={})
        contents = [r["content"] for r in found.get("records", [])]
        return dynamic.ReadResult(id_=id_, outs={**props, "ttl": found.get("ttl"), "contents": contents})


class PowerDnsRecord(dynamic.Resource):
    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        super().__init__(PowerDnsRecordProvider(), name, props, opts)


class PowerDnsFailover(DnsFailover):
    def __init__(self, name: str, service: ServiceSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:dns:PowerDnsFailover", name, None, opts)
        dns = service.dns
        if not isinstance(dns, PowerDnsSpec):
            raise TypeError(f"PowerDnsFailover needs a 'powerdns' DNS spec, got '{dns.kind}'")
        self._name = name
        self._service = service
        self._dns = dns
        self._api_key = pulumi.Config(CONFIG_NAMESPACE).require_secret(API_KEY_CONFIG)
        self._base = {
            "api_url": dns.api_url,
            "server_id": dns.server_id,
            "zone": dns.zone,
            "api_key": self._api_key,
            # Not sent to PowerDNS: lets inventories and policies attribute the records to the service.
            "tags": bascule_tags(service, Role.DNS),
        }
        self._child = pulumi.ResourceOptions(parent=self, additional_secret_outputs=["api_key"])

    def acme_challenge(self) -> AcmeDnsChallenge:
        """lego's `pdns` provider on this backend's API: `PDNS_API_URL`, `PDNS_API_KEY` and `PDNS_SERVER_NAME`
        ("Name of the server in the URL, 'localhost' by default"; terraform-provider-acme
        docs/guides/dns-providers-pdns.md), as the sandbox's lego runs it (`bascule/sandbox/acme.py`). The key is
        the stack's secret `bascule:powerdnsApiKey`, passed as a secret output, so the state keeps it encrypted as
        it keeps the records' copies."""
        return AcmeDnsChallenge(
            "pdns",
            {
                "PDNS_API_URL": self._dns.api_url,
                "PDNS_API_KEY": self._api_key,
                "PDNS_SERVER_NAME": self._dns.server_id,
            },
        )

    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord:
        content = pulumi.Output.from_input(value).apply(lambda v: f'"{v}"' if rtype == "TXT" else v)
        record = PowerDnsRecord(
            name,
            {**self._base, "name": record_name, "rtype": rtype, "ttl": _VALIDATION_TTL, "contents": [content]},
            self._child,
        )
        return ValidationRecord(resource=record, fqdn=pulumi.Output.from_input(record_name))

    def route(self, primary: SiteEndpoint, secondary: SiteEndpoint, fault: DrillFault | None = None) -> None:
        hc = self._service.health_check
        url = f"{hc.protocol.lower()}://{self._service.hostname}:{hc.effective_port}{hc.path}"
        if fault is DrillFault.SWITCH:
            # What an operator's manual switch does: answer the secondary only, no health check involved.
            rtype, contents = "A", [secondary.ip]
        else:
            rtype = "LUA"
            contents = [
                pulumi.Output.all(primary.ip, secondary.ip).apply(
                    lambda t: lua_failover_content(
                        url, t[0], t[1], timeout=self._dns.check_timeout_seconds, interval=hc.interval_seconds,
                        failures=hc.failure_threshold, stringmatch=hc.search_string,
                    )
                )
            ]  # fmt: skip
        PowerDnsRecord(
            f"{self._name}-record",
            {
                **self._base,
                "name": self._service.hostname,
                "rtype": rtype,
                "ttl": self._dns.ttl,
                "contents": contents,
                # Read by the policies (RTO budget), ignored by the API calls.
                "check_interval": hc.interval_seconds,
                "check_failures": hc.failure_threshold,
            },
            self._child,
        )
        self.health_check_ids = pulumi.Output.from_input({})
        self.register_outputs({"zone": self._dns.zone, "record": self._service.hostname, "type": rtype})
