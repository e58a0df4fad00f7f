"""Typed stand-ins for values only a cloud knows, read from the installed SDK's `Output[T]` annotations.

An offline run that pretends to be `pulumi up` must hand the program a value for every output a
provider computes (ARNs, endpoints, generated names), or the program's own `apply`/`concat` fail on
`None`. The shape comes from the SDK class the program used, so the stand-in has the type the program
expects: a string where it reads a string, one element where it iterates a list, the fields of a nested
output type. Values are recognisable as stand-ins (`<name>-<property>`), never facts.
"""

from __future__ import annotations

import enum
import functools
import importlib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi import _types as pulumi_types
from pulumi.runtime import rpc

ACCOUNT_ID = "123456789012"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
_MAX_DEPTH = 4
_SDK_PACKAGES = ("pulumi_{}", "pulumiverse_{}")


def _snake(name: str) -> str:
    """Python's name for a camel-case one, acronyms as the SDKs spell them (`getPublicIPAddress` ->
    `get_public_ip_address`)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)).lower()


def _kebab(name: str) -> str:
    return _snake(name).replace("_", "-")


@functools.cache
def resource_class(type_token: str) -> type | None:
    """The SDK class registered for a resource type token, if its SDK is imported (the program imported it)."""
    parts = type_token.split(":")
    if len(parts) != 3:
        return None
    package, module, name = parts
    if package == "pulumi" and module == "providers":
        info = getattr(rpc.get_resource_package(name, ""), "pkg_info", None)
    else:
        info = getattr(rpc.get_resource_module(package, module, ""), "mod_info", None)
    if not isinstance(info, Mapping):
        return None
    class_name = info.get("class") or (info.get("classes") or {}).get(type_token)
    try:
        cls = getattr(importlib.import_module(str(info["fqn"])), str(class_name))
    except (ImportError, AttributeError, KeyError):
        return None
    return cls if isinstance(cls, type) else None


@functools.cache
def invoke_result_class(token: str) -> type | None:
    """The result output type of an invoke (`aws:iam/getPolicyDocument:getPolicyDocument` -> its Result class)."""
    parts = token.split(":")
    if len(parts) != 3:
        return None
    package, module, function = parts
    python_module = module.split("/")[0].replace("-", "_")
    for pattern in _SDK_PACKAGES:
        root = pattern.format(package.replace("-", "_"))
        try:
            sdk_module = importlib.import_module(f"{root}.{python_module}" if python_module != "index" else root)
            fn = getattr(sdk_module, _snake(function))
        except (ImportError, AttributeError):
            continue
        try:
            returned = typing.get_type_hints(fn).get("return")
        except Exception:
            return None
        for cls in getattr(returned, "__mro__", ()):
            if pulumi_types.is_output_type(cls):
                return typing.cast(type, cls)
        return None
    return None


@functools.cache
def resource_output_types(cls: type) -> dict[str, Any]:
    """Pulumi name -> `T` of the outputs a provider computes: outputs that are no input, and outputs that are
    optional inputs but always set on create (`Output[T]`, not `Output[Optional[T]]`, such as auto-names).

    An optional input left unset stays unset: filling it (a routing policy, a health check id) would
    invent configuration the program does not have.
    """
    try:
        hints = pulumi_types._raw_return_hints(cls)
        module = importlib.import_module(cls.__module__)
        # The resource's own args class lives beside it (`ServiceInitArgs` where a nested type took `ServiceArgs`).
        candidates = (getattr(module, f"{cls.__name__}{suffix}", None) for suffix in ("InitArgs", "Args"))
        args = next((a for a in candidates if a is not None and a.__module__ == cls.__module__), None)
        inputs = set(pulumi_types.input_type_types(args)) if args is not None else set()
    except Exception:
        return {}
    computed = {}
    for name, hint in hints.items():
        if name in ("id", "urn"):
            continue
        inner = typing.get_args(hint)[0] if typing.get_origin(hint) is pulumi.Output else hint
        if name not in inputs or type(None) not in typing.get_args(inner):  # not Optional[T]
            computed[name] = pulumi_types.unwrap_type(inner)
    return computed


@functools.cache
def _output_type_fields(cls: type) -> dict[str, Any]:
    try:
        return {k: pulumi_types.unwrap_type(v) for k, v in pulumi_types.output_type_types(cls).items()}
    except Exception:
        return {}


class Namer:
    """Context for shaped strings: the resource's name, its cloud's region and what ARNs look like."""

    def __init__(self, name: str, type_token: str, region: str, zone: str = ""):
        self.name = name
        self.type_token = type_token
        self.region = region
        self.zone = zone

    def string(self, prop: str) -> str | None:
        lowered = prop.lower()
        if lowered in ("region", "location"):
            return self.region or None
        if lowered == "zone":  # the provider's zone setting, or nothing: never an invented one
            return self.zone or None
        if lowered == "arn" or lowered.endswith("arn"):
            service = self.type_token.split(":")[1].split("/")[0] if ":" in self.type_token else "offline"
            return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{self.name}"
        if lowered in ("name", "bucket"):
            return self.name
        if lowered.endswith(("tenantid", "subscriptionid", "clientid", "objectid", "principalid")):
            return ZERO_GUID
        if lowered in ("accountid", "ownerid"):
            return ACCOUNT_ID
        return f"{self.name}-{_kebab(prop)}"


def fill(hint: Any, prop: str, namer: Namer, depth: int = 0) -> Any:
    """A stand-in of type `hint` for property `prop` (JSON-shaped: what a provider would send back)."""
    hint = pulumi_types.unwrap_type(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return fill(options[0], prop, namer, depth) if options else None
    if hint is str:
        return namer.string(prop)
    if hint is bool:
        return False
    if hint in (int, float):
        return 1
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint)).value
    if depth >= _MAX_DEPTH:
        return None
    if origin in (list, Sequence, typing.Sequence) or hint in (list, Sequence):
        args = typing.get_args(hint)
        return [fill(args[0], prop, namer, depth + 1)] if args else []
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        return {}
    if isinstance(hint, type) and pulumi_types.is_output_type(hint):
        return output_type_value(hint, namer, depth + 1)
    return None


def output_type_value(cls: type, namer: Namer, depth: int = 0) -> dict[str, Any]:
    return {name: fill(hint, name, namer, depth) for name, hint in _output_type_fields(cls).items()}


def _container(hint: Any) -> type | None:
    origin = typing.get_origin(hint) or hint
    if origin in (list, Sequence, typing.Sequence):
        return list
    if origin in (dict, Mapping, typing.Mapping):
        return dict
    return None


def resource_outputs(cls: type, namer: Namer, known: Mapping[str, Any]) -> dict[str, Any]:
    """Every output of `cls` the program did not set itself, as a typed stand-in.

    An input echoed back in a shape its output does not have (azure-native 3 takes user-assigned
    identities as a list of ids and returns a map) is replaced too: the provider returns the output shape.
    """
    filled = {name: fill(hint, name, namer) for name, hint in resource_output_types(cls).items()
              if known.get(name) is None}  # fmt: skip
    try:
        declared = pulumi_types.resource_types(cls)
    except Exception:
        return filled
    for name, value in known.items():
        if name in declared and value is not None:
            conformed = _conform(value, declared[name], name, namer)
            if conformed is not value:
                filled[name] = conformed
    return filled


def _conform(value: Any, hint: Any, prop: str, namer: Namer, depth: int = 0) -> Any:
    """`value` if it has the shape `hint` declares, else the stand-in (nested output types checked too)."""
    hint = pulumi_types.unwrap_type(hint)
    shape = _container(hint)
    if shape is not None and not isinstance(value, shape):
        return fill(hint, prop, namer)
    if depth >= _MAX_DEPTH:
        return value
    if shape is list and typing.get_args(hint):
        items = [_conform(v, typing.get_args(hint)[0], prop, namer, depth + 1) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict) and isinstance(hint, type) and pulumi_types.is_output_type(hint):
        fields = _output_type_fields(hint)
        changed = {
            k: _conform(v, fields[k], k, namer, depth + 1) for k, v in value.items() if k in fields and v is not None
        }
        changed = {k: v for k, v in changed.items() if v is not value[k]}
        return {**value, **changed} if changed else value
    return value
