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
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOCK_MODE = "COMPLIANCE"
"""Nobody, the job that wrote it included, can delete or overwrite a locked version before its retain-until date."""

MIB = 1 << 20
MULTIPART_THRESHOLD = 64 * MIB
"""A dump larger than this is uploaded in parts: one PutObject takes at most 5 GB
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html), a multipart upload up to 5 TB."""
MAX_PARTS = 1000
"""Scaleway takes 1 to 1000 parts per object, each 5 MB to 5 GB but the last
(https://www.scaleway.com/en/docs/object-storage/api-cli/multipart-uploads/); AWS allows 10 000, so 1000 fits both.
boto3's transfer manager only adjusts the part size to AWS's limit: `part_size` adjusts it to this one."""
CHECKSUM = "CRC32"
"""Sent with every PutObject and UploadPart (x-amz-checksum-crc32): a write with object-lock parameters must carry
Content-MD5 or an x-amz-checksum header, else S3 refuses it ("Content-MD5 OR x-amz-checksum- HTTP header is required
for Put Object requests with Object Lock parameters", quoted in github.com/supabase/storage issue 423; the same rule
for each part of a multipart upload: https://www.ibm.com/docs/en/coss/3.20.1?topic=objects-upload-part-object-lock).
Scaleway supports CRC32, full-object and composite (per part) checksums
(https://www.scaleway.com/en/docs/object-storage/reference-content/supported-checksums/)."""


def part_size(size: int, threshold: int = MULTIPART_THRESHOLD) -> int:
    """The part size for a `size`-byte upload: at least `threshold`, and large enough for `MAX_PARTS` parts, in
    whole MiB (1000 parts of at most 5 GB: about the 5 TB an object may hold)."""
    needed = -(-size // MAX_PARTS)
    return max(threshold, -(-needed // MIB) * MIB)


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

    def __init__(
        self,
        address: StoreAddress,
        access_key: str | None = None,
        secret_key: str | None = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
    ):
        self.address = address
        self.multipart_threshold = multipart_threshold
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
                # boto3's default since 1.36, said here so AWS_REQUEST_CHECKSUM_CALCULATION=when_required in the
                # environment cannot take away the checksum object lock requires (see CHECKSUM).
                request_checksum_calculation="when_supported",
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

    def put_locked(self, key: str, source: Path | bytes, retain_until: datetime) -> None:
        """Upload `source` under `key`, locked in COMPLIANCE mode until `retain_until`, with a CRC32 checksum.

        A file larger than `multipart_threshold` goes up in parts through boto3's managed transfer, the lock set when
        the upload is created (CreateMultipartUpload takes the same object-lock headers as PutObject). The job's
        credentials may PutObject only (multipart included), never read, list or abort: a failed multipart upload
        is left to the bucket's lifecycle rule, which aborts it after a day (components/data/backup.py)."""
        lock = {"ObjectLockMode": LOCK_MODE, "ObjectLockRetainUntilDate": retain_until}
        try:
            if isinstance(source, bytes):
                self.client.put_object(Bucket=self.address.bucket, Key=key, Body=source, ChecksumAlgorithm=CHECKSUM,
                                       **lock)  # fmt: skip
                return
            size = source.stat().st_size
            config = TransferConfig(multipart_threshold=self.multipart_threshold, max_concurrency=4,
                                    multipart_chunksize=part_size(size, self.multipart_threshold))  # fmt: skip
            self.client.upload_file(str(source), self.address.bucket, key, Config=config,
                                    ExtraArgs={**lock, "ChecksumAlgorithm": CHECKSUM})  # fmt: skip
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
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
