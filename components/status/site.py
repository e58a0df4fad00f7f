"""The status site on Scaleway: a private bucket with the website feature, served by an Edge Services pipeline on the
page's own hostname with a managed Let's Encrypt certificate, and, when the spec asks, a Serverless Job that runs
`bascule watch --once` on a schedule and publishes the page there.

Each resource cites the Scaleway documentation it rests on. What Pulumi cannot do: Edge Services needs a subscription
(https://www.scaleway.com/en/docs/edge-services/how-to/subscribe-edge-services/), taken once per Organization, and
the CNAME from the hostname to `cname_target` is the zone owner's (the primary's DNS must not carry the status page's
fate: a zone at another provider is best)."""

from __future__ import annotations

import shlex

import pulumi
import pulumiverse_scaleway as scaleway

from bascule.components.status.plugin import StatusSpec, WatchJobSpec

STATUS_TYPE = "bascule:status:StatusSite"
WORK_DIR = "/tmp/bascule-status"
"""Where the job's `watch` writes the page before `publish` uploads it (the job's ephemeral storage)."""


def job_script(status: StatusSpec, watch: WatchJobSpec) -> str:
    """The job's shell command: watch once, publish the page whatever watch found, and exit with watch's code, so a
    degraded service fails the run (visible in Cockpit) while the page still says so."""
    notify = f' --notify "${{{watch.notify_env}}}"' if watch.notify_env else ""
    watch_cmd = f"bascule watch --stack {shlex.quote(watch.stack)} --once --status-dir {WORK_DIR}{notify}"
    publish = (f"bascule status publish --dir {WORK_DIR} --bucket {status.bucket_name} --endpoint {status.endpoint} "
               f"--region {status.region} --cache-seconds {status.cache_seconds}")  # fmt: skip
    return f"{watch_cmd}; rc=$?; {publish} || exit 70; exit $rc"


class StatusSite(pulumi.ComponentResource):
    """The stack's status page, away from its primaries' cloud. Outputs: `url`, `bucket`, `endpoint` (S3 API, for
    `bascule status publish`), `cname_target` (where the hostname's CNAME points)."""

    def __init__(self, name: str, status: StatusSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__(STATUS_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Private: the page is read through Edge Services, which reads a bucket website's objects without making
        # them public ("in the case that you are using Edge Services with bucket website, objects can remain
        # private", scaleway/docs-content pages/edge-services/how-to/create-pipeline-bucket.mdx).
        # https://www.scaleway.com/en/docs/object-storage/how-to/create-a-bucket/
        bucket = scaleway.object.Bucket(
            f"{name}-bucket",
            name=status.bucket_name,
            region=status.region,
            project_id=status.project_id,
            tags={"bascule:role": "status"},
            opts=child,
        )
        # The website feature serves index.html for "/" (the suffix must not be empty or hold a slash: the SDK's
        # BucketWebsiteConfigurationIndexDocumentArgs). https://www.scaleway.com/en/docs/object-storage/how-to/use-bucket-website/
        website = scaleway.object.BucketWebsiteConfiguration(
            f"{name}-website",
            bucket=bucket.name,
            index_document={"suffix": "index.html"},
            region=status.region,
            project_id=status.project_id,
            opts=child,
        )
        # The pipeline chain of the SDK's "Complete pipeline" example (pulumiverse_scaleway/edgeservices/pipeline.py),
        # without the WAF and route stages a static page does not need: DNS -> TLS -> cache -> backend (the bucket).
        # https://www.scaleway.com/en/docs/edge-services/how-to/create-pipeline-bucket/
        pipeline = scaleway.edgeservices.Pipeline(
            f"{name}-pipeline",
            name=f"bascule-status-{status.bucket_name}",
            description=f"Bascule status page {status.hostname}",
            project_id=status.project_id,
            opts=child,
        )
        backend = scaleway.edgeservices.BackendStage(
            f"{name}-backend",
            pipeline_id=pipeline.id,
            s3_backend_config={"bucket_name": bucket.name, "bucket_region": status.region, "is_website": True},
            project_id=status.project_id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[website]),
        )
        # An object's own Cache-Control (`publish` sets max-age=cache_seconds) takes precedence over the stage's
        # lifetime; the lifetime bounds anything uploaded without one
        # (https://www.scaleway.com/en/docs/edge-services/how-to/configure-cache/, "How to use Cache-Control").
        cache = scaleway.edgeservices.CacheStage(
            f"{name}-cache",
            pipeline_id=pipeline.id,
            backend_stage_id=backend.id,
            fallback_ttl=status.cache_seconds,
            project_id=status.project_id,
            opts=child,
        )
        # A Let's Encrypt certificate Scaleway generates and renews for the custom domain
        # (https://www.scaleway.com/en/docs/edge-services/how-to/configure-custom-domain/, step 6).
        tls = scaleway.edgeservices.TlsStage(
            f"{name}-tls",
            pipeline_id=pipeline.id,
            cache_stage_id=cache.id,
            managed_certificate=True,
            project_id=status.project_id,
            opts=child,
        )
        dns = scaleway.edgeservices.DnsStage(
            f"{name}-dns",
            pipeline_id=pipeline.id,
            tls_stage_id=tls.id,
            fqdns=[status.hostname],
            project_id=status.project_id,
            opts=child,
        )
        scaleway.edgeservices.HeadStage(f"{name}-head", pipeline_id=pipeline.id, head_stage_id=dns.id, opts=child)
        if status.watch is not None:
            self._watch_job(name, status, status.watch, child)

        self.url = f"https://{status.hostname}/"
        self.bucket = bucket.name
        self.endpoint = status.endpoint
        self.cname_target = dns.default_fqdn
        self.register_outputs(
            {"url": self.url, "bucket": self.bucket, "endpoint": self.endpoint, "cname_target": self.cname_target}
        )

    @staticmethod
    def _watch_job(name: str, status: StatusSpec, watch: WatchJobSpec, child: pulumi.ResourceOptions) -> None:
        # A job definition with a cron schedule: Scaleway starts a run at each tick, at most every minute
        # (https://www.scaleway.com/en/docs/serverless/jobs/reference-content/cron-schedules/). `args` of a
        # startup command may use environment variables and secrets, expanded before the run
        # (https://www.scaleway.com/en/developers/api/serverless-jobs/job-definitions); a shell runs both commands.
        scaleway.job.Definition(
            f"{name}-watch",
            name=f"bascule-watch-{status.bucket_name}",
            description=f"bascule watch --once for {watch.stack}, published to {status.hostname}",
            image_uri=watch.image,
            cpu_limit=watch.cpu_limit,
            memory_limit=watch.memory_limit,
            local_storage_capacity=1000,
            startup_commands=["/bin/sh", "-c"],
            args=[job_script(status, watch)],
            cron={"schedule": watch.schedule, "timezone": watch.timezone},
            timeout=f"{watch.timeout_minutes}m",
            secret_references=[{"secret_id": secret, "environment": env} for env, secret in watch.secrets.items()],
            region=status.region,
            project_id=status.project_id,
            opts=child,
        )
