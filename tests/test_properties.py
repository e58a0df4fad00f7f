"""Property: whatever a file holds, Bascule answers with a verdict or with exit 2 and one line per problem.

Hypothesis generates malformed stack specs, exports, previews, waivers and policy configs: valid documents
with one part replaced, removed or added (any JSON or YAML value, deep nesting included), YAML with anchors
and aliases, and raw bytes. The CLI runs in-process (typer's runner); a few generated cases also run as a
real subprocess under a memory limit, so a blow-up shows as a failure rather than as a slow machine.
"""

from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.spec import SERVICES_KEY
from tests.conftest import stack_config

runner = CliRunner()
PROFILE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=20)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
deep = st.integers(min_value=90, max_value=250).map(lambda n: json.loads("[" * n + "]" * n))
anything = values | deep


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document: the keys and indexes leading to each value."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with one place replaced by any value, removed, or given an extra key."""
    doc = copy.deepcopy(base)
    where = draw(st.sampled_from(paths(doc)))
    operation = draw(st.sampled_from(["replace", "remove", "add"]))
    if not where:
        return draw(anything)
    parent = doc
    for part in where[:-1]:
        parent = parent[part]
    last = where[-1]
    if operation == "replace":
        parent[last] = draw(anything)
    elif operation == "remove":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][draw(st.text(max_size=8))] = draw(anything)
    else:
        parent[last] = [parent[last], draw(anything)]
    return doc


def as_yaml(doc: Any) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True).encode()


def as_json(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


aliases = st.integers(min_value=2, max_value=12).map(
    lambda n: (
        "config:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, n))
        + f"  {SERVICES_KEY}: *l{n - 1}\n"
    ).encode()
)
garbage = st.binary(max_size=200) | st.text(max_size=200).map(str.encode)


def assert_answers(result: Any, path: Path, verdicts: set[int]) -> None:
    """A verdict, or exit 2 with every line naming the file; never a traceback, a crash or an internal error."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in verdicts | {2}, (result.exit_code, result.output)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert lines, "exit 2 without saying why"
        assert all(line.startswith(f"error: {path}") for line in lines), result.stderr
        assert len(lines) == 1 or all(": service " in line or SERVICES_KEY in line for line in lines), result.stderr


DEV = {"config": stack_config("dev")}
SPECS = st.one_of(mutated(DEV).map(as_yaml), mutated(DEV).map(as_json), aliases, garbage)


@PROFILE
@given(content=SPECS)
def test_stack_files(tmp_path_factory: Any, content: bytes) -> None:
    folder = tmp_path_factory.mktemp("spec")
    path = folder / "Pulumi.t.yaml"
    path.write_bytes(content)
    result = runner.invoke(app, ["plan", "--stack", "t", "--stacks-dir", str(folder)])
    assert_answers(result, path, {0})


RESOURCES = [
    {"urn": "urn:pulumi:p::b::pulumi:providers:aws::eu", "type": "pulumi:providers:aws", "custom": True,
     "inputs": {"region": "eu-west-3"}},
    {"urn": "urn:pulumi:p::b::bascule:Svc::pay", "type": "bascule:Svc", "custom": False},
    {"urn": "urn:pulumi:p::b::aws:ec2/vpc:Vpc::net", "type": "aws:ec2/vpc:Vpc", "custom": True,
     "parent": "urn:pulumi:p::b::bascule:Svc::pay", "provider": "urn:pulumi:p::b::pulumi:providers:aws::eu::id",
     "inputs": {"tags": {"workload": "pay", "criticality": "critical"}}, "outputs": {"id": "vpc-1"}},
]  # fmt: skip
EXPORT = {"version": 3, "deployment": {"resources": RESOURCES}}
PREVIEW = {"config": {"aws:region": "eu-west-3"}, "steps": [{"op": "create", "newState": r} for r in RESOURCES]}


@pytest.mark.parametrize(("option", "base"), [("--export", EXPORT), ("--preview-json", PREVIEW)])
@PROFILE
@given(data=st.data())
def test_exports_and_previews(tmp_path_factory: Any, option: str, base: Any, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("pulumi") / "pulumi.json"
    path.write_bytes(data.draw(st.one_of(mutated(base).map(as_json), garbage)))
    assert_answers(runner.invoke(app, ["check", option, str(path)]), path, {0, 1})


WAIVERS = {"waivers": [{"rule": "bascule-single-region", "workload": "pay", "reason": "contract signed",
                        "owner": "ops@example.com", "expires": "2027-03-31"}]}  # fmt: skip
POLICY = {"all": "advisory", "bascule-single-region": {"enforcementLevel": "mandatory", "criticalValues": ["critical"],
          "workloadTag": "workload"}, "bascule-rto-budget": {"defaultRtoSeconds": 300}}  # fmt: skip


SETTINGS_FILES = {
    "--waivers": st.one_of(mutated(WAIVERS).map(as_yaml), garbage, aliases),
    "--config": st.one_of(mutated(POLICY).map(as_json), garbage),
}


@pytest.mark.parametrize("option", SETTINGS_FILES)
@PROFILE
@given(data=st.data())
def test_waivers_and_policy_configs(tmp_path_factory: Any, option: str, data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("settings")
    export, path = folder / "state.json", folder / "settings"
    export.write_text(json.dumps(EXPORT))
    path.write_bytes(data.draw(SETTINGS_FILES[option]))
    assert_answers(runner.invoke(app, ["check", "--export", str(export), option, str(path)]), path, {0, 1})


def _limited() -> None:
    """The child may use 1 GiB of address space: an input that makes Bascule balloon fails instead of swapping."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(aliases, mutated(DEV).map(as_yaml), deep.map(lambda d: as_json({"config": {SERVICES_KEY: d}})))
)
def test_real_process_exit_path(tmp_path_factory: Any, content: bytes) -> None:
    folder = tmp_path_factory.mktemp("proc")
    path = folder / "Pulumi.t.yaml"
    path.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "plan", "--stack", "t", "--stacks-dir", str(folder)],
                          capture_output=True, text=True, timeout=120, preexec_fn=_limited, check=False)  # fmt: skip
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 2), proc.stderr
    if proc.returncode == 2:
        assert all(line.startswith(f"error: {path}") for line in proc.stderr.strip().splitlines()), proc.stderr
