"""A deployed stack's data pair, from the `bascule_data` output `PostgresStandby` registers (components/data/).

That output is the contract between the component and the data commands, one dict: `service`, `databases` (list),
`app_role`, `primary` and `standby` (each `host`, `port`, `user`, `password` (secret), `sslmode`, `provider`: the
administrative login the commands connect as; and `app_password` (secret): the app role's password on that side,
with which a fence is proven by a refused login and a promotion by an accepted write), `replication` (`user`,
`password` (secret): the login the standby subscribes to the primary as, which failback subscribes it again with),
`publications` and `subscriptions` (database -> name), `wal_keep_mb` (`max_slot_wal_keep_size` on the primary) and
`rpo_seconds` (a number, or null when the service declares none). An output lacking any of them is refused in one
line naming the stack and the key. The names of the type and the output are `bascule.spec.data`'s, shared with the
component.

Read from the stack's state, as the drills read `FailoverService`'s outputs: the caller hands the resources of
`pulumi stack export --show-secrets` (the Automation API in production, an export file in tests), so no cloud
control plane is needed during an incident, only the state and the two databases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bascule.data.pair import DataPair, Endpoint, Login
from bascule.io.documents import InputError
from bascule.io.secrets import unwrap_secrets
from bascule.spec.data import OUTPUT, STANDBY_TYPE

ENDPOINT_KEYS = ("host", "port", "user", "password", "sslmode", "provider", "app_password")
LOGIN_KEYS = ("user", "password")
KEYS = ("service", "databases", "app_role", "primary", "standby", "replication", "publications", "subscriptions",
        "wal_keep_mb", "rpo_seconds")  # fmt: skip
REACH = {
    "aws-rds": "RDS admits on its port only the deployer's `admin_cidrs`, the standby and the primary site's tasks "
    "(or, on the private path, the team's network): run `bascule data` from one of those (docs/data.md, \"Where the "
    'commands run")',
    "azure-flexible": "the standby is a Flexible Server inside its own virtual network, with no public endpoint: "
    'run `bascule data` from a machine in that network or joined to it by VPN or peering (docs/data.md, "Where the '
    'commands run")',
}
"""Why each provider's server may not answer from where a command runs, said with its connection errors."""


class PairStateError(InputError):
    """The state holds no usable `bascule_data`: one line naming the stack and what is missing (exit 2)."""


def standby_outputs(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each `PostgresStandby`'s `bascule_data` in a state, secrets unwrapped, by its `service` (else its name)."""
    found: dict[str, dict[str, Any]] = {}
    for resource in resources:
        outputs = resource.get("outputs")
        if resource.get("type") != STANDBY_TYPE or not isinstance(outputs, dict):
            continue
        data = unwrap_secrets(outputs.get(OUTPUT), [])
        name = data.get("service") if isinstance(data, dict) else None
        found[str(name or str(resource.get("urn", "")).rsplit("::", 1)[-1])] = data
    return found


def standby_secrets(resources: list[dict[str, Any]]) -> list[Any]:
    """Every secret value of every `bascule_data` in a state (passwords): never to be written anywhere."""
    found: list[Any] = []
    for resource in resources:
        if resource.get("type") == STANDBY_TYPE and isinstance(resource.get("outputs"), dict):
            unwrap_secrets(resource["outputs"].get(OUTPUT), found)
    return found


def pairs_from_state(resources: list[dict[str, Any]], stack: str, service: str | None = None) -> list[DataPair]:
    """Every data pair of a state (or only `service`'s): what `verify --stack S --data` checks."""
    if service is not None:
        return [pair_from_state(resources, stack, service)]
    found = standby_outputs(resources)
    if not found:
        raise PairStateError(f"stack '{stack}': no {STANDBY_TYPE} in its state (is the data standby deployed?)")
    return [parse_output(found[name], f"stack '{stack}'", name) for name in sorted(found)]


def pair_from_state(resources: list[dict[str, Any]], stack: str, service: str | None = None) -> DataPair:
    """The data pair of `service` (or the stack's only one); `PairStateError` naming the stack otherwise."""
    found = standby_outputs(resources)
    if not found:
        raise PairStateError(f"stack '{stack}': no {STANDBY_TYPE} in its state (is the data standby deployed?)")
    if service is None:
        if len(found) > 1:
            raise PairStateError(f"stack '{stack}': several data standbys ({', '.join(sorted(found))}); "
                                 "name one with --service")  # fmt: skip
        service = next(iter(found))
    if service not in found:
        raise PairStateError(f"stack '{stack}': no data standby for service '{service}' (it has: "
                             f"{', '.join(sorted(found))})")  # fmt: skip
    return parse_output(found[service], f"stack '{stack}'", service)


def _need(where: str, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str = "") -> Any:
    """`data[key]`, present and of `kind` (None only for `rpo_seconds`, which a service may leave undeclared)."""
    if key not in data or (data[key] is None and key != "rpo_seconds"):
        raise PairStateError(f"{where}: {OUTPUT} has no '{path}{key}' (the data standby's output contract lists it)")
    value = data[key]
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)  # a number that went through Pulumi's protobuf Struct, where every number is a double
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) or value == ""):
        got = "empty text" if value == "" else type(value).__name__  # never the value: it may be a password
        raise PairStateError(f"{where}: {OUTPUT}.{path}{key}: unexpected {got}")
    return value


def _endpoint(where: str, data: Mapping[str, Any], side: str) -> Endpoint:
    raw = _need(where, data, side, dict)
    values = {key: _need(where, raw, key, int if key == "port" else str, f"{side}.") for key in ENDPOINT_KEYS}
    return Endpoint(**values, reach=REACH.get(values["provider"], ""))


def _login(where: str, data: Mapping[str, Any], key: str) -> Login:
    raw = _need(where, data, key, dict)
    return Login(**{name: _need(where, raw, name, str, f"{key}.") for name in LOGIN_KEYS})


def _names(where: str, data: Mapping[str, Any], key: str, databases: tuple[str, ...]) -> dict[str, str]:
    names = _need(where, data, key, dict)
    for database in databases:
        _need(where, names, database, str, f"{key}.")
    return {database: str(names[database]) for database in databases}


def parse_output(data: Any, where: str, service: str) -> DataPair:
    """`bascule_data` as the contract says, or `PairStateError` naming the first key missing or malformed."""
    if not isinstance(data, dict):
        raise PairStateError(f"{where}: the data standby of service '{service}' registered no {OUTPUT} output")
    for key in KEYS:
        _need(where, data, key, object)
    databases = tuple(_need(where, data, "databases", list))
    if not databases or not all(isinstance(d, str) and d for d in databases):
        raise PairStateError(f"{where}: {OUTPUT}.databases: expected a list of database names")
    rpo = _need(where, data, "rpo_seconds", (int, float))
    return DataPair(
        service=_need(where, data, "service", str),
        databases=databases,
        app_role=_need(where, data, "app_role", str),
        primary=_endpoint(where, data, "primary"),
        standby=_endpoint(where, data, "standby"),
        replication=_login(where, data, "replication"),
        publications=_names(where, data, "publications", databases),
        subscriptions=_names(where, data, "subscriptions", databases),
        wal_keep_mb=_need(where, data, "wal_keep_mb", int),
        rpo_seconds=float(rpo) if rpo is not None else None,
        source=f"{where} (service '{service}')",
    )
