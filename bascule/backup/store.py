"""The object store backups live in: any S3-compatible API (Scaleway, OVHcloud, Hetzner, the sandbox's), via boto3.

Every dump is written with an object-lock retention in COMPLIANCE mode: "prevents users, including owners and users
with administrative permissions, from deleting or overwriting objects during the specified retention period. The
retention mode cannot be modified, and the retention period cannot be shortened"
(https://www.scaleway.com/en/docs/object-storage/how-to/use-object-lock/; the same semantics on AWS:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-overview.html). A bucket with object lock is
versioned, so a later PUT of the same key adds a version and the locked one stays readable by its version id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOCK_MODE = "COMPLIANCE"
"""Nobody, the job that wrote it included, can delete or overwrite a locked version before its retain-until date."""


class StoreError(Exception):
    """The store could not be reached or refused a request; the message names the bucket, the key and why."""


class MissingObject(StoreError):
    """The key does not exist (or its newest version is a delete marker)."""


@dataclass(frozen=True)
class StoreAddress:
    """Where the bucket is: endpoint URL, region, bucket name. Credentials are not part of it: boto3 reads them
    from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` unless the caller passes them (the sandbox does)."""

    endpoint: str
    region: str
    bucket: str

    def describe(self) -> str:
        return f"s3://{self.bucket} at {self.endpoint} ({self.region})"


def _message(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '') or exc}".rstrip(": ")
    return " ".join(str(exc).split()) or type(exc).__name__


class Store:
    """One bucket. Path-style addressing: the S3-compatible providers accept it and a loopback endpoint needs it."""

    def __init__(self, address: StoreAddress, access_key: str | None = None, secret_key: str | None = None):
        self.address = address
        credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key} if access_key else {}
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=address.endpoint,
            region_name=address.region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=120,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
            **credentials,
        )

    def where(self, key: str = "") -> str:
        return f"s3://{self.address.bucket}/{key}"

    def create_locked_bucket(self) -> None:
        """The bucket with object lock enabled (which enables versioning); only the sandbox and tests make one here,
        a stack's bucket is its component's."""
        try:
            self.client.create_bucket(
                Bucket=self.address.bucket,
                CreateBucketConfiguration={"LocationConstraint": self.address.region},
                ObjectLockEnabledForBucket=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{self.where()}: cannot create the bucket: {_message(exc)}") from exc

    def put_locked(self, key: str, source: Path | bytes, retain_until: datetime) -> str:
        """Upload `source` under `key`, locked in COMPLIANCE mode until `retain_until`; returns its version id."""
        lock = {"ObjectLockMode": LOCK_MODE, "ObjectLockRetainUntilDate": retain_until}
        try:
            if isinstance(source, bytes):
                response = self.client.put_object(Bucket=self.address.bucket, Key=key, Body=source, **lock)
                return str(response.get("VersionId") or "")
            with source.open("rb") as body:
                response = self.client.put_object(Bucket=self.address.bucket, Key=key, Body=body, **lock)
            return str(response.get("VersionId") or "")
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StoreError(f"{self.where(key)}: upload failed: {_message(exc)}") from exc

    def keys(self, prefix: str) -> Iterator[tuple[str, datetime, int]]:
        """(key, last modified, size) of every current object under `prefix`."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.address.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"]), item["LastModified"], int(item["Size"])
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{self.where(prefix)}: cannot list: {_message(exc)}") from exc

    def get_bytes(self, key: str, limit: int) -> bytes:
        """A small object (a manifest), read whole; `StoreError` if larger than `limit` bytes."""
        try:
            response = self.client.get_object(Bucket=self.address.bucket, Key=key)
            body = response["Body"].read(limit + 1)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(key, exc) from exc
        if len(body) > limit:
            raise StoreError(f"{self.where(key)}: larger than {limit} bytes")
        return bytes(body)

    def download(self, key: str, target: Path) -> None:
        try:
            self.client.download_file(self.address.bucket, key, str(target))
        except (ClientError, BotoCoreError, OSError) as exc:
            raise self._error(key, exc) from exc

    def lock_of(self, key: str) -> tuple[str | None, datetime | None]:
        """The current version's lock mode and retain-until date, as the store reports them (HEAD)."""
        try:
            head = self.client.head_object(Bucket=self.address.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(key, exc) from exc
        return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")

    def _error(self, key: str, exc: Exception) -> StoreError:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        if code in ("NoSuchKey", "404", "NotFound"):
            return MissingObject(f"{self.where(key)}: the object is missing")
        return StoreError(f"{self.where(key)}: {_message(exc)}")
