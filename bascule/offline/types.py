"""What callers of the offline engine name without loading it (and Pulumi): semantics, records, failures.

`bascule check --export` and `bascule --help` must not pay for importing Pulumi; the CLI refers to these
types up front and imports the engine only when a program is run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Semantics(StrEnum):
    UP = "up"
    """Every computed output is a typed stand-in: the whole program runs, as `pulumi up` would."""
    PREVIEW = "preview"
    """Computed outputs are unknown, as in `pulumi preview`: `apply` on them never runs."""
    AUTO = "auto"
    """`up`, and `preview` again when the program breaks on a stand-in (the CLI's default)."""


@dataclass(frozen=True)
class RegisteredResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    """URN of the provider resource this resource was created with, if any."""
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    dependencies: tuple[str, ...] = ()
    """URNs this resource waits for: explicit `depends_on` and the resources its inputs come from."""
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()
    """Lifecycle options as the engine receives them (property names in the SDK's wire case)."""
    source: str | None = None
    """`path:line` of the program line that declared the resource (or the component holding it), when the program's
    own code did: what a finding about it points at."""


@dataclass
class OfflineRun:
    project: str
    stack: str
    config: dict[str, str]
    resources: list[RegisteredResource]
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    """What `pulumi stack output --json` would show (secrets in plain text: this run never leaves memory)."""
    warnings: list[str] = field(default_factory=list)
    """What the offline run could not do as the real engine would (stand-ins the program should know about)."""


class FailureKind(StrEnum):
    """Why a program did not run offline: the program's, its environment's or the engine's fault."""

    PROGRAM = "program"
    CONFIG = "config-missing"
    SDK_MISSING = "sdk-not-installed"
    SDK_INCOMPATIBLE = "sdk-incompatible-major"
    DEPENDENCY_MISSING = "dependency-not-installed"
    LIVE_CALL = "live-api-call"
    STACK_REFERENCE = "stack-reference-outputs"
    """A StackReference's outputs were read but not given (`--stack-reference NAME=FILE`)."""
    STAND_IN = "offline-stand-in"
    """The program indexed a computed list or map deeper than a stand-in reaches (`uris["GRAPHQL"]`, `ids[3]`)."""
    TIMEOUT = "timeout"
    LIMIT = "resource-limit"
    """More registrations than one run may make (`BASCULE_MAX_RESOURCES`): stopped before memory runs out."""
    EXITED = "exited"
    """The program ended the process itself (`os._exit`, `sys.exit`) before its run ended."""
    ENGINE = "engine"


class ProgramError(Exception):
    """The program failed while running offline: one message, where in the program, and a hint when useful."""

    def __init__(
        self,
        message: str,
        kind: FailureKind = FailureKind.PROGRAM,
        location: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        where = f" (at {self.location})" if self.location else ""
        hint = f"; hint: {self.hint}" if self.hint else ""
        return f"{self.message}{where}{hint}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "message": self.message, "location": self.location, "hint": self.hint}
