"""The offline engine on programs shaped like real ones: references, computed outputs, invokes, failures, URNs.

Each inventory defect of issue 13 is covered by a program that runs through the engine, and the same
stack must give identical URNs, fingerprints and verdicts through `--program`, `--export` and the pack.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure
import pulumi_gcp as gcp
import pytest
from typer.testing import CliRunner

from bascule import facts
from bascule.check.verdicts import check as run_check
from bascule.cli.app import app
from bascule.inventory.records import from_offline_run
from bascule.offline.engine import FailureKind, ProgramError, Semantics, run_offline
from bascule.offline.placeholders import resource_class
from bascule.policies.config import PackConfig
from bascule.policies.rules import evaluate
from tests.test_policies import pack_verdicts

TAGS = {"Workload": "ledger", "Criticality": "Critical"}


def test_resource_reference_as_input_runs_and_records_the_id() -> None:
    def program() -> None:
        role = aws.iam.Role("fn-role", assume_role_policy="{}")
        aws.lambda_.Function("fn", role=role, runtime="python3.12", handler="h.h", code=pulumi.FileArchive("."))  # type: ignore[arg-type]

    run = run_offline(program, {"aws:region": "eu-west-3"}, timeout=30)
    fn = next(r for r in run.resources if r.type == "aws:lambda/function:Function")
    role = next(r for r in run.resources if r.type == "aws:iam/role:Role")
    assert fn.inputs["role"] == role.id


def test_a_secret_inside_an_object_stays_marked_where_it_is() -> None:
    """As the Pulumi engine keeps it: one secret value in a container app's configuration, the rest readable."""
    sig = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}

    class Holder(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("test:index:Holder", "holder")
            self.register_outputs({"login": {"user": "app", "password": pulumi.Output.secret("s3")}})

    def program() -> None:
        azure.app.ContainerApp("app", resource_group_name="rg", configuration=azure.app.ConfigurationArgs(
            active_revisions_mode="Single", secrets=[azure.app.SecretArgs(name="pw", value=pulumi.Output.secret(
                "s3"))]))  # fmt: skip
        Holder()

    run = run_offline(program, {"azure-native:location": "westeurope"})
    app = next(r for r in run.resources if r.type == "azure-native:app:ContainerApp")
    assert app.inputs["configuration"] == {"activeRevisionsMode": "Single",
                                           "secrets": [{"name": "pw", "value": {**sig, "value": "s3"}}]}  # fmt: skip
    holder = next(r for r in run.resources if r.type == "test:index:Holder")
    assert holder.outputs == {"login": {"user": "app", "password": {**sig, "value": "s3"}}}


def test_computed_outputs_are_typed_stand_ins_and_apply_runs() -> None:
    seen: list[str] = []

    def program() -> None:
        bucket = aws.s3.Bucket("data")
        bucket.arn.apply(lambda arn: seen.append(arn.split(":")[2]))
        aws.s3.BucketPolicy("data", bucket=bucket.bucket, policy=bucket.arn.apply(lambda a: json.dumps({"r": a})))

    run = run_offline(program, {"aws:region": "eu-west-3"})
    assert seen == ["s3"]
    policy = next(r for r in run.resources if r.type == "aws:s3/bucketPolicy:BucketPolicy")
    assert json.loads(policy.inputs["policy"]) == {"r": "arn:aws:s3:eu-west-3:123456789012:data"}
    bucket = next(r for r in run.resources if r.type == "aws:s3/bucket:Bucket")
    assert bucket.outputs["region"] == "eu-west-3"
    assert "serverSideEncryptionConfiguration" not in bucket.inputs  # an unset optional input stays unset


def test_preview_semantics_leave_computed_outputs_unknown() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("data")
        bucket.arn.apply(lambda arn: aws.s3.BucketPolicy("inside-apply", bucket="b", policy=arn))

    preview = run_offline(program, {}, semantics=Semantics.PREVIEW)
    up = run_offline(program, {}, semantics=Semantics.UP)
    assert [r.name for r in preview.resources] == ["data"]
    assert [r.name for r in up.resources] == ["data", "inside-apply"]


def test_invokes_are_filled_from_their_result_types() -> None:
    documents: list[str] = []
    configs: list[Any] = []

    def program() -> None:
        doc = aws.iam.get_policy_document(
            statements=[{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"],
                         "principals": [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]}]
        )  # fmt: skip
        documents.append(doc.json)
        configs.append(azure.authorization.get_client_config())
        configs.append(aws.get_partition())  # a package-level invoke: its token's module is `index/getPartition`
        # An acronym in the token (`getPublicIPAddress`): the SDK's function is `get_public_ip_address`.
        configs.append(azure.network.get_public_ip_address(public_ip_address_name="ip", resource_group_name="rg"))

    run_offline(program, {})
    assert json.loads(documents[0]) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"],
                       "Principal": {"Service": ["lambda.amazonaws.com"]}}],
    }  # fmt: skip
    assert configs[0].subscription_id == "00000000-0000-0000-0000-000000000000"
    assert isinstance(configs[1].dns_suffix, str)
    assert isinstance(configs[2].ip_address, str)


def test_stack_reference_outputs_secure_config_and_warnings() -> None:
    values: list[Any] = []

    def program() -> None:
        ref = pulumi.StackReference("org/net/prod")
        ref.get_output("vpcId").apply(values.append)
        values.append(pulumi.Config().get("password"))
        pulumi.StackReference("org/other/prod")

    run = run_offline(program, {"bascule:password": {"secure": "AAABAKx"}},
                      stack_references={"org/net/prod": {"vpcId": "vpc-123"}})  # fmt: skip
    assert sorted(map(str, values)) == ["offline-secret", "vpc-123"]
    assert any("config bascule:password is encrypted" in w for w in run.warnings)
    assert any("StackReference 'org/other/prod'" in w for w in run.warnings)


def test_provider_shaped_ids() -> None:
    def program() -> None:
        group = azure.resources.ResourceGroup("rg", resource_group_name="rg-prod", location="francecentral")
        azure.storage.StorageAccount("store", resource_group_name=group.name, kind="StorageV2",
                                     sku={"name": "Standard_LRS"})  # fmt: skip

    run = run_offline(program, {})
    ids = {r.name: r.id for r in run.resources}
    assert ids["rg"] == "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-prod"
    assert ids["store"].endswith("/resourceGroups/rg-prod/providers/Microsoft.Storage/storageAccounts/store")


def test_program_failure_names_file_line_and_hint(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi\n\nname = pulumi.Config().get('name')\nname.upper()\n")
    result = CliRunner().invoke(app, ["check", "--program", str(tmp_path), "--format", "json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == FailureKind.PROGRAM.value
    assert error["location"] == f"{tmp_path / '__main__.py'}:4"
    assert "None" in error["hint"]


def test_missing_sdk_is_classified_not_blamed_on_the_engine() -> None:
    def program() -> None:
        __import__("pulumi_not_an_sdk")

    with pytest.raises(ProgramError) as exc:
        run_offline(program, {})
    assert exc.value.kind is FailureKind.SDK_MISSING


def test_watchdog_stops_a_hanging_program() -> None:
    def program() -> None:
        never: asyncio.Future[str] = asyncio.get_event_loop().create_future()
        pulumi.export("never", pulumi.Output.from_input(never))

    with pytest.raises(ProgramError) as exc:
        run_offline(program, {}, timeout=2)
    assert exc.value.kind is FailureKind.TIMEOUT


# --- inventory defects, each through the engine ------------------------------------------------------


def _regions(program: Any, config: dict[str, Any], semantics: Semantics = Semantics.UP) -> dict[str, tuple[str, str]]:
    inventory = from_offline_run(run_offline(program, config, semantics=semantics))
    return {r.name: (r.region, r.region_source) for r in inventory.resources if r.custom}


def test_azure_resources_take_their_resource_groups_location() -> None:
    def program() -> None:
        azure.resources.ResourceGroup("rg", resource_group_name="rg-prod", location="francecentral")
        azure.storage.StorageAccount("store", resource_group_name="rg-prod", kind="StorageV2",
                                     sku={"name": "Standard_LRS"})  # fmt: skip

    # Under `up` the engine answers as azure-native does (the group's location as the account's output);
    # under `preview` (and in exports without outputs) the inventory inherits it from the group.
    assert _regions(program, {"azure-native:location": "eastus"})["store"][0] == "francecentral"
    previewed = _regions(program, {"azure-native:location": "eastus"}, Semantics.PREVIEW)
    assert previewed["store"] == ("francecentral", "resource group rg (resource input)")


def test_gcp_zone_config_case_and_multi_regions() -> None:
    def program() -> None:
        gcp.compute.Instance("vm", machine_type="e2-small", labels={"workload": "ledger", "criticality": "critical"},
                             boot_disk={"initialize_params": {"image": "debian-12"}},
                             network_interfaces=[{"network": "default"}])  # fmt: skip
        gcp.storage.Bucket("upper", location="EUROPE-WEST1")
        gcp.storage.Bucket("multi", location="EU", labels={"workload": "ledger", "criticality": "critical"})

    config = {"gcp:zone": "europe-west4-b", "gcp:region": "us-central1", "gcp:project": "p"}
    regions = _regions(program, config)
    assert regions["vm"][0] == "europe-west4"  # the provider's zone, as its `zone` output
    assert _regions(program, config, Semantics.PREVIEW)["vm"] == ("europe-west4", "stack config gcp:zone")
    assert regions["upper"][0] == "europe-west1"
    assert regions["multi"][0] == "eu"
    inventory = from_offline_run(run_offline(program, config))
    rules = {v.finding.rule for v in evaluate(inventory, PackConfig())}
    assert "bascule-single-region" not in rules  # a multi-region bucket is not single-region


def test_single_region_still_fires_without_the_multi_region_bucket() -> None:
    def program() -> None:
        gcp.storage.Bucket("one", location="EUROPE-WEST1", labels={"workload": "ledger", "criticality": "critical"})

    inventory = from_offline_run(run_offline(program, {"gcp:project": "p"}))
    assert "bascule-single-region" in {v.finding.rule for v in evaluate(inventory, PackConfig())}


def test_tag_keys_and_values_match_whatever_their_case() -> None:
    def program() -> None:
        aws.ecs.Service("api", desired_count=2, tags=TAGS)

    inventory = from_offline_run(run_offline(program, {"aws:region": "eu-west-3"}))
    assert "bascule-single-region" in {v.finding.rule for v in evaluate(inventory, PackConfig())}


def test_zero_workloads_is_said_and_can_fail(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: untagged\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi_aws as aws\naws.s3.Bucket('b')\n")
    plain = CliRunner().invoke(app, ["check", "--program", str(tmp_path)])
    assert plain.exit_code == 0 and "0 critical workloads found" in plain.stderr
    required = CliRunner().invoke(app, ["check", "--program", str(tmp_path), "--require-workloads"])
    assert required.exit_code == 1


FACT_TYPES = (
    (facts.SITE_TYPES | facts.GCP_ZONAL_TYPES)
    - facts.DECLARED_SITES
    - facts.AZURE_NATIVE_2_TYPES
    | {facts.ROUTE53_RECORD, facts.ROUTE53_HEALTH_CHECK, facts.TRAFFIC_MANAGER_PROFILE, facts.CLOUD_DNS_RECORD_SET,
       facts.GCP_HEALTH_CHECK}
)  # fmt: skip


@pytest.mark.parametrize("token", sorted(FACT_TYPES))
def test_every_type_in_facts_exists_in_the_installed_sdk(token: str) -> None:
    package, module, _ = token.split(":")
    root = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native", "gcp": "pulumi_gcp",
            "scaleway": "pulumiverse_scaleway", "hcloud": "pulumi_hcloud", "ovh": "pulumi_ovh"}[package]  # fmt: skip
    python_module = module.split("/")[0]
    python_module = f"{python_module}_" if python_module in ("lambda",) else python_module  # a Python keyword
    importlib.import_module(root if python_module == "index" else f"{root}.{python_module}")
    assert resource_class(token) is not None, f"{token}: no such resource type in the installed SDK"


# --- URN parity: --program, --export and the CrossGuard pack ------------------------------------------


class Site(pulumi.ComponentResource):
    def __init__(self, name: str, region: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("acme:site:Site", name, None, opts)
        inner = Tier(f"{name}-tier", region, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"tier": inner.urn})


class Tier(pulumi.ComponentResource):
    def __init__(self, name: str, region: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("acme:site:Tier", name, None, opts)
        provider = aws.Provider(f"{name}-aws", region=region, opts=pulumi.ResourceOptions(parent=self))
        aws.ecs.Service(name, desired_count=2, tags=TAGS, opts=pulumi.ResourceOptions(parent=self, provider=provider))


def nested_program() -> None:
    Site("paris", "eu-west-3")


def test_urns_carry_the_full_parent_type_chain() -> None:
    run = run_offline(nested_program, {}, project="ledger", stack="prod")
    service = next(r for r in run.resources if r.type == "aws:ecs/service:Service")
    assert service.urn == "urn:pulumi:prod::ledger::acme:site:Site$acme:site:Tier$aws:ecs/service:Service::paris-tier"
    site = next(r for r in run.resources if r.type == "acme:site:Site")
    assert site.urn == "urn:pulumi:prod::ledger::acme:site:Site::paris"


def test_same_stack_same_urns_fingerprints_and_verdicts_on_every_path(tmp_path: Path) -> None:
    run = run_offline(nested_program, {}, project="ledger", stack="prod")
    export = tmp_path / "state.json"
    export.write_text(json.dumps({"version": 3, "deployment": {"resources": [
        {"urn": r.urn, "type": r.type, "custom": r.custom, "id": r.id or None, "inputs": r.inputs,
         "outputs": r.outputs, **({"parent": r.parent} if r.parent else {}),
         **({"provider": f"{r.provider}::{next(p.id for p in run.resources if p.urn == r.provider)}"}
            if r.provider else {})}
        for r in run.resources]}}))  # fmt: skip
    from bascule.inventory.readers import read_export
    from bascule.inventory.records import build

    program_results = run_check(from_offline_run(run), PackConfig(), [])
    export_results = run_check(build(read_export(export)), PackConfig(), [])
    as_set = lambda results: {(r.finding.rule, r.finding.urn, r.enforcement.value, r.fingerprint())  # noqa: E731
                              for r in results}  # fmt: skip
    assert as_set(program_results) == as_set(export_results)
    assert any(rule == "bascule-single-region" for rule, *_ in as_set(program_results))
    pack = pack_verdicts(run, {})
    assert {(rule, urn, level) for rule, urn, level, _ in as_set(program_results)} == pack


def test_auto_semantics_falls_back_to_preview_when_a_stand_in_breaks_the_program() -> None:
    def program() -> None:
        api = aws.appsync.GraphQLApi("api", authentication_type="API_KEY", schema="type Query { x: Int }")
        pulumi.export("endpoint", api.uris["GRAPHQL"])  # a key only the cloud's answer has

    with pytest.raises(ProgramError) as exc:
        run_offline(program, {}, semantics=Semantics.UP)
    assert exc.value.kind is FailureKind.STAND_IN
    run = run_offline(program, {}, semantics=Semantics.AUTO)
    assert [r.name for r in run.resources] == ["api"]
    assert run.warnings[0].startswith("ran with preview semantics")


def test_runs_register_in_one_order_and_leave_no_threads_or_sdk_patch_behind() -> None:
    """Monitor calls run on the loop's own thread, and the SDK's per-resource stack walk is replaced by a cheap one
    only while a program runs (the function must exist: if an SDK release renames it, runs are slower, and this says
    so); each resource still records the program line that declared it."""
    from pulumi.runtime import resource as runtime_resource

    original = runtime_resource._get_stack_trace
    walked: list[bool] = []

    def program() -> None:
        walked.append(runtime_resource._get_stack_trace is original)
        nested_program()
        for i in range(5):
            aws.s3.Bucket(f"b{i}", tags=TAGS)

    before = set(threading.enumerate())
    first, second = run_offline(program, {}), run_offline(program, {})
    assert [r.urn for r in first.resources] == [r.urn for r in second.resources]
    assert len(first.resources) == 9  # the site, its tier, its provider and service, five buckets
    assert set(threading.enumerate()) <= before  # no executor threads left behind by either run
    assert walked == [False, False]
    assert runtime_resource._get_stack_trace is original
    buckets = [r.source for r in first.resources if r.type == "aws:s3/bucket:Bucket"]
    assert len(buckets) == 5 and len(set(buckets)) == 1
    file, line = str(buckets[0]).rsplit(":", 1)
    assert file == __file__ and "aws.s3.Bucket(" in Path(file).read_text().splitlines()[int(line) - 1]


# --- issue 24 item 10: a program is contained in the run (stdin, stdout, exits, resource count) -------------------


def _project(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text("name: contained\nruntime: python\n")
    (folder / "__main__.py").write_text("import os\nimport sys\n\nimport pulumi_aws as aws\n\n" + body)
    return folder


def _bascule(*args: str, env: dict[str, str] | None = None, stdin: Any = None) -> Any:
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "bascule.cli", *args], capture_output=True, text=True, timeout=90,
                          env={**os.environ, **(env or {})}, stdin=stdin, check=False)  # fmt: skip


def test_what_a_program_prints_stays_off_a_machine_formats_stdout(tmp_path: Path) -> None:
    """`print` and a child process writing to descriptor 1: both on stderr, so stdout is one JSON document."""
    program = _project(tmp_path / "p", 'print("hello from the program")\nos.system("echo from a child process")\n'
                                       'aws.s3.Bucket("b")\n')  # fmt: skip
    proc = _bascule("check", "--program", str(program), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["resources"] == 1
    assert "hello from the program" in proc.stderr and "from a child process" in proc.stderr
    in_process = CliRunner().invoke(app, ["plan", "--program", str(program), "-f", "json"])
    assert in_process.exit_code == 0 and "hello" not in in_process.stdout
    assert json.loads(in_process.stdout)


@pytest.mark.parametrize(("call", "named"), [("os._exit(0)", "os._exit(0)"), ("sys.exit(0)", "sys.exit(0)"),
                                             ("sys.exit()", "sys.exit()"), ("exit(3)", "sys.exit(3)")])  # fmt: skip
def test_a_program_that_exits_early_is_an_error_naming_the_exit(tmp_path: Path, call: str, named: str) -> None:
    """In-process, `os._exit(0)` ended Bascule itself with exit 0 and no output: a pass."""
    program = _project(tmp_path / "p", f'aws.s3.Bucket("b")\n{call}\naws.s3.Bucket("never")\n')
    proc = _bascule("check", "--program", str(program), "-f", "json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == FailureKind.EXITED.value
    assert error["message"] == f"the program called {named} before its run ended"
    assert error["location"] == f"{program / '__main__.py'}:7"


def test_a_program_reading_stdin_fails_at_once_with_a_message(tmp_path: Path) -> None:
    """stdin a pipe nobody writes to: the program blocked until the watchdog, then the interpreter aborted."""
    import subprocess
    import time

    program = _project(tmp_path / "p", 'name = input("bucket name? ")\naws.s3.Bucket(name)\n')
    started = time.monotonic()
    proc = _bascule("check", "--program", str(program), stdin=subprocess.PIPE)
    assert time.monotonic() - started < 60
    assert proc.returncode == 2, proc.stderr
    assert "EOFError" in proc.stderr and "reads standard input" in proc.stderr and "/dev/null" in proc.stderr


def test_a_runaway_program_is_stopped_at_the_resource_limit(tmp_path: Path) -> None:
    """100,000 buckets outlived the 120 s watchdog and exhausted memory; stopped at the limit, naming it and how to
    raise it, with the line that registered one more."""
    program = _project(tmp_path / "p", 'for i in range(100_000):\n    aws.s3.Bucket(f"b{i}")\n')
    proc = _bascule("check", "--program", str(program), "-f", "json", env={"BASCULE_MAX_RESOURCES": "40"})
    assert proc.returncode == 2, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == FailureKind.LIMIT.value
    assert error["message"].startswith("stopped after 40 resources")
    assert "BASCULE_MAX_RESOURCES" in error["hint"]
    assert error["location"] == f"{program / '__main__.py'}:7"


def test_the_resource_limit_counts_every_registration_and_a_catching_program_cannot_pass_it() -> None:
    from bascule.offline.engine import DEFAULT_MAX_RESOURCES, resource_limit

    def program() -> None:
        for i in range(30):
            try:
                aws.s3.Bucket(f"b{i}")
            except Exception:  # what a careless program does; the limit is not an Exception
                continue

    with pytest.raises(ProgramError) as exc:
        run_offline(program, {}, max_resources=10)
    assert exc.value.kind is FailureKind.LIMIT
    assert len(run_offline(program, {}, max_resources=31).resources) == 30  # the stack itself counts as one
    assert resource_limit() == DEFAULT_MAX_RESOURCES


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1e3"])
def test_a_bad_resource_limit_variable_is_exit_2_naming_it(tmp_path: Path, value: str) -> None:
    program = _project(tmp_path / "p", 'aws.s3.Bucket("b")\n')
    result = CliRunner().invoke(app, ["plan", "--program", str(program)], env={"BASCULE_MAX_RESOURCES": value})
    assert result.exit_code == 2
    assert f"BASCULE_MAX_RESOURCES={value!r}: not a whole number of resources" in result.stderr


def test_the_containment_is_undone_after_the_run() -> None:
    import os
    import sys

    import pulumi.resource

    exit_before, register_before, stdin_before, stdout_before = (os._exit, pulumi.resource.register_resource,
                                                                 sys.stdin, sys.stdout)  # fmt: skip
    descriptors = [os.fstat(fd).st_ino for fd in (0, 1)]

    def program() -> None:
        assert os._exit is not exit_before and sys.stdout is sys.stderr
        aws.s3.Bucket("b")

    run_offline(program, {})
    assert (os._exit, pulumi.resource.register_resource, sys.stdin, sys.stdout) == (
        exit_before, register_before, stdin_before, stdout_before)  # fmt: skip
    assert [os.fstat(fd).st_ino for fd in (0, 1)] == descriptors
