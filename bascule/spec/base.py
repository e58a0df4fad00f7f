"""What every part of the spec shares, and what a plug-in's spec model is built from.

A site kind's or DNS backend's spec model (in its plug-in, under `bascule.components.<provider>`) subclasses
`SiteSpecBase` or `DnsSpecBase`; `ServiceSpec` holds them through these bases and validates each by its `kind`
through the plug-in registry (`bascule.spec.plugins`). Nothing here names a provider.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from bascule import facts
from bascule.facts import Cloud

HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class Role(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    DNS = "dns"


class DrillFault(StrEnum):
    HEALTH = "health"
    OUTAGE = "outage"
    SWITCH = "switch"


def _numeric(annotation: Any) -> bool:
    return annotation in (int, float) or any(arg in (int, float) for arg in get_args(annotation))


class SpecValueError(ValueError):
    """A spec built in Python with a bad value: one line per problem naming the spec (for a `ServiceSpec`, the
    service), the field and the reason. A `ValueError`, as pydantic's own error is, so callers' handlers still
    catch it; its text is one line, so a program's failure reads as one line at the program's file:line."""

    def __init__(self, lines: list[str]):
        super().__init__("; ".join(lines))
        self.lines = lines


def spec_error_lines(label: str, exc: ValidationError) -> list[str]:
    """`label: field: reason` per error of `exc`, with pydantic's prefixes ("Value error, ") cut."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling against docs/spec.md)"
        lines.append(f"{label}: {field + ': ' if field else ''}{msg}")
    return lines


class Model(BaseModel):
    """A spec model: unknown fields are errors, values are frozen, and YAML's booleans are not numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    if not TYPE_CHECKING:  # type checkers keep pydantic's typed signature of the fields

        def __init__(self, /, **data: Any) -> None:
            """Built in Python (`ServiceSpec(...)` in a program): a bad value raises `SpecValueError`, one line per
            problem, instead of pydantic's multi-line report, which a program's failure cuts to its first line
            ("1 validation error for ServiceSpec"). Stack files go through `model_validate` and the loader."""
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise SpecValueError(spec_error_lines(self._spec_label(data), exc)) from None

        # Validation (stack files, nested specs) must not call this `__init__`, or a nested spec's error would reach
        # the loader as one opaque value error: pydantic calls a model's own `__init__` while validating unless it
        # is marked as its base one, as pydantic marks BaseModel's and RootModel's (pydantic/main.py, root_model.py).
        __init__.__pydantic_base_init__ = True

    @classmethod
    def _spec_label(cls, data: Mapping[str, Any]) -> str:
        """What a problem of this spec is said to be about: the class, unless a subclass knows better."""
        return cls.__name__

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """YAML's `true` is a number to pydantic (1): `rto_seconds: true` must be an error, not one second."""
        if isinstance(data, Mapping):
            for name, info in cls.model_fields.items():
                if isinstance(data.get(name), bool) and _numeric(info.annotation):
                    raise ValueError(f"{name}: expected a number, not {str(data[name]).lower()}")
        return data


def _image(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a container image reference (e.g. ghcr.io/org/app:1.2.3)")
    return value


Image = Annotated[str, AfterValidator(_image)]


def check_region(cloud: Cloud, value: str) -> str:
    """`value` if it is a known region of `cloud`, else a ValueError suggesting the closest names."""
    if facts.region(cloud, value) is None:
        close = difflib.get_close_matches(value, facts.REGIONS[cloud], n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"'{value}' is not a known {cloud.value} region{hint}")
    return value


class SiteSpecBase(Model):
    """A site of any kind: where it runs (`cloud`, `region`), whatever creates it."""

    kind: str

    if TYPE_CHECKING:  # each kind gives them as a field or a property (a field cannot override a property here)

        @property
        def cloud(self) -> Cloud: ...

        @property
        def region(self) -> str: ...


class ImageSite(SiteSpecBase):
    """A site that runs a container image Bascule deploys; a program may compute it (`SiteInputs.image`)."""

    image: Image | None = None
    """Required in a stack file; a program may pass `SiteInputs.image` instead."""


class DataSpecBase(Model):
    """A data standby of any kind: a database beside each site, replicated from the primary's to the secondary's."""

    kind: str


class DnsSpecBase(Model):
    """What every DNS backend has: the zone that holds the service's name, and the TTL of its answers."""

    kind: str
    zone: str
    ttl: int
    """Seconds resolvers may keep an answer: part of every service's RTO budget. Each backend sets its default."""

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        v = v.rstrip(".").lower()
        if not HOSTNAME.match(v):
            raise ValueError(f"'{v}' is not a DNS zone name")
        return v
