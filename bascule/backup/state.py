"""Where a service's backups are: the `bascule_backup` output of a stack, or the sandbox's store.

The output is the backup contract between the component that makes the bucket and the job (docs/backup.md) and the
`bascule backup` commands: one dict, `provider`, `legal_home`, `endpoint`, `region`, `bucket`, `service`,
`databases` (list), `every_hours`, `retention_days`, `recipient`. It holds no secret: the reader's credentials come
from the environment (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`), the identity from `--identity`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bascule.backup.store import StoreAddress
from bascule.io.documents import InputError
from bascule.io.secrets import unwrap_secrets
from bascule.spec.data import BACKUP_OUTPUT as OUTPUT


class BackupStateError(InputError):
    """The state holds no usable `bascule_backup`: one line naming the stack and what is missing (exit 2)."""


@dataclass(frozen=True)
class BackupPlan:
    """A service's backups: where they are, what is dumped, how often and for how long they are locked."""

    address: StoreAddress
    service: str
    databases: tuple[str, ...]
    every_hours: float
    retention_days: int
    recipient: str
    provider: str = "sandbox"
    legal_home: str = ""


def _need(where: str, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if value is None:
        raise BackupStateError(f"{where}: {OUTPUT} has no '{key}' (the backup contract lists it)")
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)  # a number that went through Pulumi's protobuf Struct, where every number is a double
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BackupStateError(f"{where}: {OUTPUT}.{key}: unexpected {type(value).__name__}")
    return value


def parse_output(data: Any, where: str) -> BackupPlan:
    if not isinstance(data, dict):
        raise BackupStateError(f"{where}: {OUTPUT} is not a mapping")
    databases = _need(where, data, "databases", list)
    if not databases or not all(isinstance(d, str) and d for d in databases):
        raise BackupStateError(f"{where}: {OUTPUT}.databases: expected a list of database names")
    return BackupPlan(
        address=StoreAddress(
            _need(where, data, "endpoint", str), _need(where, data, "region", str), _need(where, data, "bucket", str)
        ),
        service=_need(where, data, "service", str),
        databases=tuple(databases),
        every_hours=float(_need(where, data, "every_hours", (int, float))),
        retention_days=int(_need(where, data, "retention_days", int)),
        recipient=_need(where, data, "recipient", str),
        provider=str(data.get("provider") or ""),
        legal_home=str(data.get("legal_home") or ""),
    )


def plans_from_state(resources: list[dict[str, Any]], stack: str, service: str | None = None) -> list[BackupPlan]:
    """Every `bascule_backup` output in a state (`pulumi stack export` resources), or only `service`'s."""
    where = f"stack '{stack}'"
    plans = []
    for resource in resources:
        outputs = resource.get("outputs")
        if isinstance(outputs, dict) and OUTPUT in outputs:
            plans.append(parse_output(unwrap_secrets(outputs[OUTPUT], []), where))
    if service is not None:
        plans = [p for p in plans if p.service == service]
    if not plans:
        named = f" for service '{service}'" if service else ""
        raise BackupStateError(f"{where}: no resource registers a {OUTPUT} output{named} (is `data.backup` declared "
                               "and the stack deployed?)")  # fmt: skip
    return plans
