"""PowerDNS failover: the component under mocks, and its provider for real against a PowerDNS HTTP API."""

from __future__ import annotations

import copy
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import httpx
import pytest

from bascule.components.powerdns import PowerDnsRecordProvider
from bascule.components.powerdns.api import PowerDnsApi, PowerDnsApiError, lua_failover_content
from bascule.sandbox import PRIMARY, Sandbox, SandboxError, SandboxService
from bascule.sandbox import sandbox as sandbox_module
from bascule.spec import SpecError, parse_services
from tests.conftest import Plan, wait_until

PlanFn = Callable[..., Plan]
DYNAMIC = "pulumi-python:dynamic:Resource"
API_KEY = "bascule-test-api-key"
SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")

SERVICE: dict[str, Any] = {
    "name": "ledger",
    "hostname": "ledger.bank.test",
    "rto_seconds": 120,
    "primary": {"kind": "endpoint", "provider": "aws", "region": "eu-west-3", "address": "192.0.2.10"},
    "secondary": {"kind": "endpoint", "provider": "azure", "region": "francecentral", "address": "198.51.100.10"},
    "health_check": {"protocol": "HTTPS", "path": "/healthz", "interval_seconds": 5, "failure_threshold": 3},
    "dns": {"kind": "powerdns", "zone": "bank.test", "api_url": "https://ns1.bank.test:8081", "ttl": 30},
}


def service() -> dict[str, Any]:
    return copy.deepcopy(SERVICE)


def test_component_writes_one_lua_record_with_a_secret_key(plan_services: PlanFn) -> None:
    plan = plan_services([service()], {"bascule:powerdnsApiKey": API_KEY})
    (record,) = [r for r in plan.resources if r.type == DYNAMIC]
    i = record.inputs
    assert (i["zone"], i["name"], i["rtype"], i["ttl"]) == ("bank.test", "ledger.bank.test", "LUA", 30)
    assert i["contents"] == [
        lua_failover_content("https://ledger.bank.test:443/healthz", "192.0.2.10", "198.51.100.10",
                             timeout=2, interval=5, failures=3)
    ]  # fmt: skip
    assert i["tags"]["bascule:role"] == "dns" and i["tags"]["bascule:service"] == "ledger"
    assert record.parent and "PowerDnsFailover" in record.parent


def test_switch_fault_answers_the_secondary_only(plan_services: PlanFn) -> None:
    plan = plan_services([service()], {"bascule:powerdnsApiKey": API_KEY,
                                       "bascule:drill": {"service": "ledger", "fault": "switch"}})  # fmt: skip
    (record,) = [r for r in plan.resources if r.type == DYNAMIC]
    assert (record.inputs["rtype"], record.inputs["contents"]) == ("A", ["198.51.100.10"])


def test_missing_api_key_names_the_config_key(plan_services: PlanFn) -> None:
    with pytest.raises(Exception, match="bascule:powerdnsApiKey"):
        plan_services([service()])


def test_powerdns_needs_ip_sites() -> None:
    svc = service()
    svc["primary"] = {"kind": "aws", "region": "eu-west-3", "image": "x"}
    with pytest.raises(SpecError) as exc:
        parse_services([svc], "s.yaml")
    assert exc.value.lines == [
        "s.yaml: service 'ledger': primary: PowerDNS ifurlup() checks and answers IP addresses, and a 'aws' site "
        "is reached by a hostname without a fixed IP; use a 'gcp' site or an 'endpoint' with an IP"
    ]


def test_lua_content_refuses_quotes() -> None:
    with pytest.raises(ValueError, match="quotes are not allowed"):
        lua_failover_content("http://x/'", "1.1.1.1", "2.2.2.2", timeout=1, interval=1, failures=1)


# --- the provider against a real PowerDNS with its API --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiServer:
    api: PowerDnsApi
    dns_port: int

    def answer(self, name: str) -> list[str]:
        query = dns.message.make_query(name, dns.rdatatype.A)
        try:
            response = dns.query.udp(query, "127.0.0.1", port=self.dns_port, timeout=1)
        except (OSError, dns.exception.Timeout):
            return []
        return sorted(item.to_text() for rrset in response.answer for item in rrset)


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[ApiServer]:
    yield from _api_server(tmp_path, lua=True)


@pytest.fixture
def api_server_without_lua(tmp_path: Path) -> Iterator[ApiServer]:
    yield from _api_server(tmp_path, lua=False)


def _api_server(tmp_path: Path, lua: bool) -> Iterator[ApiServer]:
    try:
        binary = sandbox_module.find_pdns()
    except SandboxError:
        if os.environ.get("CI"):
            raise
        pytest.skip("pdns_server not installed")
    if not SCHEMA.is_file():
        if os.environ.get("CI"):
            raise RuntimeError("pdns-backend-sqlite3 is missing in CI")
        pytest.skip("pdns-backend-sqlite3 not installed")
    database = tmp_path / "pdns.sqlite3"
    with sqlite3.connect(database) as db:
        db.executescript(SCHEMA.read_text())
    dns_port, web_port = _free_port(), _free_port()
    (tmp_path / "pdns.conf").write_text("\n".join([
        "launch=gsqlite3", f"gsqlite3-database={database}", f"local-address=127.0.0.1:{dns_port}",
        "api=yes", f"api-key={API_KEY}", "webserver=yes", "webserver-address=127.0.0.1",
        f"webserver-port={web_port}", "webserver-allow-from=127.0.0.0/8",
        f"enable-lua-records={'yes' if lua else 'no'}",
        "lua-health-checks-interval=1", f"socket-dir={tmp_path}", "guardian=no", "daemon=no",
        "disable-syslog=yes", "write-pid=no", "cache-ttl=0", "query-cache-ttl=0", "negquery-cache-ttl=0", "",
    ]))  # fmt: skip
    proc = subprocess.Popen([binary, f"--config-dir={tmp_path}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    api = PowerDnsApi(url=f"http://127.0.0.1:{web_port}", api_key=API_KEY)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.post(f"{api.url}/api/v1/servers/localhost/zones", headers={"X-API-Key": API_KEY},
                           json={"name": "bank.test.", "kind": "Native", "nameservers": ["ns1.bank.test."]},
                           timeout=1).raise_for_status()  # fmt: skip
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield ApiServer(api, dns_port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox.start(tmp_path / "sites", SandboxService(name="ledger", zone="bank.test"))
    yield box
    box.stop()


@pytest.mark.sandbox
def test_provider_lifecycle_and_real_failover(api_server: ApiServer, sites: Sandbox) -> None:
    provider = PowerDnsRecordProvider()
    # The sites route on SNI and Host: the check must ask for the hostname they serve, over HTTPS.
    url = f"https://ledger.bank.test:{sites.state.https_port}/healthz"
    props = {
        "api_url": api_server.api.url, "api_key": API_KEY, "server_id": "localhost", "zone": "bank.test",
        "name": "ledger.bank.test", "rtype": "LUA", "ttl": 5,
        "contents": [lua_failover_content(url, "127.0.0.2", "127.0.0.3", timeout=1, interval=1, failures=1)],
    }  # fmt: skip
    created = provider.create(props)
    assert created.id == "bank.test/ledger.bank.test/LUA"
    assert wait_until(lambda: api_server.answer("ledger.bank.test") == ["127.0.0.2"]), "never answered the primary"

    sites.stop_site(PRIMARY)
    assert wait_until(lambda: api_server.answer("ledger.bank.test") == ["127.0.0.3"]), "never failed over"
    sites.start_site(PRIMARY)
    assert wait_until(lambda: api_server.answer("ledger.bank.test") == ["127.0.0.2"]), "never failed back"

    read = provider.read(created.id, props)
    assert read.id == created.id and read.outs["contents"] == props["contents"]
    assert provider.diff(created.id, props, {**props, "ttl": 10}).replaces == []
    assert provider.diff(created.id, props, {**props, "name": "x.bank.test"}).replaces == ["name"]
    provider.update(created.id, props, {**props, "ttl": 10})
    assert provider.read(created.id, props).outs["ttl"] == 10

    provider.delete(created.id, props)
    assert provider.read(created.id, props).id == ""
    assert wait_until(lambda: api_server.answer("ledger.bank.test") == [])


@pytest.mark.sandbox
def test_a_type_change_swaps_the_sets_in_one_transaction(api_server: ApiServer) -> None:
    """The `switch` drill turns the LUA record into an A record and back: an update, never a delete then a create
    (the name would answer nothing in between, and nothing at all if the create failed), and a refused swap leaves
    the old set in place."""
    provider = PowerDnsRecordProvider()
    lua = {
        "api_url": api_server.api.url, "api_key": API_KEY, "server_id": "localhost", "zone": "bank.test",
        "name": "ledger.bank.test", "rtype": "LUA", "ttl": 5,
        "contents": [lua_failover_content("http://127.0.0.1:1/h", "127.0.0.2", "127.0.0.3", timeout=1, interval=1,
                                          failures=1)],
    }  # fmt: skip
    switched = {**lua, "rtype": "A", "contents": ["127.0.0.3"]}
    created = provider.create(lua)
    diff = provider.diff(created.id, lua, switched)
    assert diff.changes and diff.replaces == []
    # A set PowerDNS refuses (not an address) fails the whole PATCH: the LUA set is still there.
    with pytest.raises(PowerDnsApiError, match="HTTP 422"):
        provider.update(created.id, lua, {**switched, "contents": ["not-an-address"]})
    assert api_server.api.get("bank.test", "ledger.bank.test", "LUA") is not None
    assert api_server.api.get("bank.test", "ledger.bank.test", "A") is None

    outs = provider.update(created.id, lua, switched).outs
    assert api_server.api.get("bank.test", "ledger.bank.test", "LUA") is None
    assert wait_until(lambda: api_server.answer("ledger.bank.test") == ["127.0.0.3"])
    provider.update(created.id, outs, lua)  # restore
    assert api_server.api.get("bank.test", "ledger.bank.test", "A") is None
    assert api_server.api.get("bank.test", "ledger.bank.test", "LUA") is not None
    provider.delete(created.id, lua)


@pytest.mark.sandbox
def test_api_errors_name_the_call(api_server: ApiServer) -> None:
    bad = PowerDnsApi(url=api_server.api.url, api_key="wrong")
    with pytest.raises(PowerDnsApiError, match="HTTP 401"):
        bad.get("bank.test", "x.bank.test", "A")
    with pytest.raises(PowerDnsApiError, match=r"HTTP (404|422)"):
        api_server.api.replace("nosuch.test", "a.nosuch.test", "A", 5, ["192.0.2.1"])


@pytest.mark.sandbox
def test_server_without_lua_is_refused_clearly(api_server_without_lua: ApiServer) -> None:
    props = {"api_url": api_server_without_lua.api.url, "api_key": API_KEY, "server_id": "localhost",
             "zone": "bank.test", "name": "ledger.bank.test", "rtype": "LUA", "ttl": 5,
             "contents": [lua_failover_content("http://x:1/h", "127.0.0.2", "127.0.0.3", timeout=1, interval=1,
                                               failures=1)]}  # fmt: skip
    with pytest.raises(PowerDnsApiError, match="enable-lua-records=no: set enable-lua-records=yes"):
        PowerDnsRecordProvider().create(props)
    assert api_server_without_lua.api.get("bank.test", "ledger.bank.test", "LUA") is None
