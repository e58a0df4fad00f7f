"""`data.backup` as planned offline from the example data stack with the real SDK classes: the Scaleway bucket with
object lock at creation, COMPLIANCE retention and lifecycle; the job's write-only credentials in a project of their
own; the scheduled job beside the standby with the contract's environment; the `bascule_backup` output; the spec's
one-line errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumiverse_scaleway as scaleway
import pytest

from bascule.audit.workloads import AuditInput, audit, render_text
from bascule.components.data import plugin
from bascule.components.data.backup import BACKUP_TYPE, JOB_ACTIONS, JOB_PERMISSIONS, schedule
from bascule.components.data.plugin import age_recipient_ok
from bascule.facts import AUTONAME_SUFFIX, CONTAINER_APPS_JOB, NAME_LIMITS, Cloud
from bascule.inventory.records import from_offline_run
from bascule.spec import SpecError, parse_services
from bascule.spec.data import BACKUP_ENV, BACKUP_OUTPUT, STANDBY_TYPE
from tests.test_data_components import PlanFn, data_services, is_secret

RECIPIENT = "age1vezvhh663k4fg5h3d3f94vfgzsy7wqgdj5fedfqwck5ssjmfpsnskakuhs"


def test_the_bucket_is_locked_at_creation_versioned_and_expires_after_its_retention(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (bucket,) = plan.of_type("scaleway:object/bucket:Bucket")
    project = plan.named("checkout-data-backup-project", "scaleway:account/project:Project")
    assert bucket.inputs["objectLockEnabled"] is True and bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.inputs["region"] == "fr-par" and bucket.inputs["projectId"] == project.id
    assert bucket.inputs["name"].startswith("bascule-checkout-backups-")
    rules = {rule["id"]: rule for rule in bucket.inputs["lifecycleRules"]}
    assert rules["bascule-expire-after-retention"]["expiration"] == {"days": 31}
    assert rules["bascule-expire-after-retention"]["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    assert rules["bascule-abort-incomplete-uploads"]["abortIncompleteMultipartUploadDays"] == 1
    assert all(rule["enabled"] for rule in rules.values())
    (lock,) = plan.of_type("scaleway:object/bucketLockConfiguration:BucketLockConfiguration")
    assert lock.inputs["bucket"] == bucket.outputs["name"] and lock.inputs["projectId"] == project.id
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 30}}


def test_the_jobs_credentials_write_objects_in_the_backup_project_only(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    project = plan.named("checkout-data-backup-project", "scaleway:account/project:Project")
    (application,) = plan.of_type("scaleway:iam/application:Application")
    (policy,) = plan.of_type("scaleway:iam/policy:Policy")
    (key,) = plan.of_type("scaleway:iam/apiKey:ApiKey")
    assert policy.inputs["applicationId"] == application.id
    assert policy.inputs["rules"] == [{"projectIds": [project.id], "permissionSetNames": ["ObjectStorageObjectsWrite"]}]
    assert JOB_PERMISSIONS == ("ObjectStorageObjectsWrite",)  # no Read, no Delete, no Buckets*, no FullAccess
    assert key.inputs["applicationId"] == application.id and key.inputs["defaultProjectId"] == project.id
    # Created after its policy; Scaleway may take up to 5 minutes to apply it, so a first run right after `up` can fail.
    assert policy.urn in key.dependencies


def test_the_locked_bucket_and_its_lock_are_protected(plan_services: PlanFn, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replacement could never delete the old bucket while it holds locked versions: Pulumi must refuse it."""
    protected: dict[str, bool] = {}
    for cls in (scaleway.object.Bucket, scaleway.object.BucketLockConfiguration, scaleway.object.BucketPolicy):

        def record(self: Any, *args: Any, __init: Any = cls.__init__, **kwargs: Any) -> None:
            opts = kwargs.get("opts")
            protected[type(self).__name__] = bool(opts and opts.protect)
            __init(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", record)
    plan_services(data_services())
    assert protected == {"Bucket": True, "BucketLockConfiguration": True, "BucketPolicy": False}


def test_the_buckets_policy_narrows_the_job_to_uploads_and_keeps_the_listed_principals(plan_services: PlanFn) -> None:
    """`ObjectStorageObjectsWrite` also grants PutObjectAcl, PutObjectLegalHold, PutObjectLockConfiguration: the policy
    allows the job only `JOB_ACTIONS` under the service's prefix, and lists the deployer and readers (a bucket policy
    refuses whoever it does not list)."""
    plan = plan_services(data_services())
    (bucket,) = plan.of_type("scaleway:object/bucket:Bucket")
    (application,) = plan.of_type("scaleway:iam/application:Application")
    (lock,) = plan.of_type("scaleway:object/bucketLockConfiguration:BucketLockConfiguration")
    project = plan.named("checkout-data-backup-project", "scaleway:account/project:Project")
    (policy,) = plan.of_type("scaleway:object/bucketPolicy:BucketPolicy")
    name = bucket.outputs["name"]
    assert policy.inputs["bucket"] == name and policy.inputs["projectId"] == project.id
    assert policy.inputs["region"] == "fr-par" and lock.urn in policy.dependencies
    document = json.loads(policy.inputs["policy"])
    assert document["Version"] == "2023-04-17"
    job, kept = document["Statement"]
    assert job["Principal"] == {"SCW": f"application_id:{application.id}"} and job["Effect"] == "Allow"
    assert job["Action"] == ["s3:PutObject", "s3:PutObjectRetention"] == list(JOB_ACTIONS)
    assert job["Resource"] == [f"{name}/checkout/*"]
    assert kept["Principal"] == {"SCW": ["user_id:11111111-1111-4111-8111-111111111111"]}
    assert kept["Action"] == ["s3:*"] and kept["Resource"] == [name, f"{name}/*"]


def test_the_backup_job_runs_take_beside_the_standby_on_the_schedule(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    job = plan.named("checkout-data-backup-job", "azure-native:app:Job")
    env = plan.named("checkout-data-jobs", "azure-native:app:ManagedEnvironment")
    group = plan.named("checkout-data-rg", "azure-native:resources:ResourceGroup")
    assert job.inputs["environmentId"] == env.id  # the sync job's network and NAT address
    assert job.inputs["resourceGroupName"] == group.outputs["name"] and job.inputs["location"] == "germanywestcentral"
    config = job.inputs["configuration"]
    assert config["triggerType"] == "Schedule" and config["scheduleTriggerConfig"]["cronExpression"] == "0 0 * * *"
    assert config["replicaTimeout"] == 12 * 3600 and config["scheduleTriggerConfig"]["parallelism"] == 1
    assert {s["name"] for s in config["secrets"]} == {"source-dsn", "store-access-key", "store-secret-key"}
    assert all(is_secret(s["value"]) for s in config["secrets"])
    (container,) = job.inputs["template"]["containers"]
    assert container["image"] == "ghcr.io/example/bascule-backup:1.0.0"
    assert container["command"] == ["bascule", "backup", "take"]
    variables = {v["name"]: v for v in container["env"]}
    assert set(variables) == set(BACKUP_ENV)
    assert {k for k, v in variables.items() if "secretRef" in v} == {
        "BASCULE_BACKUP_SOURCE_DSN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # fmt: skip
    (bucket,) = plan.of_type("scaleway:object/bucket:Bucket")
    values = {k: v.get("value") for k, v in variables.items()}
    assert values["BASCULE_BACKUP_BUCKET"] == bucket.outputs["name"]
    assert (values["BASCULE_BACKUP_ENDPOINT"], values["BASCULE_BACKUP_REGION"]) == ("https://s3.fr-par.scw.cloud",
                                                                                    "fr-par")  # fmt: skip
    assert (values["BASCULE_BACKUP_DATABASES"], values["BASCULE_BACKUP_SERVICE"]) == ("checkout", "checkout")
    assert (values["BASCULE_BACKUP_RECIPIENT"], values["BASCULE_BACKUP_RETENTION_DAYS"]) == (RECIPIENT, "30")
    # The dump reads the standby, never the primary: the DSN names the Flexible Server.
    server = plan.named("checkout-data-standby", "azure-native:dbforpostgresql:Server")
    (dsn,) = [s["value"] for s in config["secrets"] if s["name"] == "source-dsn"]
    assert f"@{server.outputs['fullyQualifiedDomainName']}:5432/postgres?sslmode=require" in str(dsn)


def test_both_jobs_names_fit_azures_limit_for_the_longest_service_name(plan_services: PlanFn) -> None:
    """A job is auto-named `<logical>-<suffix>` and Azure refuses job names over 32 characters (as it does Container
    App names), so the logical names are cut to leave the suffix room; short ones are left as they were."""
    services = data_services()
    services[0]["name"] = name = "inventory-reconciliation-service"
    assert len(name) == 32  # the longest a service name may be
    limit = NAME_LIMITS[CONTAINER_APPS_JOB]
    jobs = plan_services(services).of_type(CONTAINER_APPS_JOB)
    assert len(jobs) == 2 and all("jobName" not in job.inputs for job in jobs)  # both auto-named
    for job in jobs:
        physical = f"{job.name}-{'a' * (AUTONAME_SUFFIX - 1)}"
        assert len(physical) <= limit.max_length and re.fullmatch(limit.pattern, physical), physical
    assert len({job.name for job in jobs}) == 2  # cut to the same prefix, told apart by a hash of the full name
    short = {job.name for job in plan_services(data_services()).of_type(CONTAINER_APPS_JOB)}
    assert short == {"checkout-data-backup-job", "checkout-data-sync"}


@pytest.mark.parametrize(("hours", "cron"), [(1, "0 */1 * * *"), (6, "0 */6 * * *"), (24, "0 0 * * *")])
def test_schedule_is_even_through_the_day(hours: int, cron: str) -> None:
    assert schedule(hours) == cron


def test_bascule_backup_output_says_where_backups_live_without_secrets(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (standby,) = plan.of_type(STANDBY_TYPE)
    out = standby.outputs[BACKUP_OUTPUT]
    (bucket,) = plan.of_type("scaleway:object/bucket:Bucket")
    assert out == {
        "provider": "scaleway", "legal_home": "Scaleway SAS (FR), parent iliad group (FR)",
        "endpoint": "https://s3.fr-par.scw.cloud", "region": "fr-par", "bucket": bucket.outputs["name"],
        "service": "checkout", "databases": ["checkout"], "every_hours": 24, "retention_days": 30,
        "recipient": RECIPIENT,
    }  # fmt: skip
    assert not any(is_secret(v) for v in out.values())
    (component,) = plan.of_type(BACKUP_TYPE)
    assert component.parent == standby.urn and bucket.parent == component.urn


def test_a_data_stack_without_backup_plans_none(plan_services: PlanFn) -> None:
    services = data_services()
    del services[0]["data"]["backup"]
    plan = plan_services(services)
    assert plan.of_type(BACKUP_TYPE) == [] and plan.of_type("scaleway:object/bucket:Bucket") == []
    (standby,) = plan.of_type(STANDBY_TYPE)
    assert BACKUP_OUTPUT not in standby.outputs


def test_a_named_bucket_keeps_its_name(plan_services: PlanFn) -> None:
    services = data_services()
    services[0]["data"]["backup"]["bucket"] = "shop-checkout-backups"
    (bucket,) = plan_services(services).of_type("scaleway:object/bucket:Bucket")
    assert bucket.inputs["name"] == "shop-checkout-backups"


def test_age_recipients_are_checked_as_bech32() -> None:
    assert age_recipient_ok(RECIPIENT)
    assert age_recipient_ok("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")  # age's README
    assert not age_recipient_ok(RECIPIENT[:-1] + ("q" if RECIPIENT[-1] != "q" else "p"))  # one character off
    assert not age_recipient_ok(RECIPIENT[:-2])  # truncated
    assert not age_recipient_ok(RECIPIENT.upper())
    assert not age_recipient_ok("age-secret-key-1" + RECIPIENT[4:])  # a private key is refused outright
    assert not age_recipient_ok("npub1" + RECIPIENT[4:])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("provider", "hetzner", "backup.provider"),
        ("region", "eu-central-1", "'eu-central-1' is not a known scaleway region"),
        ("every_hours", 5, "every_hours: 5 is not a divisor of 24"),
        ("every_hours", 48, "every_hours: 48 is not a divisor of 24"),
        ("retention_days", 1, "retention_days"),
        ("retention_days", 3651, "retention_days"),
        ("recipient", "age1notakey", "recipient: 'age1notakey' is not an age public key"),
        ("bucket", "Checkout_Backups", "bucket: 'Checkout_Backups' is not a bucket name here"),
        ("bucket", "ab", "bucket: 'ab' is not a bucket name here"),
        ("image", "not an image", "image"),
        ("retain", 30, "retain: unknown field"),
        ("keep_access", [], "keep_access"),
        (
            "keep_access",
            ["project_id:11111111-1111-4111-8111-111111111111"],
            "keep_access: 'project_id:11111111-1111-4111-8111-111111111111' is not a bucket policy principal",
        ),
        (
            "keep_access",
            ["user_id:11111111-1111-4111-8111-111111111111"] * 2,
            "keep_access: a principal is listed twice",
        ),
    ],
)
def test_impossible_backups_are_one_line_errors(field: str, value: Any, message: str) -> None:
    services = data_services()
    services[0]["data"]["backup"][field] = value
    with pytest.raises(SpecError) as caught:
        parse_services(services, "test")
    assert any(message in line and "\n" not in line and "data.backup" in line for line in caught.value.lines), (
        caught.value.lines
    )


def test_backups_never_sit_on_the_primarys_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only Scaleway is offered today; the rule guards a provider added later that shares the primary's cloud.
    monkeypatch.setitem(plugin.BACKUP_PROVIDERS, "scaleway", Cloud.AWS)
    with pytest.raises(SpecError) as caught:
        parse_services(data_services(), "test")
    assert any("data.backup.provider: 'scaleway' is the primary's cloud" in line for line in caught.value.lines)


def test_audit_names_where_backups_live_with_the_providers_legal_home(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    result = audit([AuditInput("data", from_offline_run(plan.run))])
    (workload,) = result.workloads
    assert workload.backups == [
        "scaleway fr-par (FR) - Scaleway SAS (FR), parent iliad group (FR), EU-headquartered - Bucket "
        "checkout-data-backup-bucket"
    ]
    assert "  backups: scaleway fr-par (FR) - Scaleway SAS (FR)" in render_text(result)
    # The store is no site: the service still runs on AWS and Azure only.
    assert {s.provider for s in workload.sites} == {"aws", "azure"}
