"""The AzureFrontDoor.Backend service tag's IPv4 prefixes, read from Azure at deploy time.

Microsoft publishes service tags through the Service Tags - List API of Microsoft.Network
(https://learn.microsoft.com/rest/api/virtualnetwork/service-tags/list): `GET .../subscriptions/<id>/providers/
Microsoft.Network/locations/<location>/serviceTags`, whose `values[].properties.addressPrefixes` are what
`az network list-service-tags` and `Get-AzNetworkServiceTag` print (the location only picks the list's version, "not
... a filter based on location": https://learn.microsoft.com/powershell/module/az.network/get-aznetworkservicetag).
It needs `Microsoft.Network/locations/serviceTags/read`, which Reader has. pulumi-azure-native has no invoke for it
(its `network` module lists none), so the Azure site calls it with the provider's own login
(`authorization.get_client_token`); Front Door's guidance is to use the tag, never a copied list, because its
addresses change ("Ensure that you use the AzureFrontDoor.Backend service tag instead of hard-coding IP addresses",
https://learn.microsoft.com/azure/frontdoor/origin-security).

No Pulumi here: the component wires it, tests drive it with a fake transport.
"""

from __future__ import annotations

import ipaddress
from typing import cast

import httpx

SERVICE_TAGS_API_VERSION = "2023-09-01"
"""A Microsoft.Network API version that lists service tags (any since 2019 does; this one is GA)."""
FRONT_DOOR_BACKEND = "AzureFrontDoor.Backend"
ARM = "https://management.azure.com"
TIMEOUT_SECONDS = 30.0


class ServiceTagError(Exception):
    """The service tag could not be read; the message names the call and says what to do instead."""


def service_tags_url(subscription_id: str, location: str) -> str:
    return (
        f"{ARM}/subscriptions/{subscription_id}/providers/Microsoft.Network/locations/{location}/serviceTags"
        f"?api-version={SERVICE_TAGS_API_VERSION}"
    )


def _field(value: object, key: str) -> object:
    """`value[key]` when `value` is a JSON object, else None: an answer of another shape reads as missing."""
    return cast("dict[str, object]", value).get(key) if isinstance(value, dict) else None


def front_door_backend_ipv4(document: object) -> tuple[str, ...]:
    """The IPv4 prefixes of AzureFrontDoor.Backend in a Service Tags - List answer, sorted; Container Apps IP
    restrictions take IPv4 ranges only (https://learn.microsoft.com/azure/container-apps/ip-restrictions)."""
    values = _field(document, "values")
    tags = cast("list[object]", values) if isinstance(values, list) else []
    found = next((v for v in tags if _field(v, "name") == FRONT_DOOR_BACKEND), None)
    prefixes = _field(_field(found, "properties"), "addressPrefixes")
    if not isinstance(prefixes, list):
        raise ServiceTagError(f"the service tag list has no {FRONT_DOOR_BACKEND} with address prefixes")
    networks: set[ipaddress.IPv4Network] = set()
    for prefix in cast("list[object]", prefixes):
        try:
            network = ipaddress.ip_network(str(prefix), strict=False)
        except ValueError:
            raise ServiceTagError(f"{FRONT_DOOR_BACKEND} lists {prefix!r}, which is not an address prefix") from None
        if isinstance(network, ipaddress.IPv4Network):
            networks.add(network)
    ipv4 = tuple(str(n) for n in sorted(networks))
    if not ipv4:
        raise ServiceTagError(f"{FRONT_DOOR_BACKEND} lists no IPv4 prefix")
    return ipv4


def fetch_front_door_backend_ipv4(
    subscription_id: str, location: str, token: str, transport: httpx.BaseTransport | None = None
) -> tuple[str, ...]:
    """Read the tag from Azure with a bearer token of the deploying login. Raises ServiceTagError."""
    url = service_tags_url(subscription_id, location)
    try:
        with httpx.Client(transport=transport, timeout=TIMEOUT_SECONDS, trust_env=transport is None) as client:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise ServiceTagError(f"GET {url}: {exc}") from None
    if response.status_code != 200:
        raise ServiceTagError(f"GET {url}: HTTP {response.status_code}: {response.text.strip()[:300]}")
    try:
        document: object = response.json()
    except ValueError:
        raise ServiceTagError(f"GET {url}: the answer is not JSON") from None
    if not isinstance(document, dict):
        raise ServiceTagError(f"GET {url}: the answer is not a service tag list")
    return front_door_backend_ipv4(cast("dict[str, object]", document))
