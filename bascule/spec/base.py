"""What every part of the spec shares, and what a plug-in's spec model is built from.

A site kind's or DNS backend's spec model (in its plug-in, under `bascule.components.<provider>`) subclasses
`SiteSpecBase` or `DnsSpecBase`; `ServiceSpec` holds them through these bases and validates each by its `kind`
through the plug-in registry (`bascule.spec.plugins`). Nothing here names a provider.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from bascule import facts
from bascule.facts import Cloud
from bascule.io.escaping import quoted

HOSTNAME = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
r"""A DNS hostname in presentation form, lowercase, without the trailing dot: use with `fullmatch` only.

Every pattern of the spec is used with `fullmatch` (or anchored with `\Z`): `re.match` with `$` accepted a
trailing newline, which then reached resource names and the sandbox's zone file."""


def is_hostname(value: str) -> bool:
    return HOSTNAME.fullmatch(value) is not None


_NOT_TEXT = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
"""Unicode categories no spec value may hold: control (newline, tab, NUL, ANSI escapes), format (the bidi
overrides that make text read otherwise than it is), unpaired surrogates, private use, unassigned, and line or
paragraph separators. Each becomes part of a resource name, a URL, a zone file or a terminal line."""


def hidden_character(value: str) -> str | None:
    """The first character of `value` that is not visible text (see `_NOT_TEXT`), as `U+XXXX at position N`."""
    for index, char in enumerate(value):
        if unicodedata.category(char) in _NOT_TEXT:
            return f"U+{ord(char):04X} at position {index + 1}"
    return None


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


UNKNOWN_FIELD = "unknown_field"
"""The error type of a key a spec model does not have (its message suggests the closest field)."""


def unknown_field_message(name: str, fields: list[str]) -> str:
    """`unknown field; did you mean 'hostname'? (every field: docs/spec.md)`, the hint only for a close name."""
    close = difflib.get_close_matches(name, fields, n=2)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f"unknown field{hint} (every field: docs/spec.md)"


def spec_error_lines(label: str, exc: ValidationError) -> list[str]:
    """`label: field: reason` per error of `exc`, with pydantic's prefixes ("Value error, ") cut."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{label}: {field + ': ' if field else ''}{msg}")
    return lines


class Model(BaseModel):
    """A spec model: unknown fields are errors, values are frozen, YAML's booleans are not numbers, and no text
    holds a control, format (bidi) or surrogate character (`hidden_character`), in any field of any plug-in."""

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
    def _known_fields(cls, data: Any) -> Any:
        """A key the spec does not have is an error suggesting the closest of this very model's fields (a typo in
        a Hetzner site is told `location`, not the AWS site's `region`), one line per key, at the key."""
        if isinstance(data, Mapping):
            unknown = [str(k) for k in data if k not in cls.model_fields]
            if unknown:
                details: list[InitErrorDetails] = [
                    {"type": PydanticCustomError(UNKNOWN_FIELD, unknown_field_message(name, list(cls.model_fields))),
                     "loc": (name,), "input": data[name]} for name in unknown
                ]  # fmt: skip
                raise ValidationError.from_exception_data(cls.__name__, details)
        return data

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """YAML's `true` is a number to pydantic (1): `rto_seconds: true` must be an error, not one second."""
        if isinstance(data, Mapping):
            for name, info in cls.model_fields.items():
                if isinstance(data.get(name), bool) and _numeric(info.annotation):
                    raise ValueError(f"{name}: expected a number, not {str(data[name]).lower()}")
        return data

    @model_validator(mode="before")
    @classmethod
    def _visible_text(cls, data: Any) -> Any:
        """Every string given to a spec model, and every string in a list of them, is visible text: one rule for
        every field, so a new field cannot let a newline or a bidi override through."""
        if isinstance(data, Mapping):
            for name, value in data.items():
                for text in [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else []:
                    found = hidden_character(text) if isinstance(text, str) else None
                    if found:  # placed at the field, so the one-line error names `health_check.path`
                        message = (
                            f"holds a control, format or surrogate character ({found}); spec values are visible text"
                        )
                        detail: InitErrorDetails = {"type": PydanticCustomError("hidden_character", message),
                                                    "loc": (str(name),), "input": text}  # fmt: skip
                        raise ValidationError.from_exception_data(cls.__name__, [detail])
        return data


_IMAGE = re.compile(r"[A-Za-z0-9][\x21-\x7e]{0,4095}")
"""A container image reference is ASCII without spaces (the distribution spec's grammar: `[registry/]path[:tag]
[@digest]`, https://github.com/distribution/reference/blob/main/reference.go); the provider checks the rest."""


def _image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError(f"{quoted(value)} is not a container image reference (e.g. ghcr.io/org/app:1.2.3)")
    return value


Image = Annotated[str, AfterValidator(_image)]


def check_region(cloud: Cloud, value: str) -> str:
    """`value` if it is a known region of `cloud`, else a ValueError suggesting the closest names."""
    if facts.region(cloud, value) is None:
        close = difflib.get_close_matches(value, facts.REGIONS[cloud], n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"{quoted(value)} is not a known {cloud.value} region{hint}")
    return value


class SiteSpecBase(Model):
    """A site of any kind: where it runs (`cloud`, `region`), whatever creates it."""

    kind: str

    region_field: ClassVar[str] = "region"
    """The field that holds `region`, where a bad one is reported: a kind that says `location` sets this."""

    @field_validator("*")
    @classmethod
    def _region_of_cloud(cls, value: Any, info: ValidationInfo) -> Any:
        """The region field holds a region of the kind's `cloud`: one check for every kind, run as that field's own
        validator, so a bad region is reported with the other fields' errors. `cloud` is asked of the fields
        validated so far: a kind's cloud is fixed, or a field declared before the region (an endpoint's
        `provider`); when that field failed, its own error is the one to fix first."""
        if info.field_name == cls.region_field:
            try:
                cloud = cls.model_construct(**info.data).cloud
            except AttributeError:  # a field `cloud` reads is missing: failed, or (a kind's bug) declared later
                fields = list(cls.model_fields)
                if all(name in info.data for name in fields[: fields.index(info.field_name)]):
                    raise TypeError(f"{cls.__name__}.cloud reads a field declared after {info.field_name}") from None
                return value
            check_region(cloud, value)
        return value

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
        if not is_hostname(v):
            raise ValueError(f"{quoted(v)} is not a DNS zone name")
        return v
