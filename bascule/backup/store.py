"""The object store backups live in: an S3-compatible API via boto3; written for Scaleway (the stack's component)
and the sandbox's moto. Other S3-compatible stores (OVHcloud, Hetzner) are untested: nothing here was checked
against their part limits, their object lock on multipart uploads or the checksum headers they take.

Every dump is written with an object-lock retention in COMPLIANCE mode: "prevents users, including owners and users
with administrative permissions, from deleting or overwriting objects during the specified retention period. The
retention mode cannot be modified, and the retention period cannot be shortened"
(https://www.scaleway.com/en/docs/object-storage/how-to/use-object-lock/; the same semantics on AWS:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-overview.html). A bucket with object lock is
versioned, so a later PUT of the same key adds a version and the locked one stays readable by its version id.

Integrity: every PutObject and UploadPart carries `Content-MD5`, computed here before the request, in a header. A write
with object-lock parameters must carry one: AWS documents "The Content-MD5 or x-amz-sdk-checksum-algorithm header is
required for any request to upload an object with a retention period configured using Amazon S3 Object Lock" (botocore's
S3 model, PutObjectRequest.ContentMD5) and, for parts, "Content-MD5 OR x-amz-checksum- HTTP header is required for Put
Part requests with Object Lock parameters" (AWS's error, quoted in github.com/s3tools/s3cmd issue 1436); Scaleway does
not document the rule (unverified). MD5 rather than a CRC: the most widely taken with object lock (Scality was reported
to accept only MD5 there: github.com/pgbackrest/pgbackrest pull 2615). Never a checksum trailer: boto3 >= 1.36 by
default sends PutObject and UploadPart bodies over https as `Content-Encoding: aws-chunked` with an `x-amz-trailer`
checksum (botocore/httpchecksum.py, `resolve_request_checksum_algorithm`). Scaleway was reported in 2023 to store an
aws-chunked body (SigV4 streaming) verbatim, chunk framing included (github.com/crohr/ebarnouflant issue 29); other
stores refuse trailers or mis-store them (github.com/boto/boto3 issues 4409, 4435). The client asks for checksums only
"when_required"; no S3 operation used here requires one (their `httpChecksum.requestChecksumRequired` is false in
botocore's model), so botocore adds none of its own: `Content-MD5` is the request's only checksum, and downloads are
checked against the manifest's sha256 instead of the store's response checksum.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from s3transfer.utils import ReadFileChunk

from bascule.io.digest import content_md5

LOCK_MODE = "COMPLIANCE"
"""Nobody, the job that wrote it included, can delete or overwrite a locked version before its retain-until date."""

MIB = 1 << 20
MULTIPART_THRESHOLD = 64 * MIB
"""A dump of this size or more is uploaded in parts: one PutObject takes at most 5 GB
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html), a multipart upload up to 5 TB."""
MAX_PARTS = 1000
"""Scaleway takes "1 to 1000 parts per object", "5 MB to 5 GB per part (except for the last one)", and "Each
object stores up to 5 TB" (https://www.scaleway.com/en/docs/object-storage/api-cli/multipart-uploads/); AWS allows
10 000 parts of 5 MiB to 5 GiB, so 1000 fits both."""
MAX_PART_SIZE = 5 * 10**9 // MIB * MIB
"""5 GB read as 10^9 bytes (Scaleway writes "GB"), in whole MiB: a part this large fits either reading of it."""
MAX_OBJECT_SIZE = MAX_PARTS * MAX_PART_SIZE
"""The largest dump `put_locked` takes, refused before any request: about 5.0 TB (10^12), within Scaleway's "5 TB"
in either reading. Without the check, Scaleway would refuse part 1001 only after some 5 TB had gone up."""

log = logging.getLogger(__name__)


def part_size(size: int, threshold: int = MULTIPART_THRESHOLD) -> int:
    """The part size for a `size`-byte upload: at least `threshold`, and large enough for `MAX_PARTS` parts, in
    whole MiB. Above `MAX_OBJECT_SIZE` it exceeds `MAX_PART_SIZE`: `put_locked` refuses such a file first."""
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
    if isinstance(exc, NoCredentialsError):  # botocore's words name no variable: say which ones are read
        return f"{exc}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the store's access key and secret key)"
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
                # No checksum of botocore's own, so none in a trailer (see the module's docstring): `put_locked`
                # sends Content-MD5 itself. These options arrived in botocore 1.36 (hence boto3>=1.36 in pyproject);
                # https://docs.aws.amazon.com/sdkref/latest/guide/feature-dataintegrity.html
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
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
        """Upload `source` under `key`, locked in COMPLIANCE mode until `retain_until`, each request with its
        Content-MD5 (see the module's docstring).

        A file of `multipart_threshold` bytes or more goes up in parts (`_put_in_parts`), the lock asked for when the
        upload is created: AWS documents the object-lock headers on CreateMultipartUpload as on PutObject ("Specifies
        the Object Lock mode that you want to apply to the uploaded object", botocore's S3 model,
        CreateMultipartUploadRequest); Scaleway does not document them there (unverified: its object-lock page covers
        the bucket's configuration and PutObjectRetention only). The bucket's default COMPLIANCE retention is the
        backstop (components/data/backup.py), and `backup verify` checks the lock each newest backup carries. A file
        over `MAX_OBJECT_SIZE` is refused before any request."""
        lock = {"ObjectLockMode": LOCK_MODE, "ObjectLockRetainUntilDate": retain_until}
        target = {"Bucket": self.address.bucket, "Key": key}
        try:
            if isinstance(source, bytes):
                self.client.put_object(**target, Body=source, ContentMD5=content_md5(source), **lock)
                return
            size = source.stat().st_size
            if size > MAX_OBJECT_SIZE:
                raise StoreError(f"{self.where(key)}: {source} is {size} bytes, more than the {MAX_OBJECT_SIZE} an "
                                 f"upload of {MAX_PARTS} parts of at most {MAX_PART_SIZE} bytes holds")  # fmt: skip
            if size < self.multipart_threshold:
                with source.open("rb") as body:
                    self.client.put_object(**target, Body=body, ContentMD5=content_md5(body), **lock)
                return
            self._put_in_parts(target, source, size, lock)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StoreError(f"{self.where(key)}: upload failed: {_message(exc)}") from exc

    def _put_in_parts(self, target: dict[str, str], source: Path, size: int, lock: dict[str, Any]) -> None:
        """CreateMultipartUpload with the lock, one UploadPart after another, each streamed from the file with its
        Content-MD5 (the file is read a block at a time, never whole), then CompleteMultipartUpload with the parts'
        ETags. On a failure, AbortMultipartUpload is attempted and its own failure only logged: the job's
        credentials may not abort (components/data/backup.py), and the bucket's lifecycle rule aborts what is left
        after a day, so the upload's error is the one raised."""
        upload = self.client.create_multipart_upload(**target, **lock)["UploadId"]
        step = part_size(size, self.multipart_threshold)
        try:
            parts = []
            for number, start in enumerate(range(0, size, step), start=1):
                with ReadFileChunk.from_filename(str(source), start, step, enable_callbacks=False) as body:
                    response = self.client.upload_part(**target, UploadId=upload, PartNumber=number, Body=body,
                                                       ContentMD5=content_md5(body))  # fmt: skip
                if not response.get("ETag"):
                    raise StoreError(f"{self.where(target['Key'])}: part {number} was answered without an ETag")
                parts.append({"ETag": response["ETag"], "PartNumber": number})
            self.client.complete_multipart_upload(**target, UploadId=upload, MultipartUpload={"Parts": parts})
        except Exception:  # any failure (an unexpected answer too): the parts uploaded so far are not left behind
            try:
                self.client.abort_multipart_upload(**target, UploadId=upload)
            except (ClientError, BotoCoreError) as exc:
                log.warning("%s: the failed multipart upload %s was not aborted (%s); the bucket's lifecycle rule "
                            "aborts it after a day", self.where(target["Key"]), upload, _message(exc))  # fmt: skip
            raise

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
