"""The Azure app admits Front Door's back ends as Azure lists them that day: the AzureFrontDoor.Backend service tag,
read at deploy time through the Service Tags - List API, unless the spec pins a list."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bascule.components.azure import service_tags
from bascule.components.azure.site import OFFLINE_STAND_IN
from bascule.offline import engine
from bascule.offline.engine import ProgramError
from tests.conftest import Plan, stack_config

PlanFn = Callable[..., Plan]
APP = "azure-native:app:ContainerApp"

DOCUMENT: dict[str, Any] = {
    "name": "Public",
    "values": [
        {"name": "AzureCloud", "properties": {"addressPrefixes": ["203.0.113.0/24"]}},
        {
            "name": "AzureFrontDoor.Backend",
            "properties": {"addressPrefixes": ["198.51.100.128/25", "2001:db8::/32", "192.0.2.64/26", "192.0.2.64/26"]},
        },
    ],
}


def _transport(seen: list[httpx.Request], status: int = 200, body: Any = DOCUMENT) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(answer)


def test_the_tag_s_ipv4_prefixes_are_read_from_the_service_tags_api() -> None:
    seen: list[httpx.Request] = []
    ranges = service_tags.fetch_front_door_backend_ipv4("sub-1", "germanywestcentral", "t0ken", _transport(seen))
    assert ranges == ("192.0.2.64/26", "198.51.100.128/25")  # IPv4 only, each once, in address order
    (request,) = seen
    assert str(request.url) == (
        "https://management.azure.com/subscriptions/sub-1/providers/Microsoft.Network/locations/germanywestcentral"
        f"/serviceTags?api-version={service_tags.SERVICE_TAGS_API_VERSION}"
    )
    assert request.headers["Authorization"] == "Bearer t0ken"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (403, {"error": {"code": "AuthorizationFailed"}}, "HTTP 403: .*AuthorizationFailed"),
        (200, {"values": [{"name": "AzureCloud", "properties": {}}]}, "no AzureFrontDoor.Backend"),
        (200, {"values": [{"name": "AzureFrontDoor.Backend", "properties": {"addressPrefixes": ["2001:db8::/32"]}}]},
         "lists no IPv4 prefix"),
        (200, {"values": [{"name": "AzureFrontDoor.Backend", "properties": {"addressPrefixes": ["x"]}}]},
         "'x', which is not an address prefix"),
        (200, ["not", "a", "map"], "not a service tag list"),
    ],
)  # fmt: skip
def test_a_read_that_gives_no_ranges_names_the_call(status: int, body: Any, message: str) -> None:
    with pytest.raises(service_tags.ServiceTagError, match=message):
        service_tags.fetch_front_door_backend_ipv4("sub-1", "westeurope", "t", _transport([], status, body))


def _tm() -> list[dict[str, Any]]:
    return copy.deepcopy(stack_config("tm")["bascule:services"])


def _rules(plan: Plan) -> list[tuple[str, str]]:
    (app,) = plan.of_type(APP)
    return [
        (r["action"], r["ipAddressRange"]) for r in app.inputs["configuration"]["ingress"]["ipSecurityRestrictions"]
    ]


@pytest.fixture
def logged_in(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Offline runs with an Azure login, as `pulumi up` has: the token invoke answers, and the read goes to a fake
    Azure through the real lookup (URL, header, parsing)."""
    original = engine._CloudMocks.call
    seen: list[httpx.Request] = []

    def call(self: Any, args: Any) -> Any:
        if args.token == "azure-native:authorization:getClientToken":
            return {"token": "t0ken"}, []
        if args.token == "azure-native:authorization:getClientConfig":
            return {"subscriptionId": "sub-1", "tenantId": "tenant", "clientId": "client", "objectId": "obj"}, []
        return original(self, args)

    real = service_tags.fetch_front_door_backend_ipv4
    monkeypatch.setattr(engine._CloudMocks, "call", call)
    monkeypatch.setattr(
        service_tags, "fetch_front_door_backend_ipv4", lambda s, loc, t: real(s, loc, t, _transport(seen))
    )
    return seen


def test_an_up_admits_the_tag_as_azure_lists_it(plan_services: PlanFn, logged_in: list[httpx.Request]) -> None:
    plan = plan_services(_tm())
    assert _rules(plan) == [("Allow", "192.0.2.64/26"), ("Allow", "198.51.100.128/25")]
    (request,) = logged_in
    # The subscription and login of the site's provider, the site's location.
    assert "/subscriptions/sub-1/" in str(request.url) and "/locations/germanywestcentral/" in str(request.url)


def test_a_failed_read_stops_the_up_naming_the_field(
    plan_services: PlanFn, logged_in: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_args: Any) -> tuple[str, ...]:
        raise service_tags.ServiceTagError("GET https://management.azure.com/...: HTTP 403: AuthorizationFailed")

    monkeypatch.setattr(service_tags, "fetch_front_door_backend_ipv4", refused)
    with pytest.raises(ProgramError, match="front_door_backend_cidrs: not given, and reading the AzureFrontDoor"):
        plan_services(_tm())


def test_an_empty_token_from_a_login_stops_the_up(
    plan_services: PlanFn, logged_in: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the offline engine's marker means "no login": an empty token from a real one (pulumi-azure-native#3294)
    must not put the documentation range on a live app, which would shut Front Door out while the `up` succeeds."""
    original = engine._CloudMocks.call

    def call(self: Any, args: Any) -> Any:
        return (
            ({"token": ""}, []) if args.token == "azure-native:authorization:getClientToken" else original(self, args)
        )

    monkeypatch.setattr(engine._CloudMocks, "call", call)
    with pytest.raises(ProgramError, match="front_door_backend_cidrs: not given, and the Azure provider's login gave"):
        plan_services(_tm())
    assert logged_in == []


def test_offline_there_is_no_login_and_no_network(plan_services: PlanFn, monkeypatch: pytest.MonkeyPatch) -> None:
    def network(*_args: Any) -> tuple[str, ...]:
        raise AssertionError("an offline run called Azure")

    monkeypatch.setattr(service_tags, "fetch_front_door_backend_ipv4", network)
    assert _rules(plan_services(_tm())) == [("Allow", cidr) for cidr in OFFLINE_STAND_IN]


def test_a_pinned_list_is_used_as_given(plan_services: PlanFn, logged_in: list[httpx.Request]) -> None:
    services = _tm()
    services[0]["secondary"]["front_door_backend_cidrs"] = ["203.0.113.0/26"]
    assert _rules(plan_services(services)) == [("Allow", "203.0.113.0/26")]
    assert logged_in == []
