"""Issue 24 item 10: resource bounds. Services per stack, and the size of what an error line repeats.

(The offline engine's bounds, resources per run, stdin, stdout and early exits, are in tests/test_offline_engine.py.)
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.io.escaping import LINE_MAX, QUOTE_MAX
from bascule.spec import MAX_SERVICES_PER_STACK, SERVICES_KEY
from tests.conftest import stack_config

runner = CliRunner()


def dev() -> dict[str, Any]:
    return copy.deepcopy(stack_config("dev")[SERVICES_KEY][0])


def write_stack(folder: Path, services: list[dict[str, Any]], name: str = "t") -> Path:
    path = folder / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {SERVICES_KEY: services}}))
    return path


def numbered(count: int) -> list[dict[str, Any]]:
    """`count` distinct services (names, hostnames and zones of their own), each valid alone."""
    services = []
    for i in range(count):
        svc = dev()
        svc["name"] = f"svc-{i}"
        svc["hostname"] = f"svc-{i}.z{i}.example.com"
        svc["dns"]["zone"] = f"z{i}.example.com"
        services.append(svc)
    return services


@pytest.mark.parametrize("count", [MAX_SERVICES_PER_STACK + 1, 2000])
def test_too_many_services_are_refused_before_any_is_planned(tmp_path: Path, count: int) -> None:
    """2,000 services exhausted 2 GiB and crashed the planner: refused at once, naming the limit and what to do."""
    path = write_stack(tmp_path, numbered(count))
    for command in (["plan"], ["check"], ["sandbox", "up", "--sandbox-dir", str(tmp_path / "box")]):
        result = runner.invoke(app, [*command, "--stack", "t", "--stacks-dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (
            f"error: {path}: {SERVICES_KEY}: {count} services, more than {MAX_SERVICES_PER_STACK} per stack "
            "(MAX_SERVICES_PER_STACK): split them across stacks, one Pulumi.<stack>.yaml each with its own "
            "bascule:services"
        )


def test_the_limit_itself_is_accepted(tmp_path: Path) -> None:
    from bascule.spec import load_stack_file

    _, spec = load_stack_file(write_stack(tmp_path, numbered(MAX_SERVICES_PER_STACK)))
    assert len(spec.services) == MAX_SERVICES_PER_STACK


MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("field", "size"),
    [("name", 10 * MIB)] + [(field, MIB) for field in ("hostname", "primary.image", "primary.region",
                                                         "health_check.path", "dns.zone", "secondary.project",
                                                         "dns.zone_id")],
)  # fmt: skip
def test_a_huge_value_gives_a_short_error_line(tmp_path: Path, field: str, size: int) -> None:
    """A 10 MiB name made a 20 MiB error line (quoted by the validator and again as the service's label)."""
    svc = dev()
    *head, last = field.split(".")
    node = svc
    for part in head:
        node = node[part]
    node[last] = "a" * size
    path = write_stack(tmp_path, [svc])
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "plan", "--stack", "t", "--stacks-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: {path}: ")
    assert len(line) < 2 * QUOTE_MAX + 400, len(line)
    assert f"'{'a' * QUOTE_MAX}…' ({size} characters)" in line


def test_every_error_line_is_bounded_whatever_it_repeats(tmp_path: Path) -> None:
    """A message that repeats text no validator quoted (here a resolver given as 1 MiB of text with a colon) is cut
    where it is printed, keeping its start and its end."""
    value = "1.2.3.4:" + "9" * (1024 * 1024)
    result = runner.invoke(app, ["drill", "--stack", "prod", "--service", "checkout", "--resolver", value,
                                 "--cwd", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert len(line) <= LINE_MAX + 100 and line.startswith("error: --resolver: '1.2.3.4:999")
