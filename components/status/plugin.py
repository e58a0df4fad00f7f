"""The stack's `bascule:status` section: where the status page is served, and where `bascule watch` runs on a schedule.

No Pulumi and no SDK import: the loader, `bascule check`, `bascule plan` and `bascule status publish` read this model
for free; `site.py` beside it declares the resources.

Scaleway, because the page must stay up when the primary's cloud is down (on 20 October 2025 hosted status pages in
us-east-1 could not be updated), Scaleway is an EU provider (legal home in `bascule/facts.py`), its Object Storage is
S3-compatible (so `bascule status publish` uses boto3), and its Edge Services serve a bucket website on a hostname of
the team's own with a Let's Encrypt certificate it manages and renews
(https://www.scaleway.com/en/docs/edge-services/how-to/configure-custom-domain/, scaleway/docs-content
pages/edge-services/how-to/configure-custom-domain.mdx). Azure Storage and Google Cloud Storage websites take a
custom hostname over HTTPS only behind a CDN or load balancer of their own; Scaleway's one pipeline does both.
"""

# pyright: reportIncompatibleVariableOverride=false

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bascule.facts import Cloud
from bascule.io.escaping import quoted
from bascule.spec.base import Image, Model, check_region, is_hostname

CLOUD = Cloud.SCALEWAY
"""The provider of the status site and of the watch job: a stack whose primary runs there is refused."""

BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
"""A bucket name, with `fullmatch`: 3 to 63 characters (S3's rule, https://docs.aws.amazon.com/AmazonS3/latest/
userguide/bucketnamingrules.html; Scaleway implements the S3 API) of lowercase letters, digits and hyphens. No dots:
Scaleway's virtual-host endpoint `https://<bucket>.s3.<region>.scw.cloud` has a wildcard certificate that does not
cover a dotted name (https://www.scaleway.com/en/docs/faq/objectstorage/, "Is there a limitation in the bucket
name?"). Bucket names are unique across all Scaleway customers: a taken one fails at `pulumi up`."""

MAX_CACHE_SECONDS = 60
"""The page must update within a minute during an incident: no copy (browser or Edge Services cache) may be older."""

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
"""An environment variable a job's secret is given as (POSIX portable names, upper case)."""

STACK = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""A Pulumi stack name as the job's shell command repeats it (Pulumi's own characters: letters, digits, _ . -)."""

JOB_NAME_MAX = 63
"""Characters of a job definition's name Bascule derives (`bascule-watch-<bucket>`); Scaleway documents none, so
Bascule keeps it to a DNS label's length."""


def default_bucket(hostname: str) -> str:
    """The bucket Bascule names for a status hostname when the spec names none: its labels joined by hyphens."""
    return hostname.replace(".", "-")


class WatchJobSpec(Model):
    """A Scaleway Serverless Job that runs `bascule watch --once` on a cron schedule and publishes the page.

    Away from the primary's cloud, so it keeps watching when that cloud is down; cron runs at most once a minute
    (https://www.scaleway.com/en/docs/serverless/jobs/reference-content/cron-schedules/)."""

    image: Image
    """The team's image with Bascule installed (`pip install 'bascule[status]'`, plus the extras of its stacks)."""
    stack: str
    """The stack `bascule watch --stack` reads."""
    schedule: str = "*/5 * * * *"
    timezone: str = "Etc/UTC"
    notify_env: str | None = None
    """The environment variable (one of `secrets`) holding the `--notify` target URL: a webhook URL holds a token,
    so it comes from Secret Manager, never from the stack file."""
    secrets: dict[str, str] = Field(default_factory=dict, max_length=20)
    """Environment variable -> Scaleway Secret Manager secret id ("region/uuid" or "uuid"): the Object Storage keys
    `publish` needs (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, as boto3 reads them), the notify URL, the Pulumi
    backend's token."""
    cpu_limit: int = Field(default=1000, ge=70, le=6000)
    """mvCPU."""
    memory_limit: int = Field(default=1024, ge=128, le=12288)
    """MB."""
    timeout_minutes: int = Field(default=10, ge=1, le=60)

    @field_validator("stack")
    @classmethod
    def _stack(cls, v: str) -> str:
        if not STACK.fullmatch(v):
            raise ValueError(f"{quoted(v)} is not a stack name (1-100 of A-Z, a-z, 0-9, '_', '.', '-')")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        fields = v.split(" ")
        if len(fields) != 5 or not all(re.fullmatch(r"[0-9A-Za-z*/,-]{1,40}", f) for f in fields):
            raise ValueError(f"{quoted(v)} is not a five-field cron schedule (e.g. '*/5 * * * *')")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_]{1,32}(/[A-Za-z0-9_+-]{1,32}){0,2}", v):
            raise ValueError(f"{quoted(v)} is not a tz database name (e.g. Europe/Paris)")
        return v

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v: dict[str, str]) -> dict[str, str]:
        for name, secret in v.items():
            if not ENV_NAME.fullmatch(name):
                raise ValueError(f"{quoted(name)} is not an environment variable name (A-Z, 0-9, _)")
            if not re.fullmatch(r"([a-z]{2}-[a-z]{3}/)?[0-9a-f-]{36}", secret):
                raise ValueError(f"{name}: {quoted(secret)} is not a Secret Manager secret id (uuid or region/uuid)")
        return v

    @model_validator(mode="after")
    def _notify_is_a_secret(self) -> WatchJobSpec:
        if self.notify_env is not None and self.notify_env not in self.secrets:
            raise ValueError(f"notify_env: {quoted(self.notify_env)} is not one of secrets ({', '.join(self.secrets)})")
        return self


class StatusSpec(Model):
    """Where the status page is served (and, with `watch`, where `bascule watch` runs): the stack's `bascule:status`."""

    provider: Literal["scaleway"] = "scaleway"
    region: str
    hostname: str
    """The page's own hostname, e.g. status.example.com: a CNAME to the Edge Services endpoint (Bascule outputs it)."""
    bucket: str | None = None
    """The bucket's name; by default the hostname with its dots as hyphens."""
    project_id: str | None = None
    cache_seconds: int = Field(default=30, ge=0, le=MAX_CACHE_SECONDS)
    """How long browsers and Edge Services may keep a copy of the page (its Cache-Control max-age)."""
    watch: WatchJobSpec | None = None

    @property
    def cloud(self) -> Cloud:
        return CLOUD

    @property
    def bucket_name(self) -> str:
        return self.bucket if self.bucket is not None else default_bucket(self.hostname)

    @property
    def endpoint(self) -> str:
        """The S3 API endpoint of the bucket's region (https://www.scaleway.com/en/docs/storage/object/concepts/,
        "Endpoint": path style `https://s3.<region>.scw.cloud/<bucket>`)."""
        return f"https://s3.{self.region}.scw.cloud"

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return check_region(CLOUD, v)

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if not is_hostname(v):
            raise ValueError(f"{quoted(v)} is not a lowercase DNS hostname (e.g. status.example.com)")
        return v

    @model_validator(mode="after")
    def _bucket(self) -> StatusSpec:
        name = self.bucket_name
        if not BUCKET.fullmatch(name):
            where = "bucket" if self.bucket is not None else "bucket (derived from hostname; set one)"
            raise ValueError(f"{where}: {quoted(name)} must be 3-63 lowercase letters, digits or hyphens, starting "
                             "and ending with a letter or digit")  # fmt: skip
        if self.watch is not None and len(f"bascule-watch-{name}") > JOB_NAME_MAX:
            raise ValueError(f"bucket: {quoted(name)} is too long for the watch job's name (bascule-watch-<bucket>, "
                             f"at most {JOB_NAME_MAX} characters): set a shorter bucket")  # fmt: skip
        return self
