"""An inventory from whichever source the user has: this repository's program planned for a stack file
(`plan_stack`), any Pulumi project run offline (`plan_program`), a `pulumi stack export`, or a `pulumi preview
--json`; and the file findings point at.

`bascule check` and `bascule audit` read their inputs here, so both see the same resources from the same source.
Nothing here prints: the spec's and the program's warnings go to `warn`, and each offline run happens inside
`running(message, already_warned)` (a spinner, a log handler), both passed by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from bascule.inventory.readers import read_export, read_preview
from bascule.inventory.records import Inventory, build, from_offline_run
from bascule.io.documents import InputError, read_json
from bascule.offline.types import Semantics
from bascule.spec import load_stack_file, read_stack_config

Warn = Callable[[str], None]
Running = Callable[[str, Iterable[str]], AbstractContextManager[object]]


def _silent(_text: str) -> None:
    """The default `warn`: the caller does not want warnings."""


def _plainly(_message: str, _already_warned: Iterable[str]) -> AbstractContextManager[object]:
    """The default `running`: nothing around the run."""
    return nullcontext()


def plan_stack(stack: str, stacks_dir: Path, warn: Warn = _silent, running: Running = _plainly) -> Inventory:
    """Validate `<stacks_dir>/Pulumi.<stack>.yaml`, then run this repository's program on it offline.

    Raises `SpecError` (invalid stack file) or `ProgramError` (the program failed). The spec's warnings go to `warn`
    and are passed to `running` as already warned, so a program that logs them again is not heard twice.
    """
    from bascule.components.program import main as program
    from bascule.offline.engine import run_offline  # loads Pulumi and the SDKs: only when a stack is planned

    config, spec = load_stack_file(stacks_dir / f"Pulumi.{stack}.yaml")
    for warning in spec.warnings():
        warn(warning)
    with running(f"running stack '{stack}' offline (Pulumi mocks)", spec.warnings()):
        return from_offline_run(run_offline(program, config, stack=stack))


PLAN_COLUMNS = ("role", "cloud", "region", "type", "name")
"""What `bascule plan` shows of each resource."""


def plan_rows(inventory: Inventory) -> dict[str, list[tuple[str, ...]]]:
    """Per service, one row per resource `pulumi up` would create (`PLAN_COLUMNS`), by role, type and name."""
    return {
        service: [
            (r.role or "-", r.cloud.value if r.cloud else "-", r.region, short_type(r.type), r.name)
            for r in sorted((r for r in resources if r.custom), key=lambda r: (r.role or "", r.type, r.name))
        ]
        for service, resources in sorted(inventory.by_service().items())
    }


def short_type(token: str) -> str:
    """`aws:route53/healthCheck:HealthCheck` -> `route53:HealthCheck`: the module and the class are what differ."""
    package, module, cls = [*token.split(":"), "", ""][:3]
    return f"{module.split('/')[0]}:{cls}" if package != "pulumi" else f"provider:{cls}"


def load_inventory(
    *,
    export: Path | None = None,
    preview_json: Path | None = None,
    stack: str | None = None,
    program: Path | None = None,
    stack_config: Path | None = None,
    stacks_dir: Path = Path("stacks"),
    semantics: Semantics = Semantics.AUTO,
    references: dict[str, dict[str, Any]] | None = None,
    warn: Warn = _silent,
    running: Running = _plainly,
) -> tuple[Inventory, Path]:
    """The inventory of exactly one source, and the file its findings point at.

    Raises `InputError` (an unusable file), `SpecError` or `ProgramError`; `ValueError` unless exactly one of
    export, preview_json, stack and program is given.
    """
    if sum(value is not None for value in (export, preview_json, stack, program)) != 1:
        raise ValueError("give exactly one input: --export FILE, --preview-json FILE, --stack NAME or --program DIR")
    if export is not None:
        return build(read_export(export)), export
    if preview_json is not None:
        resources, config = read_preview(preview_json)
        return build(resources, config), preview_json
    if stack is not None:
        return plan_stack(stack, stacks_dir, warn, running), stacks_dir / f"Pulumi.{stack}.yaml"
    assert program is not None
    inventory = plan_program(program, stack_config, semantics, references, warn, running)
    return inventory, (stack_config or program / "__main__.py")


def plan_program(
    program: Path,
    stack_config: Path | None = None,
    semantics: Semantics = Semantics.AUTO,
    references: dict[str, dict[str, Any]] | None = None,
    warn: Warn = _silent,
    running: Running = _plainly,
) -> Inventory:
    """Run any Pulumi Python project in `program` offline, with the config of its `Pulumi.<stack>.yaml` (the stack
    is named after the file; `offline` without one). Each resource keeps the program line that declared it.

    Raises `SpecError` (an unreadable stack config) or `ProgramError` (the program failed). The engine's notes on
    what it could not do as the real engine would go to `warn`.
    """
    from bascule.offline.engine import load_program_dir, run_offline  # loads Pulumi: only when a program runs

    project, main = load_program_dir(program)
    config = read_stack_config(stack_config) if stack_config else {}
    name = stack_config.name.removeprefix("Pulumi.").rsplit(".", 1)[0] if stack_config else "offline"
    with running(f"running {program} offline (Pulumi mocks)", ()):
        run = run_offline(main, config, project=project, stack=name, semantics=semantics, stack_references=references)
    for warning in run.warnings:
        warn(warning)
    return from_offline_run(run)


def read_stack_references(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`NAME=FILE` pairs: a referenced stack's outputs as `pulumi stack output --json` printed them.

    Raises `InputError` naming `--stack-reference` for a malformed pair or an unusable file.
    """
    references: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise InputError(f"--stack-reference {item!r}: expected NAME=FILE")
        try:
            outputs = read_json(Path(file), "stack outputs file (`pulumi stack output --json`)")
        except InputError as exc:
            raise InputError(f"--stack-reference {name}: {exc}") from None
        if not isinstance(outputs, dict):
            raise InputError(f"--stack-reference {name}: {file} is not a JSON object of outputs")
        references[name] = outputs
    return references
