"""PostgresBackup: logical dumps of a service's databases, taken from the standby by a scheduled job beside it and
kept under object lock in a Scaleway Object Storage bucket: away from the primary's cloud, and, with COMPLIANCE
retention, out of reach of anyone who holds the job's credentials, the deployer's, or Scaleway's console.

Three layers, each stated at its resource below:
- object lock (COMPLIANCE, `retention_days`) on every object: nobody, the bucket's owner included, deletes or
  overwrites a locked version before its retention ends. This is the guarantee; the others narrow who can try.
- the job's credentials (an IAM application with only `ObjectStorageObjectsWrite`, in a Scaleway project holding
  only this bucket), narrowed by the bucket's policy to uploading under the service's prefix and setting retention:
  it can write new objects and lengthen their locks, and cannot delete, list, read, publish or tag any.
- encryption to the team's age key (`bascule backup take`): the job writes backups it cannot read; restoring needs
  the private key, which no cloud holds.

The job is the contract's (issue 27): `bascule backup take`, configured by `BACKUP_ENV`, from the team's image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure
import pulumi_random as random
import pulumiverse_scaleway as scaleway

from bascule import facts
from bascule.components.base import default_provider_allowed, fit_name
from bascule.components.data.plugin import BackupSpec
from bascule.facts import BACKUP_TAG, LEGAL_HOMES
from bascule.spec import TAG_CRITICALITY, TAG_SERVICE, Criticality, ServiceSpec
from bascule.spec.data import BACKUP_ENV

BACKUP_TYPE = "bascule:data:PostgresBackup"
LOCK_MODE = "COMPLIANCE"
"""Compliance, not governance: in governance mode a user with the permission can shorten the retention and delete
(https://www.scaleway.com/en/docs/object-storage/how-to/use-object-lock/, "Retention")."""
JOB_PERMISSIONS = ("ObjectStorageObjectsWrite",)
"""The job's whole IAM grant, the narrowest set holding PutObject. Per Scaleway's mapping of S3 actions to permission
sets (https://github.com/scaleway/docs-content,
pages/object-storage/reference-content/s3-iam-permissions-equivalence.mdx) `ObjectStorageObjectsWrite` authorizes
PutObject, the multipart upload calls (Create, UploadPart, Complete) and PutObjectRetention, but also PutObjectAcl (a
`public-read` ACL would let anyone read the unencrypted manifests), PutObjectLegalHold (which the lifecycle then
skips), PutObjectLockConfiguration and the tagging calls (and CopyObject, harmless here: a copy is one more locked
object): `JOB_ACTIONS`, in the bucket's policy, takes those back. DeleteObject and AbortMultipartUpload are
`ObjectStorageObjectsDelete`'s, GetObject and ListObjects `ObjectStorageObjectsRead`'s, the bucket's lifecycle and
versioning `ObjectStorageBucketsWrite`'s: none is granted. A PutObject on an existing key adds a version (the bucket
is versioned) and leaves the locked one in place, so "overwrite" cannot destroy a backup."""
JOB_ACTIONS = ("s3:PutObject", "s3:PutObjectRetention")
"""What the bucket's policy lets the job's application do, on `<bucket>/<service>/*` only: upload and set each object's
retention, which `bascule backup take` sends with the object (it must send no ACL or tags: those need PutObjectAcl,
PutObjectTagging).

Multipart uploads (dumps of 64 MiB or more) are covered by `s3:PutObject` on one reading of Scaleway's docs and open on
another. Its mapping of S3 actions to bucket policy actions (https://github.com/scaleway/docs-content,
pages/object-storage/reference-content/s3-iam-permissions-equivalence.mdx) differs between two tables: the
ObjectStorageFullAccess table maps CreateMultipartUpload, UploadPart and CompleteMultipartUpload to the bucket policy
action `s3:PutObject`; its ObjectStorageObjectsWrite table maps Create and Complete to `s3:PutObject` too, but
UploadPart to `s3:UploadPart`. The bucket policy's own list of supported object actions
(https://www.scaleway.com/en/docs/object-storage/api-cli/bucket-policy/, "Supported object actions") names
`s3:PutObject`, `s3:AbortMultipartUpload` and `s3:ListMultipartUploadParts` but no `s3:UploadPart`,
`s3:CreateMultipartUpload` or `s3:CompleteMultipartUpload`, so none of those is listed here (an action the policy
language does not document could make PutBucketPolicy refuse the whole policy). `s3:AbortMultipartUpload` is a
documented policy action but stays out: IAM grants it only with ObjectStorageObjectsDelete (same mapping), which the job
does not hold, and a bucket policy only narrows IAM (below), so listing it would grant nothing; the job's abort attempt
is best effort and the bucket's lifecycle rule aborts what is left. Unverified, to check with the job's own key before a
first release: that an UploadPart under `<service>/` is allowed (docs/backup.md).

A bucket policy only narrows IAM: "only actions explicitly allowed by the bucket policy are permitted, if the principal
is also allowed by an IAM policy" (https://www.scaleway.com/en/docs/object-storage/api-cli/bucket-policy/, versions).
PutObjectRetention stays: the policy language's conditions (source IP, referer, time, prefix) cannot bound a retention
date, so a leaked key can still lengthen locks (COMPLIANCE never lets anyone shorten them)."""
POLICY_VERSION = "2023-04-17"
"""The current bucket policy version; 2012-10-17 is deprecated (same page)."""


def endpoint(backup: BackupSpec) -> str:
    """The S3 endpoint of the bucket's region (https://www.scaleway.com/en/docs/object-storage/api-cli/object-storage-aws-cli/)."""
    return f"https://s3.{backup.region}.scw.cloud"


def schedule(every_hours: int) -> str:
    """The job's cron expression (UTC): on the hour, every `every_hours` hours (a divisor of 24, so even all day)."""
    return "0 0 * * *" if every_hours == 24 else f"0 */{every_hours} * * *"


@dataclass(frozen=True)
class JobPlace:
    """Where the backup job runs: the standby's sync-job environment, its resource group, location, tags and the
    secondary site's Azure provider (None: the stack's default one)."""

    environment_id: pulumi.Input[str]
    group: pulumi.Input[str]
    location: str
    tags: dict[str, str]
    provider: pulumi.ProviderResource | None


class PostgresBackup(pulumi.ComponentResource):
    """The bucket, the job's credentials and the job. Built by the data component, its parent, once the standby,
    its administrator's password and the jobs' Container Apps environment exist."""

    def __init__(
        self,
        name: str,
        service: ServiceSpec,
        backup: BackupSpec,
        databases: tuple[str, ...],
        source_dsn: pulumi.Input[str],
        beside: JobPlace,
        scaleway_provider: pulumi.ProviderResource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(BACKUP_TYPE, name, None, opts)
        if scaleway_provider is None:
            default_provider_allowed("scaleway", name, "FailoverServiceArgs.backup_provider")
        on_scw = pulumi.ResourceOptions(parent=self, provider=scaleway_provider)
        # No role tag: the store belongs to neither site; `BACKUP_TAG` is how the audit finds where backups live.
        tags = {TAG_SERVICE: service.name, TAG_CRITICALITY: Criticality(service.criticality).value,
                BACKUP_TAG[0]: BACKUP_TAG[1]}  # fmt: skip

        # A project of its own: an IAM rule is scoped to projects, not buckets, so one project per service's backups
        # makes the job's grant (whose rule names only this project) reach this bucket only. The key's preferred
        # project is where its S3 calls land by default ("This API key will always use this Project when carrying
        # out Object Storage actions via any API/CLI", https://www.scaleway.com/en/docs/iam/api-cli/using-api-key-object-storage/);
        # an access key suffixed `@<project-id>` could target another project, where the rule grants nothing.
        project = scaleway.account.Project(
            f"{name}-project", name=f"bascule-{service.name}-backups",
            description=f"Bascule: {service.name} database backups (object lock, write-only job)", opts=on_scw,
        )  # fmt: skip
        suffix = random.RandomId(f"{name}-suffix", byte_length=4, opts=pulumi.ResourceOptions(parent=self))
        bucket_name: pulumi.Input[str] = backup.bucket or suffix.hex.apply(
            lambda h: f"bascule-{service.name}-backups-{h}"[:63]
        )
        # Object lock is set at creation here, so no object is ever written unlocked; it turns versioning on for good
        # ("versioning is automatically enabled on the bucket and cannot be disabled":
        # https://www.scaleway.com/en/docs/object-storage/api-cli/object-lock/). Scaleway now also allows enabling
        # it on an existing bucket (https://www.scaleway.com/en/docs/object-storage/how-to/use-object-lock/).
        # Lifecycle: a version past its lock expires (becomes noncurrent) a day after the lock ends and is deleted a
        # day later; the lifecycle engine skips locked objects ("objects that are locked ... are ignored by the
        # lifecycle engine", same page, limitations), so no rule can cut a retention short. Expiration on a
        # versioned bucket only makes the current version noncurrent, hence the noncurrent rule
        # (https://www.scaleway.com/en/docs/object-storage/api-cli/lifecycle-rules-api/). Multipart uploads the
        # job started and never completed are aborted by the store after a day: the job cannot abort them itself
        # (AbortMultipartUpload is ObjectStorageObjectsDelete's). The delete marker an expiration leaves stays: S3's
        # `ExpiredObjectDeleteMarker` would remove it, but Scaleway's lifecycle page does not list it, so it is not
        # relied on (a marker holds no data; docs/data.md says they accumulate, one per backup object).
        # Protected, with its lock configuration: `name`, `region` and `object_lock_enabled` force a replacement, and
        # the old bucket cannot go while it holds a locked version (S3 deletes only empty buckets, and in COMPLIANCE
        # "an object version cannot be overwritten or deleted for the duration of the retention period", object-lock
        # page above), so an unprotected replacement would leave the stack stuck half-way; protected, Pulumi
        # refuses the replacement (and `destroy`) before touching anything.
        keep = pulumi.ResourceOptions.merge(on_scw, pulumi.ResourceOptions(protect=True))
        self.bucket = scaleway.object.Bucket(
            f"{name}-bucket",
            name=bucket_name,
            region=backup.region,
            project_id=project.id,
            object_lock_enabled=True,
            versioning=scaleway.object.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                scaleway.object.BucketLifecycleRuleArgs(
                    id="bascule-expire-after-retention", enabled=True,
                    expiration=scaleway.object.BucketLifecycleRuleExpirationArgs(days=backup.retention_days + 1),
                    noncurrent_version_expiration=scaleway.object.BucketLifecycleRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=1),
                ),
                scaleway.object.BucketLifecycleRuleArgs(
                    id="bascule-abort-incomplete-uploads", enabled=True, abort_incomplete_multipart_upload_days=1),
            ],
            tags=tags,
            opts=keep,
        )  # fmt: skip
        # The default retention, for any object written without one (the job sets its own on each, the same):
        # COMPLIANCE for `retention_days` (the `BucketLockConfiguration` resource needs `object_lock_enabled`).
        lock = scaleway.object.BucketLockConfiguration(
            f"{name}-lock", bucket=self.bucket.name, region=backup.region, project_id=project.id,
            rule=scaleway.object.BucketLockConfigurationRuleArgs(
                default_retention=scaleway.object.BucketLockConfigurationRuleDefaultRetentionArgs(
                    mode=LOCK_MODE, days=backup.retention_days)),
            opts=keep,
        )  # fmt: skip

        # The job's identity: an IAM application (no console login), a policy on the backup project only, and an
        # API key whose preferred project is that project (its S3 calls land there).
        # https://www.scaleway.com/en/docs/iam/reference-content/permission-sets/
        application = scaleway.iam.Application(
            f"{name}-writer", name=f"bascule-{service.name}-backup-writer",
            description=f"Bascule: {service.name} backup job, write-only", opts=on_scw,
        )  # fmt: skip
        policy = scaleway.iam.Policy(
            f"{name}-writer", name=f"bascule-{service.name}-backup-writer", application_id=application.id,
            description="Write new backup objects (the bucket's policy narrows it); no read, list or delete",
            rules=[scaleway.iam.PolicyRuleArgs(project_ids=[project.id], permission_set_names=list(JOB_PERMISSIONS))],
            opts=on_scw,
        )  # fmt: skip
        # Auto-named: `<service>-data-backup-job` and Pulumi's suffix must fit in a job name's 32 characters.
        job_name = fit_name(f"{name}-job", facts.CONTAINER_APPS_JOB)
        key = scaleway.iam.ApiKey(
            f"{name}-writer", application_id=application.id, default_project_id=project.id,
            description=f"Bascule: {service.name} backup job (Azure Container Apps job {job_name})",
            opts=pulumi.ResourceOptions.merge(on_scw, pulumi.ResourceOptions(depends_on=[policy])),
        )  # fmt: skip

        # The bucket's policy takes back what `ObjectStorageObjectsWrite` grants beyond uploading (`JOB_ACTIONS`). A
        # policy refuses every principal it does not list ("All actions that are not explicitly allowed are denied"),
        # the deployer included: `keep_access` names who keeps their IAM rights (`s3:*` here, still bounded by IAM),
        # or Pulumi could no longer read the bucket it manages. The organization's owner can always put and delete
        # a bucket policy, which is the way back from a wrong `keep_access`
        # (https://www.scaleway.com/en/docs/object-storage/api-cli/bucket-policy/, "Important" and Principal). The
        # principal's form is the SDK's own example (`application_id:{app.id}`, `scaleway.object.BucketPolicy`);
        # `project_id` is set as on every child of a bucket outside the default project (same SDK page). Put after the
        # lock configuration, so a wrong `keep_access` never stops the lock from being set.
        scaleway.object.BucketPolicy(
            f"{name}-policy", bucket=self.bucket.name, region=backup.region, project_id=project.id,
            policy=pulumi.Output.json_dumps({"Version": POLICY_VERSION, "Id": f"bascule-{service.name}-backups",
                "Statement": [
                    {"Sid": "backup job: upload and set retention", "Effect": "Allow",
                     "Principal": {"SCW": application.id.apply(lambda i: f"application_id:{i}")},
                     "Action": list(JOB_ACTIONS),
                     "Resource": [pulumi.Output.concat(self.bucket.name, f"/{service.name}/*")]},
                    {"Sid": "deployer and readers keep their IAM rights", "Effect": "Allow",
                     "Principal": {"SCW": list(backup.keep_access)}, "Action": ["s3:*"],
                     "Resource": [self.bucket.name, pulumi.Output.concat(self.bucket.name, "/*")]},
                ]}),
            opts=pulumi.ResourceOptions.merge(on_scw, pulumi.ResourceOptions(depends_on=[lock])),
        )  # fmt: skip

        secrets: dict[str, pulumi.Input[str]] = {"source-dsn": source_dsn, "store-access-key": key.access_key,
                                                 "store-secret-key": key.secret_key}  # fmt: skip
        plain: dict[str, pulumi.Input[str]] = {
            "BASCULE_BACKUP_DATABASES": ",".join(databases), "BASCULE_BACKUP_SERVICE": service.name,
            "BASCULE_BACKUP_ENDPOINT": endpoint(backup), "BASCULE_BACKUP_REGION": backup.region,
            "BASCULE_BACKUP_BUCKET": self.bucket.name, "BASCULE_BACKUP_RECIPIENT": backup.recipient,
            "BASCULE_BACKUP_RETENTION_DAYS": str(backup.retention_days),
        }  # fmt: skip
        refs = {"BASCULE_BACKUP_SOURCE_DSN": "source-dsn", "AWS_ACCESS_KEY_ID": "store-access-key",
                "AWS_SECRET_ACCESS_KEY": "store-secret-key"}  # fmt: skip
        assert set(plain) | set(refs) == set(BACKUP_ENV), "the job's environment is the contract's"
        # Beside the standby, in the sync job's environment (its network, its NAT address), like the sync job: a
        # scheduled Container Apps job whose secrets are `secretRef` variables
        # (https://learn.microsoft.com/azure/container-apps/jobs, https://learn.microsoft.com/azure/container-apps/manage-secrets).
        # One execution at a time, none retried (the next is the retry), and each ends after half the interval, so
        # a dump that hangs never overlaps the next one.
        self.job = azure.app.Job(
            job_name,
            resource_group_name=beside.group,
            location=beside.location,
            environment_id=beside.environment_id,
            workload_profile_name="Consumption",
            configuration=azure.app.JobConfigurationArgs(
                trigger_type="Schedule",
                schedule_trigger_config=azure.app.JobConfigurationScheduleTriggerConfigArgs(
                    cron_expression=schedule(backup.every_hours), parallelism=1, replica_completion_count=1),
                replica_timeout=backup.every_hours * 1800,
                replica_retry_limit=0,
                secrets=[azure.app.SecretArgs(name=k, value=pulumi.Output.secret(v)) for k, v in secrets.items()],
            ),
            template=azure.app.JobTemplateArgs(containers=[azure.app.ContainerArgs(
                name="backup",
                image=backup.image,
                command=["bascule", "backup", "take"],
                env=[*(azure.app.EnvironmentVarArgs(name=k, value=v) for k, v in plain.items()),
                     *(azure.app.EnvironmentVarArgs(name=k, secret_ref=v) for k, v in refs.items())],
                resources=azure.app.ContainerResourcesArgs(cpu=0.5, memory="1Gi"),
            )]),
            tags=beside.tags,
            opts=pulumi.ResourceOptions(parent=self, provider=beside.provider),
        )  # fmt: skip

        home = LEGAL_HOMES[backup.cloud]
        self.output: Mapping[str, pulumi.Input[object]] = {
            "provider": backup.provider, "legal_home": home.summary, "endpoint": endpoint(backup),
            "region": backup.region, "bucket": self.bucket.name, "service": service.name,
            "databases": list(databases), "every_hours": backup.every_hours,
            "retention_days": backup.retention_days, "recipient": backup.recipient,
        }  # fmt: skip
        """What the parent registers as `BACKUP_OUTPUT` (the contract's keys; no secrets)."""
        self.register_outputs({"bucket": self.bucket.name, "job": self.job.name})
