"""The requests the backup store sends to an `https` endpoint, as botocore builds them, captured before they leave.

Over `https` boto3 >= 1.36 would put a checksum in an `aws-chunked` trailer (botocore/httpchecksum.py), which some
S3-compatible stores refuse or store verbatim; the sandbox's endpoint is plain `http`, where botocore never does,
so only a request built for `https` shows it. A `before-send` hook records each prepared request (headers and the
body it would stream) and answers with a canned response: no network. moto's round trip (upload, download, sha256)
is in tests/test_backup_sandbox.py."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from bascule.backup.store import (
    LOCK_MODE,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIB,
    MULTIPART_THRESHOLD,
    Store,
    StoreAddress,
    StoreError,
    part_size,
)

ENDPOINT = "https://s3.fr-par.scw.cloud"
UNTIL = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Sent:
    operation: str
    headers: dict[str, str]
    body: bytes


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


class FakeS3:
    """Records every request the store's client would send and answers it as S3 would; `deny` names operations
    answered with 403 AccessDenied (`UploadPart#2`: the second part only)."""

    def __init__(self, store: Store, deny: tuple[str, ...] = (), no_etag: tuple[str, ...] = ()):
        self.sent: list[Sent] = []
        self.deny = deny
        self.no_etag = no_etag
        store.client.meta.events.register("before-send.s3", self.answer)

    def answer(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        body = request.body
        data = b"" if body is None else bytes(body) if isinstance(body, bytes | bytearray) else body.read()
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        self.sent.append(Sent(operation, headers, data))
        number = len([s for s in self.sent if s.operation == operation])
        if operation in self.deny or f"{operation}#{number}" in self.deny:
            error = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            return AWSResponse(request.url, 403, {}, _Raw(error))
        if operation == "CreateMultipartUpload":
            xml = b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>"
            return AWSResponse(request.url, 200, {}, _Raw(xml))
        if operation == "CompleteMultipartUpload":
            xml = b'<CompleteMultipartUploadResult><ETag>"whole-3"</ETag></CompleteMultipartUploadResult>'
            return AWSResponse(request.url, 200, {}, _Raw(xml))
        if f"{operation}#{number}" in self.no_etag:
            return AWSResponse(request.url, 200, {}, _Raw(b""))
        return AWSResponse(request.url, 200, {"ETag": f'"etag-{number}"'}, _Raw(b""))

    def of(self, operation: str) -> list[Sent]:
        return [s for s in self.sent if s.operation == operation]


def _store(threshold: int = 5 * MIB) -> Store:
    return Store(StoreAddress(ENDPOINT, "fr-par", "backups"), "SCWEXAMPLE", "secret", multipart_threshold=threshold)


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _no_trailer_and_one_checksum(sent: Sent) -> None:
    """No aws-chunked body, no trailer, no streaming signature, and no checksum of botocore's beside Content-MD5."""
    h = sent.headers
    assert "aws-chunked" not in h.get("content-encoding", ""), sent
    assert "x-amz-trailer" not in h and "x-amz-decoded-content-length" not in h, sent
    assert not h.get("x-amz-content-sha256", "").startswith("STREAMING"), sent
    assert not any(k.startswith("x-amz-checksum-") or k == "x-amz-sdk-checksum-algorithm" for k in h), sent


def test_a_multipart_upload_sends_content_md5_on_each_part_and_the_lock_on_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment cannot bring trailers back: the client's own setting wins over it.
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_SUPPORTED")
    store = _store()
    fake = FakeS3(store)
    payload = os.urandom(12 * MIB + 17)
    dump = tmp_path / "dump.age"
    dump.write_bytes(payload)
    store.put_locked("svc/db/1.dump.age", dump, UNTIL)
    assert [s.operation for s in fake.sent] == ["CreateMultipartUpload", "UploadPart", "UploadPart", "UploadPart",
                                                "CompleteMultipartUpload"]  # fmt: skip
    for sent in fake.sent:
        _no_trailer_and_one_checksum(sent)
    create = fake.of("CreateMultipartUpload")[0].headers
    assert create["x-amz-object-lock-mode"] == LOCK_MODE
    assert create["x-amz-object-lock-retain-until-date"] == "2031-01-02T03:04:05Z"
    parts = fake.of("UploadPart")
    step = 5 * MIB
    assert [p.body for p in parts] == [payload[:step], payload[step : 2 * step], payload[2 * step :]]
    for part in parts:  # the header is the digest of the very bytes sent
        assert part.headers["content-md5"] == _md5(part.body)
        assert part.headers["content-length"] == str(len(part.body))
    complete = ET.fromstring(fake.of("CompleteMultipartUpload")[0].body)
    listed = [(p.findtext("{*}PartNumber"), p.findtext("{*}ETag")) for p in complete.findall("{*}Part")]
    assert listed == [("1", '"etag-1"'), ("2", '"etag-2"'), ("3", '"etag-3"')]


def test_a_small_file_and_a_manifest_go_up_in_one_put_with_content_md5_and_the_lock(tmp_path: Path) -> None:
    store = _store()
    fake = FakeS3(store)
    small = tmp_path / "small.dump.age"
    small.write_bytes(os.urandom(5 * MIB - 1))  # just under the threshold
    store.put_locked("svc/db/1.dump.age", small, UNTIL)
    store.put_locked("svc/db/1.json", b'{"schema": "bascule.backup/v1"}', UNTIL)
    assert [s.operation for s in fake.sent] == ["PutObject", "PutObject"]
    for sent, expected in zip(fake.sent, (small.read_bytes(), b'{"schema": "bascule.backup/v1"}'), strict=True):
        _no_trailer_and_one_checksum(sent)
        assert sent.body == expected and sent.headers["content-md5"] == _md5(expected)
        assert sent.headers["x-amz-object-lock-mode"] == LOCK_MODE
        assert sent.headers["x-amz-object-lock-retain-until-date"] == "2031-01-02T03:04:05Z"


def test_a_failed_part_aborts_the_upload_logs_a_refused_abort_and_raises_the_parts_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store()
    fake = FakeS3(store, deny=("UploadPart#2", "AbortMultipartUpload"))
    dump = tmp_path / "dump.age"
    dump.write_bytes(os.urandom(11 * MIB))
    with caplog.at_level(logging.WARNING, logger="bascule.backup.store"), pytest.raises(StoreError) as raised:
        store.put_locked("svc/db/1.dump.age", dump, UNTIL)
    assert str(raised.value).startswith("s3://backups/svc/db/1.dump.age: upload failed: AccessDenied")
    assert [s.operation for s in fake.sent] == ["CreateMultipartUpload", "UploadPart", "UploadPart",
                                                "AbortMultipartUpload"]  # fmt: skip
    assert "up-1" in caplog.text and "not aborted" in caplog.text and "lifecycle" in caplog.text


def test_a_part_answered_without_an_etag_aborts_the_upload_and_says_which_part(tmp_path: Path) -> None:
    """An answer botocore accepts but the upload cannot use is a store error naming the part, not a crash, and the
    parts already sent are aborted as for a refused one."""
    store = _store()
    fake = FakeS3(store, no_etag=("UploadPart#2",))
    dump = tmp_path / "dump.age"
    dump.write_bytes(os.urandom(11 * MIB))
    with pytest.raises(StoreError, match=r"^s3://backups/svc/db/1.dump.age: part 2 was answered without an ETag$"):
        store.put_locked("svc/db/1.dump.age", dump, UNTIL)
    assert [s.operation for s in fake.sent] == ["CreateMultipartUpload", "UploadPart", "UploadPart",
                                                "AbortMultipartUpload"]  # fmt: skip


def test_a_dump_too_large_for_a_thousand_parts_is_refused_before_any_request(tmp_path: Path) -> None:
    store = _store(MULTIPART_THRESHOLD)
    fake = FakeS3(store)
    huge = tmp_path / "huge.dump.age"
    with huge.open("wb") as f:  # sparse: no disk used
        f.truncate(MAX_OBJECT_SIZE + 1)
    with pytest.raises(StoreError, match=r"more than the \d+ an upload of 1000 parts of at most \d+ bytes holds"):
        store.put_locked("svc/db/1.dump.age", huge, UNTIL)
    assert fake.sent == []


def test_part_size_keeps_within_a_thousand_parts_of_at_most_5_gb() -> None:
    assert part_size(10 * MIB) == MULTIPART_THRESHOLD
    assert part_size(6 * 1024**3) == MULTIPART_THRESHOLD  # 96 parts
    assert part_size(100 * 1024**3) == 103 * MIB  # 995 parts: over 1000 at the threshold's 64 MiB
    for size in (6 * 1024**3, 100 * 1024**3, 1024**4, MAX_OBJECT_SIZE):
        assert -(-size // part_size(size)) <= MAX_PARTS and part_size(size) % MIB == 0
    assert part_size(MAX_OBJECT_SIZE) == MAX_PART_SIZE <= 5 * 10**9
