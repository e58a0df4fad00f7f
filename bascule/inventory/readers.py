"""Read Pulumi's own files into raw resources: `pulumi stack export` and `pulumi preview --json`.

Bad input is reported as one line naming the file and the place in it (JSON line and column, or the path
to the value: `deployment.resources[3].inputs`), never a traceback: these files arrive from CI artifacts,
truncated or from another Pulumi version, and the user must know which one and where. The generic limits
(size, encoding, depth) are those of `bascule.io.documents`; what is checked here is the shape the inventory
relies on, so nothing later meets a value of the wrong kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bascule import facts
from bascule.facts import Cloud
from bascule.inventory.records import RawResource, cloud_of
from bascule.io.documents import InputError, at, mapping, read_json, sequence
from bascule.io.escaping import quoted
from bascule.io.heap import collector_paused

SUPPORTED_EXPORT_VERSION = 3

__all__ = ["SUPPORTED_EXPORT_VERSION", "InputError", "read_export", "read_preview"]


def _provider_urn(ref: Any) -> str | None:
    """Provider references are `urn::id`; the URN is what names the provider resource."""
    return str(ref).rsplit("::", 1)[0] if ref else None


def _text(path: Path, parts: tuple[str | int, ...], value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise at(path, parts, "expected a non-empty string")
    return value


_TAG_VALUES = (str, int, float)
"""What a tag value may be (a bool is an int): written as text into the inventory's tags."""


def _check_tags(path: Path, parts: tuple[str | int, ...], type_token: str, state: Mapping[str, Any]) -> None:
    """Tags are what workloads are found by: a wrong shape would silently hide a workload from every rule.

    Scaleway writes tags as a list of strings (Bascule's are `key=value`); AWS and Azure tags and GCP and
    Hetzner labels are objects of strings.
    """
    cloud = cloud_of(type_token)
    key = "labels" if cloud in facts.LABELLED_CLOUDS else "tags"
    raw = state.get(key)
    if raw is None:
        return
    if cloud is Cloud.SCALEWAY:
        items = sequence(path, (*parts, key), raw, "a list of strings (Scaleway tags)")
        bad = next((i for i, item in enumerate(items) if not isinstance(item, str)), None)
        if bad is not None:
            raise at(path, (*parts, key, bad), "expected a string tag")
        return
    tags = mapping(path, (*parts, key), raw, "an object of tags")
    for tag, value in tags.items():
        if not isinstance(value, _TAG_VALUES):
            raise at(path, (*parts, key, str(tag)), "expected a tag value (a string)")


def _resource(path: Path, parts: tuple[str | int, ...], item: Any) -> RawResource:
    """One resource of an export or preview; each check names its place in the file when it fails.

    Called once per resource of exports of 100,000: the common case (everything well-formed) takes the
    fewest steps, and the path to a value is only spelled out when there is an error to report.
    """
    item = mapping(path, parts, item, "a resource object")
    type_token, urn = item.get("type"), item.get("urn")
    if type(type_token) is not str or not type_token.strip():
        _text(path, (*parts, "type"), type_token)
    if type(urn) is not str or not urn.strip():
        _text(path, (*parts, "urn"), urn)
    outputs, declared = item.get("outputs"), item.get("inputs")
    inputs: dict[str, Any] = {}
    for key, state in (("outputs", outputs), ("inputs", declared)):  # inputs win: they are what the program declared
        if state is not None:
            mapping(path, (*parts, key), state)
            _check_tags(path, (*parts, key), type_token, state)
            inputs.update(state)
    parent = item.get("parent") or None
    if parent is not None:
        parent = _text(path, (*parts, "parent"), parent)
    custom = item.get("custom", True)
    if not isinstance(custom, bool):
        raise at(path, (*parts, "custom"), "expected true or false")
    provider = item.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise at(path, (*parts, "provider"), "expected a provider reference (urn::id)")
    dependencies = item.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise at(path, (*parts, "dependencies"), "expected a list of URNs")
    return RawResource(
        urn=urn, type=type_token, custom=custom, parent=parent, provider=_provider_urn(provider), inputs=inputs,
        dependencies=tuple(dependencies),
    )  # fmt: skip


def _check_parents(path: Path, resources: list[RawResource], where: list[tuple[str | int, ...]]) -> None:
    """A parent chain must end: a cycle (hand-edited or corrupted state) would make inheritance loop forever."""
    index = {r.urn: i for i, r in enumerate(resources)}
    done: set[str] = set()
    for start in resources:
        chain: set[str] = set()
        urn: str | None = start.urn
        while urn is not None and urn in index and urn not in done:
            if urn in chain:
                raise at(path, (*where[index[urn]], "parent"), f"parent chain loops back to {urn}")
            chain.add(urn)
            urn = resources[index[urn]].parent
        done.update(chain)


def _nothing_to_check(path: Path, parts: tuple[str | int, ...], what: str) -> InputError:
    return at(path, parts, f"no resources: an empty {what} passes every rule, so it proves nothing; wrong file?")


@collector_paused(age=True)
def read_export(path: Path) -> list[RawResource]:
    doc = mapping(path, (), read_json(path, "stack export"), "a `pulumi stack export` object")
    if "deployment" not in doc:
        raise InputError(f"{path}: not a `pulumi stack export` file (no 'deployment' object)")
    version = doc.get("version")
    if version != SUPPORTED_EXPORT_VERSION or isinstance(version, bool):
        raise InputError(
            f"{path}: version: deployment version {quoted(version)} is not supported (expected "
            f"{SUPPORTED_EXPORT_VERSION}, as written by Pulumi 3)"
        )
    deployment = mapping(path, ("deployment",), doc["deployment"])
    items = sequence(path, ("deployment", "resources"), deployment.get("resources") or [])
    if not items:
        raise _nothing_to_check(path, ("deployment", "resources"), "stack export")
    where: list[tuple[str | int, ...]] = [("deployment", "resources", i) for i in range(len(items))]
    resources = [_resource(path, parts, item) for parts, item in zip(where, items, strict=True)]
    _check_parents(path, resources, where)
    return resources


@collector_paused(age=True)
def read_preview(path: Path) -> tuple[list[RawResource], dict[str, str]]:
    """Resources the preview would leave in place or create (deletes are dropped), and the stack config."""
    doc = read_json(path, "preview")
    if not isinstance(doc, Mapping) or not isinstance(doc.get("steps"), list):
        raise InputError(f"{path}: not `pulumi preview --json` output (no 'steps' list)")
    resources: list[RawResource] = []
    where: list[tuple[str | int, ...]] = []
    for i, step in enumerate(doc["steps"]):
        step = mapping(path, ("steps", i), step, "a step object")
        state = step.get("newState")
        if state is None:
            if step.get("op") in ("delete", "discard", "remove-pending-replace"):
                continue
            raise at(path, ("steps", i), f"step '{step.get('op')}' has no newState")
        where.append(("steps", i, "newState"))
        resources.append(_resource(path, where[-1], state))
    if not resources:
        raise _nothing_to_check(path, ("steps",), "preview")
    _check_parents(path, resources, where)
    raw_config = mapping(path, ("config",), doc.get("config") or {}, "an object of stack config")
    config = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw_config.items()}
    return resources, config
