"""The status site (`bascule:status`) under mocks, with the real pulumiverse-scaleway classes: a private bucket website
served by an Edge Services pipeline on its own hostname with a managed certificate, the scheduled watch job, and the
spec's rules (a provider no primary uses, a hostname of its own, bucket names, a cache of at most a minute)."""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.components.status.plugin import StatusSpec
from bascule.components.status.site import STATUS_TYPE, WORK_DIR, job_script
from bascule.spec import STATUS_KEY, SpecError, load_stack_file, parse_services, parse_status
from tests.conftest import STACKS, Plan, stack_config

PlanFn = Callable[..., Plan]
EDGE = "scaleway:edgeservices/"
runner = CliRunner()


@pytest.fixture
def config() -> dict[str, Any]:
    return copy.deepcopy(stack_config("status"))


def plan_of(plan_services: PlanFn, config: dict[str, Any]) -> Plan:
    return plan_services(config["bascule:services"], extra={STATUS_KEY: config[STATUS_KEY]})


def test_the_page_is_a_private_bucket_website_behind_edge_services_on_its_hostname(
    plan_services: PlanFn, config: dict[str, Any]
) -> None:
    plan = plan_of(plan_services, config)
    (site,) = plan.of_type(STATUS_TYPE)
    bucket = plan.named("status-bucket", "scaleway:object/bucket:Bucket")
    assert (bucket.inputs["name"], bucket.inputs["region"]) == ("status-shop-example-com", "fr-par")
    assert "acl" not in bucket.inputs  # private: Edge Services reads a website bucket's private objects
    website = plan.named("status-website")
    assert website.inputs["indexDocument"] == {"suffix": "index.html"}
    assert website.inputs["bucket"] == "status-shop-example-com"
    pipeline = plan.named("status-pipeline", f"{EDGE}pipeline:Pipeline")
    backend = plan.named("status-backend", f"{EDGE}backendStage:BackendStage")
    assert backend.inputs["s3BackendConfig"] == {"bucketName": "status-shop-example-com", "bucketRegion": "fr-par",
                                                 "isWebsite": True}  # fmt: skip
    assert website.urn in backend.dependencies  # the backend reads the bucket as a website: configured first
    cache = plan.named("status-cache", f"{EDGE}cacheStage:CacheStage")
    tls = plan.named("status-tls", f"{EDGE}tlsStage:TlsStage")
    dns = plan.named("status-dns", f"{EDGE}dnsStage:DnsStage")
    head = plan.named("status-head", f"{EDGE}headStage:HeadStage")
    # The chain a request walks: head -> DNS (the hostname) -> TLS (managed certificate) -> cache -> bucket.
    assert head.inputs["headStageId"] == dns.id
    assert dns.inputs["fqdns"] == ["status.shop.example.com"] and dns.inputs["tlsStageId"] == tls.id
    assert tls.inputs["managedCertificate"] is True and tls.inputs["cacheStageId"] == cache.id
    assert cache.inputs["backendStageId"] == backend.id and cache.inputs["fallbackTtl"] == 30
    for stage in (backend, cache, tls, dns, head):
        assert stage.inputs["pipelineId"] == pipeline.id
        assert stage.parent == site.urn
    outputs = plan.run.stack_outputs  # what `bascule status publish` and the CNAME need, as stack outputs
    assert outputs["status_url"] == "https://status.shop.example.com/"
    assert outputs["status_bucket"] == "status-shop-example-com"
    assert outputs["status_endpoint"] == "https://s3.fr-par.scw.cloud"
    assert outputs["status_cname_target"] == dns.outputs["defaultFqdn"]


def test_the_watch_job_runs_watch_then_publish_on_schedule_with_secrets_from_secret_manager(
    plan_services: PlanFn, config: dict[str, Any]
) -> None:
    job = plan_of(plan_services, config).named("status-watch", "scaleway:job/definition:Definition")
    assert job.inputs["cron"] == {"schedule": "*/5 * * * *", "timezone": "Europe/Paris"}
    assert job.inputs["imageUri"] == "rg.fr-par.scw.cloud/shop-ops/bascule:0.1.0"
    assert job.inputs["region"] == "fr-par" and job.inputs["name"] == "bascule-watch-status-shop-example-com"
    assert job.inputs["startupCommands"] == ["/bin/sh", "-c"]
    (script,) = job.inputs["args"]
    watch, publish = script.split("; rc=$?; ")
    # The watch CLI's own flags (bascule/cli/watch.py): --stack S --once --status-dir D --notify URL.
    assert shlex.split(watch) == ["bascule", "watch", "--stack", "status", "--once", "--status-dir", WORK_DIR,
                                  "--notify", "${BASCULE_NOTIFY}"]  # fmt: skip
    assert publish.startswith(f"bascule status publish --dir {WORK_DIR} --bucket status-shop-example-com ")
    assert publish.endswith("|| exit 70; exit $rc")  # a degraded service fails the run, after the page says so
    envs = {ref["environment"]: ref["secretId"] for ref in job.inputs["secretReferences"]}
    assert set(envs) == {"BASCULE_NOTIFY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PULUMI_ACCESS_TOKEN"}
    assert "env" not in job.inputs  # no secret in plain environment variables or in the stack file
    assert "hooks." not in script and "token" not in script.lower()


def test_the_job_script_publishes_with_the_options_publish_accepts(tmp_path: Path) -> None:
    """The command the job runs is one `bascule status publish` parses (not a drifted copy of its flags)."""
    _, spec = load_stack_file(STACKS / "Pulumi.status.yaml")
    status = parse_status(stack_config("status")[STATUS_KEY], spec, "status")
    assert status is not None and status.watch is not None
    publish = job_script(status, status.watch).split("; rc=$?; ")[1].removesuffix(" || exit 70; exit $rc")
    words = shlex.split(publish)[1:]
    words[words.index("--dir") + 1] = str(tmp_path)  # an empty folder: refused after every option parsed
    result = runner.invoke(app, words)
    assert result.exit_code == 2 and "no index.html" in result.stderr, result.output


def test_without_watch_there_is_no_job_and_a_plain_stack_has_no_status_site(
    plan_services: PlanFn, config: dict[str, Any]
) -> None:
    del config[STATUS_KEY]["watch"]
    assert plan_of(plan_services, config).of_type("scaleway:job/definition:Definition") == []
    assert plan_services(config["bascule:services"]).of_type(STATUS_TYPE) == []


def test_plan_reads_the_status_site_with_a_region_or_global(tmp_path: Path) -> None:
    """(`bascule check` of every example stack, this one included: tests/test_cli_check.py.)"""
    planned = runner.invoke(app, ["plan", "--stack", "status", "--format", "json", "--stacks-dir", str(STACKS)])
    assert planned.exit_code == 0, planned.output
    rows = [r for r in json.loads(planned.stdout) if r["type"].startswith("scaleway:")]
    assert len(rows) == 9
    for row in rows:
        assert row["cloud"] == "scaleway"
        assert row["region"] == ("global" if row["type"].startswith(EDGE) else "fr-par"), row


def status_errors(services: list[dict[str, Any]], status: Any) -> list[str]:
    spec = parse_services(services, source="stacks/Pulumi.x.yaml")
    with pytest.raises(SpecError) as caught:
        parse_status(status, spec, "stacks/Pulumi.x.yaml")
    return caught.value.lines


def test_a_primary_on_the_status_provider_or_the_same_hostname_is_refused(config: dict[str, Any]) -> None:
    services = config["bascule:services"]
    scaleway_primary = copy.deepcopy(services[0])
    scaleway_primary["primary"] = {"kind": "endpoint", "provider": "scaleway", "region": "fr-par",
                                   "address": "203.0.113.7"}  # fmt: skip
    (line,) = status_errors([scaleway_primary], config[STATUS_KEY])
    assert line.startswith(
        "stacks/Pulumi.x.yaml: bascule:status.provider: service 'checkout''s primary runs on scaleway"
    )
    same = {**config[STATUS_KEY], "hostname": "checkout.shop.example.com"}
    (line,) = status_errors(services, same)
    assert "bascule:status.hostname: 'checkout.shop.example.com' is service 'checkout''s hostname" in line


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"region": "eu-west-3"}, "bascule:status: region: 'eu-west-3' is not a known scaleway region"),
        ({"hostname": "Status.Example.com"}, "bascule:status: hostname: 'Status.Example.com' is not a lowercase"),
        ({"bucket": "My_Bucket"}, "bascule:status: bucket: 'My_Bucket' must be 3-63 lowercase letters"),
        ({"bucket": "status.example.com"}, "must be 3-63 lowercase letters, digits or hyphens"),
        ({"bucket": "b" * 64}, "must be 3-63"),
        ({"cache_seconds": 61}, "bascule:status: cache_seconds: Input should be less than or equal to 60"),
        ({"cache_seconds": True}, "cache_seconds: expected a number, not true"),
        ({"provider": "gcs"}, "bascule:status: provider: Input should be 'scaleway'"),
        ({"cdn": True}, "bascule:status: cdn: unknown field"),
        ({"watch": {"image": "x:1", "stack": "prod", "notify_env": "HOOK"}}, "notify_env: 'HOOK' is not one of"),
        ({"watch": {"image": "x:1", "stack": "prod", "secrets": {"hook": "fr-par/x"}}}, "'hook' is not an environment"),
        ({"watch": {"image": "x:1", "stack": "prod", "secrets": {"HOOK": "https://hooks.example/T0k3n"}}},
         "HOOK: 'https://hooks.example/T0k3n' is not a Secret Manager secret id"),
        ({"watch": {"image": "x:1", "stack": "prod", "schedule": "every 5 minutes"}}, "not a five-field cron"),
        ({"watch": {"image": "x:1", "stack": "prod", "timezone": "Paris time"}}, "not a tz database name"),
        ({"watch": {"image": "x:1", "stack": "prod", "cpu_limit": 10}}, "watch.cpu_limit: Input should be greater"),
        ({"watch": {"image": "x:1", "stack": "a b"}}, "watch.stack: 'a b' is not a stack name"),
        ({"hostname": "status.a-very-long-subdomain-name-for-a-status-page.example.com",
          "watch": {"image": "x:1", "stack": "prod"}}, "too long for the watch job's name"),
    ],
)  # fmt: skip
def test_each_bad_status_field_is_one_line_naming_it(
    config: dict[str, Any], change: dict[str, Any], expected: str
) -> None:
    status = {k: v for k, v in config[STATUS_KEY].items() if k != "watch"} | change
    lines = status_errors(config["bascule:services"], status)
    assert len(lines) == 1 and expected in lines[0], lines
    assert lines[0].startswith("stacks/Pulumi.x.yaml: bascule:status")


def test_a_stack_file_with_a_bad_status_is_refused_by_plan_naming_the_file(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    import yaml

    config[STATUS_KEY]["cache_seconds"] = 600
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    result = runner.invoke(app, ["plan", "--stack", "bad", "--stacks-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'Pulumi.bad.yaml'}: bascule:status: cache_seconds:" in result.stderr


def test_the_model_derives_its_bucket_and_endpoint() -> None:
    status = StatusSpec(region="nl-ams", hostname="status.example.org")
    assert (status.bucket_name, status.endpoint) == ("status-example-org", "https://s3.nl-ams.scw.cloud")
