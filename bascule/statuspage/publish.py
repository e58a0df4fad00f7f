"""Upload a status folder to an S3-compatible bucket (Scaleway Object Storage), each file with its content type and a
short Cache-Control, so a reader (and Edge Services' cache) sees a new state within `cache_seconds`.

boto3 is the SDK (Scaleway documents its Object Storage as an S3-compatible API for any S3 tool:
https://www.scaleway.com/en/docs/faq/objectstorage/); credentials come from where boto3 looks (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY: a Scaleway API key's access and secret keys), never from an option, so no key reaches a shell
history, a log or this module's messages.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bascule.components.status.plugin import BUCKET, MAX_CACHE_SECONDS, StatusSpec
from bascule.io.digest import content_md5
from bascule.io.escaping import quoted

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
"""Types of what a status page holds, named here rather than read from the host's /etc/mime.types, so a published
page is served the same from any machine (a missing `.json` entry would make browsers download status.json)."""
MAX_FILES = 200
MAX_BYTES = 20 * 1024 * 1024
"""A status folder is a page and its data: more than this is the wrong folder (a home directory), not a page."""
LAST = ("status.json", "index.html")
"""Uploaded last, in this order: a reader never gets a page whose data or assets are not there yet."""


class PublishError(Exception):
    """The folder is not a status page, or the store refused it: one line naming the folder, file or bucket."""


@dataclass(frozen=True)
class Target:
    """Where a page goes: a bucket at an S3 endpoint, signed for `region`."""

    bucket: str
    endpoint: str
    region: str

    @classmethod
    def of(cls, status: StatusSpec) -> Target:
        """The bucket the stack's status site serves (`components/status/site.py` names it from the same spec)."""
        return cls(status.bucket_name, status.endpoint, status.region)

    def __post_init__(self) -> None:
        if not BUCKET.fullmatch(self.bucket):
            raise PublishError(f"bucket {quoted(self.bucket)}: not a bucket name (3-63 of a-z, 0-9, -)")


@dataclass(frozen=True)
class Upload:
    key: str
    path: Path
    content_type: str
    size: int


def page_files(folder: Path) -> list[Upload]:
    """What to upload from `folder`, in order: an index.html is required; links and other special files are refused
    (a link could publish a file from outside the folder)."""
    if not (folder / "index.html").is_file():
        raise PublishError(f"{folder}: no index.html: not a status folder (bascule watch --status-dir writes one)")
    found: list[Upload] = []
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise PublishError(f"{path}: a link or special file; a status folder holds plain files only")
        if path.is_dir():
            continue
        if len(found) == MAX_FILES:
            raise PublishError(f"{folder}: more than {MAX_FILES} files: not a status folder")
        size = path.stat().st_size
        total += size
        if total > MAX_BYTES:
            raise PublishError(f"{folder}: more than {MAX_BYTES // (1024 * 1024)} MiB: not a status folder")
        key = path.relative_to(folder).as_posix()
        found.append(Upload(key, path, content_type(path), size))
    return sorted(found, key=lambda u: (LAST.index(u.key) if u.key in LAST else -1, u.key))


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def cache_control(seconds: int) -> str:
    """Public (it is a public page), and fresh for at most a minute: `no-cache` at 0, which browsers revalidate."""
    if not 0 <= seconds <= MAX_CACHE_SECONDS:
        raise PublishError(f"cache seconds {seconds}: must be 0 to {MAX_CACHE_SECONDS}")
    return "no-cache" if seconds == 0 else f"public, max-age={seconds}"


def s3_client(target: Target) -> Any:
    """A boto3 S3 client for the target, with bounded timeouts and retries (a store that does not answer must not
    hold a scheduled job until its own timeout)."""
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError:
        raise PublishError("publishing needs boto3: pip install 'bascule[status]'") from None
    # No checksum of botocore's own: from botocore 1.36 it sends one by default, over https as an aws-chunked
    # trailer, which S3-compatible stores refuse or store verbatim (boto3#4409, boto3#4435; Scaleway:
    # crohr/ebarnouflant#29); `publish` sends Content-MD5 in a header instead, as the backup store does
    # (bascule/backup/store.py). https://docs.aws.amazon.com/sdkref/latest/guide/feature-dataintegrity.html
    config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 4, "mode": "standard"},
                    s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                    response_checksum_validation="when_required")  # fmt: skip
    return boto3.client("s3", endpoint_url=target.endpoint, region_name=target.region, config=config)


def publish(
    folder: Path,
    target: Target,
    cache_seconds: int,
    client: Any = None,
    progress: Callable[[str], None] = lambda line: None,
) -> list[Upload]:
    """Upload every file of the status folder to the target bucket; returns what was uploaded. Files the bucket holds
    that the folder does not are left (a page keeps no history to prune; a key Bascule did not write is not its to
    delete)."""
    files = page_files(folder)
    control = cache_control(cache_seconds)
    client = client if client is not None else s3_client(target)
    from botocore.exceptions import BotoCoreError, ClientError

    for upload in files:
        try:
            body = upload.path.read_bytes()
            client.put_object(Bucket=target.bucket, Key=upload.key, Body=body, ContentType=upload.content_type,
                              CacheControl=control, ContentMD5=content_md5(body))  # fmt: skip
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise PublishError(f"bucket {target.bucket} at {target.endpoint}: {upload.key} refused: "
                               f"{error.get('Code', '?')} {error.get('Message', '')}".rstrip()) from None  # fmt: skip
        except BotoCoreError as exc:  # no credentials, endpoint unreachable, timeouts after the retries
            raise PublishError(f"bucket {target.bucket} at {target.endpoint}: {upload.key}: {exc}") from None
        progress(f"{upload.key} ({upload.content_type}, {upload.size} bytes)")
    return files
