"""Read Pulumi's own files into raw resources: `pulumi stack export` and `pulumi preview --json`.

Bad input is reported as one line naming the file and the position (JSON line and column, or the
resource's index), never a traceback: these files arrive from CI artifacts, truncated or from another
Pulumi version, and the user must know which one and where.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bascule.inventory import RawResource

SUPPORTED_EXPORT_VERSION = 3


class InputError(Exception):
    pass


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise InputError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); truncated?") from None


def _provider_urn(ref: Any) -> str | None:
    """Provider references are `urn::id`; the URN is what names the provider resource."""
    return str(ref).rsplit("::", 1)[0] if ref else None


def _resource(path: Path, where: str, item: Any, state_key: str) -> RawResource:
    if not isinstance(item, Mapping):
        raise InputError(f"{path}: {where}: expected an object")
    if not item.get("type"):
        raise InputError(f"{path}: {where}: resource has no type (urn {item.get('urn', 'missing')})")
    if not item.get("urn"):
        raise InputError(f"{path}: {where}: resource of type {item['type']} has no urn")
    state = item.get(state_key) or {}
    inputs = {**(item.get("outputs") or {}), **state} if state_key == "inputs" else dict(state)
    return RawResource(
        urn=str(item["urn"]),
        type=str(item["type"]),
        custom=bool(item.get("custom", True)),
        parent=item.get("parent") or None,
        provider=_provider_urn(item.get("provider")),
        inputs=inputs,
    )


def read_export(path: Path) -> list[RawResource]:
    doc = _load(path)
    if not isinstance(doc, Mapping) or "deployment" not in doc:
        raise InputError(f"{path}: not a `pulumi stack export` file (no 'deployment' object)")
    version = doc.get("version")
    if version != SUPPORTED_EXPORT_VERSION:
        raise InputError(
            f"{path}: deployment version {version!r} is not supported (expected {SUPPORTED_EXPORT_VERSION}, "
            "as written by Pulumi 3)"
        )
    resources = (doc.get("deployment") or {}).get("resources") or []
    if not isinstance(resources, list):
        raise InputError(f"{path}: deployment.resources: expected a list")
    return [_resource(path, f"deployment.resources[{i}]", r, "inputs") for i, r in enumerate(resources)]


def read_preview(path: Path) -> tuple[list[RawResource], dict[str, str]]:
    """Resources the preview would leave in place or create (deletes are dropped), and the stack config."""
    doc = _load(path)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("steps"), list):
        raise InputError(f"{path}: not `pulumi preview --json` output (no 'steps' list)")
    resources = []
    for i, step in enumerate(doc["steps"]):
        if not isinstance(step, Mapping):
            raise InputError(f"{path}: steps[{i}]: expected an object")
        state = step.get("newState")
        if state is None:
            if step.get("op") in ("delete", "discard", "remove-pending-replace"):
                continue
            raise InputError(f"{path}: steps[{i}]: step '{step.get('op')}' has no newState")
        resources.append(_resource(path, f"steps[{i}].newState", state, "inputs"))
    config = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (doc.get("config") or {}).items()}
    return resources, config
