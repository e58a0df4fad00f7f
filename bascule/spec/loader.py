"""Turn raw stack config into a `StackSpec`, or into errors a person can act on.

Every error is one line: the stack file, the service, the dotted field, what is wrong. The same code
serves the Pulumi program (config from the engine) and the offline CLI (config read from the file).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bascule.io.documents import InputError, read_yaml
from bascule.io.escaping import quoted
from bascule.spec.base import UNKNOWN_FIELD, ImageSite, spec_error_lines
from bascule.spec.models import MAX_SERVICES_PER_STACK, DrillHook, StackSpec
from bascule.spec.plugins import no_network_here

if TYPE_CHECKING:
    from bascule.components.status.plugin import StatusSpec

CONFIG_NAMESPACE = "bascule"
SERVICES_KEY = f"{CONFIG_NAMESPACE}:services"
DRILL_KEY = f"{CONFIG_NAMESPACE}:drill"
STATUS_KEY = f"{CONFIG_NAMESPACE}:status"
STATUS_SPEC = "bascule.components.status.plugin:StatusSpec"
"""Where the model of `bascule:status` lives (named by string, imported on use, as plug-ins are)."""
SERVICE_TYPE = f"{CONFIG_NAMESPACE}:service:FailoverService"
"""The type token of `FailoverService`: drills and `verify` find each service's registered outputs in a stack's
state by it, without loading the components."""


class SpecError(Exception):
    """Invalid stack config; `lines` holds one self-contained message per problem."""

    def __init__(self, lines: Sequence[str]):
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def load_stack_file(path: Path) -> tuple[dict[str, Any], StackSpec]:
    """Read `stacks/Pulumi.<stack>.yaml` and return its whole config mapping and the validated spec; the drill marker
    is checked here too, so its error names this file (the program only knows the stack's name)."""
    config = read_stack_config(path)
    spec = parse_services(config.get(SERVICES_KEY), source=str(path))
    parse_drill(config.get(DRILL_KEY), spec, str(path))
    parse_status(config.get(STATUS_KEY), spec, str(path))
    return config, spec


def read_stack_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SpecError([f"{path}: no such stack file"])
    try:
        doc = read_yaml(path, "stack file")
    except InputError as exc:
        raise SpecError([str(exc)]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config") or {}, dict):
        raise SpecError([f"{path}: expected a mapping with a 'config' mapping, as Pulumi stack files have"])
    config = dict(doc.get("config") or {})
    bad = next((key for key in config if not isinstance(key, str)), None)
    if bad is not None:
        raise SpecError([f"{path}: config: key {quoted(bad)} is not a string (Pulumi config keys are namespace:name)"])
    return config


def parse_services(raw: Any, source: str) -> StackSpec:
    if raw is None:
        raise SpecError([f"{source}: {SERVICES_KEY}: missing; declare at least one service"])
    if raw == []:
        raise SpecError([f"{source}: {SERVICES_KEY}: empty; declare at least one service"])
    if not isinstance(raw, list):
        raise SpecError([f"{source}: {SERVICES_KEY}: must be a list of services, got {type(raw).__name__}"])
    if len(raw) > MAX_SERVICES_PER_STACK:  # before validating them: each service costs memory and time to plan
        raise SpecError([f"{source}: {SERVICES_KEY}: {len(raw)} services, more than {MAX_SERVICES_PER_STACK} per "
                         "stack (MAX_SERVICES_PER_STACK): split them across stacks, one Pulumi.<stack>.yaml each "
                         "with its own bascule:services"])  # fmt: skip
    try:
        spec = StackSpec.model_validate({"services": raw})
    except ValidationError as exc:
        raise SpecError(_format(exc, raw, source)) from None
    # A program may compute a site's image (SiteInputs.image); a stack file has nothing else to supply it.
    missing = [
        f"{source}: service '{svc.name}': {role}.image: required field is missing"
        for svc in spec.services
        for role, site in (("primary", svc.primary), ("secondary", svc.secondary))
        if isinstance(site, ImageSite) and site.image is None
    ]
    if missing:
        raise SpecError(missing)
    return spec


def _format(exc: ValidationError, raw: list[Any], source: str) -> list[str]:
    lines: list[str] = []
    for err in exc.errors():
        loc = list(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if loc[:1] != ["services"]:
            lines.append(f"{source}: {SERVICES_KEY}: {msg}")
            continue
        loc = loc[1:]
        where, item = SERVICES_KEY, None
        if loc and isinstance(loc[0], int):
            index = int(loc.pop(0))
            item = raw[index] if index < len(raw) else None
            where = f"service {_service_label(raw, index)}"
        field = ".".join(str(part) for part in loc)
        if err["type"] == UNKNOWN_FIELD:
            site = item.get(str(loc[0])) if isinstance(item, Mapping) and len(loc) == 2 else None
            if loc[-1:] == ["network"] and isinstance(site, Mapping) and isinstance(site.get("kind"), str):
                msg = no_network_here(site["kind"])  # a site kind whose spec has no network
        if err["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{source}: {where}: {field + ': ' if field else ''}{msg}")
    return lines


def _service_label(raw: list[Any], index: int) -> str:
    item = raw[index] if index < len(raw) else None
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        return quoted(item["name"])
    return f"#{index + 1}"


def parse_drill(raw: Any, stack: StackSpec, source: str) -> DrillHook | None:
    """The drill hook in force, if any, checked against the stack's services (the service exists, the fault
    suits its primary); raw JSON strings are accepted as `pulumi config set` stores them."""
    hook = read_drill(raw, source)
    if hook is not None:
        try:
            hook.check_against(stack)
        except ValueError as exc:
            raise SpecError([f"{source}: {DRILL_KEY}.{exc}"]) from None
    return hook


def marker_refused(source: str, refused: str) -> str:
    """The line a program stops with when the drill marker of stack file `source` names a fault the service cannot
    take (`fault_refused`'s reason): the user who wrote the marker is pointed at it."""
    return f"{source}: {DRILL_KEY}.fault: {refused}"


def injected_refusal(message: str) -> str | None:
    """The reason in a `marker_refused` line, without its file and key: when `bascule drill` set the marker itself
    (from --fault or its default), the user wrote neither, and the drill names the flag instead. None for any
    other message."""
    source, found, reason = message.partition(f": {DRILL_KEY}.fault: ")
    return reason if found and source.startswith("Pulumi.") and source.endswith(".yaml") else None


def read_drill(raw: Any, source: str) -> DrillHook | None:
    """The drill marker `bascule:drill` as written, without a stack to check it against: what a component reads
    before it knows the program's other services. The one parser of the marker."""
    if raw in (None, "", {}):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise SpecError([f"{source}: {DRILL_KEY}: not JSON: {quoted(raw)}"]) from None
    try:
        return DrillHook.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            [f"{source}: {DRILL_KEY}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None


def parse_status(raw: Any, stack: StackSpec, source: str) -> StatusSpec | None:
    """The stack's status site (`bascule:status`), if it declares one, checked against its services: the page is
    served from a provider that runs no primary of the stack (else it goes down with the service it reports on),
    on a hostname of its own. Raw JSON strings are accepted as `pulumi config set` stores them."""
    if raw in (None, "", {}):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise SpecError([f"{source}: {STATUS_KEY}: not JSON: {quoted(raw)}"]) from None
    module, _, name = STATUS_SPEC.partition(":")
    model = getattr(importlib.import_module(module), name)
    try:
        status: StatusSpec = model.model_validate(raw)
    except ValidationError as exc:
        raise SpecError([f"{source}: {line}" for line in spec_error_lines(STATUS_KEY, exc)]) from None
    problems = [
        f"{source}: {STATUS_KEY}.provider: service {quoted(svc.name)}'s primary runs on {status.cloud.value} too; "
        "the status page must be served from a provider the primary does not use"
        for svc in stack.services
        if svc.primary.cloud is status.cloud
    ]
    problems += [
        f"{source}: {STATUS_KEY}.hostname: {quoted(status.hostname)} is service {quoted(svc.name)}'s hostname; "
        "the status page needs a hostname of its own"
        for svc in stack.services
        if svc.hostname == status.hostname
    ]
    if problems:
        raise SpecError(problems)
    return status
