"""`bascule status publish` for real against a local S3-compatible server (moto's server mode on 127.0.0.1, an OS
port), through boto3: every file lands with its content type and a Cache-Control of at most a minute, status.json and
index.html last; a bad folder or target is exit 2 naming the flag, a refusing store exit 1, and no key is echoed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.statuspage.publish import PublishError, Target, page_files, publish
from tests.conftest import STACKS, stack_config

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

KEYS = {"AWS_ACCESS_KEY_ID": "SCWTESTACCESSKEY0000", "AWS_SECRET_ACCESS_KEY": "test-secret-never-printed"}
runner = CliRunner()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A moto S3 server on 127.0.0.1 (port from the OS), its endpoint, and a client of it; stopped after."""
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        # moto keeps its buckets in the process, across servers: each test starts from none.
        host, port = server.get_host_and_port()
        httpx.post(f"http://{host}:{port}/moto-api/reset", timeout=10).raise_for_status()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="fr-par")
        client.create_bucket(Bucket="status-shop-example-com",
                             CreateBucketConfiguration={"LocationConstraint": "fr-par"})  # fmt: skip
        yield endpoint, client
    finally:
        server.stop()


@pytest.fixture
def page(tmp_path: Path) -> Path:
    folder = tmp_path / "status"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html><title>Status</title><p>All systems operational</p>")
    (folder / "status.json").write_text(json.dumps({"state": "healthy"}))
    (folder / "assets" / "style.css").write_text("body { font-family: sans-serif }")
    (folder / "assets" / "chart.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    return folder


def test_publish_uploads_each_file_with_its_type_and_a_short_cache(s3: tuple[str, Any], page: Path) -> None:
    endpoint, client = s3
    result = runner.invoke(app, ["status", "publish", "--dir", str(page), "--bucket", "status-shop-example-com",
                                 "--endpoint", endpoint, "--region", "fr-par", "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [f["key"] for f in report["files"]][-2:] == ["status.json", "index.html"]
    expected = {"index.html": "text/html; charset=utf-8", "status.json": "application/json",
                "assets/style.css": "text/css; charset=utf-8", "assets/chart.svg": "image/svg+xml"}  # fmt: skip
    for key, content_type in expected.items():
        head = client.head_object(Bucket="status-shop-example-com", Key=key)
        assert head["ContentType"] == content_type, key
        assert head["CacheControl"] == "public, max-age=30", key
    body = client.get_object(Bucket="status-shop-example-com", Key="status.json")["Body"].read()
    assert json.loads(body) == {"state": "healthy"}
    assert KEYS["AWS_SECRET_ACCESS_KEY"] not in result.output and KEYS["AWS_ACCESS_KEY_ID"] not in result.output


def test_a_republish_replaces_the_page_and_cache_zero_means_revalidate(s3: tuple[str, Any], page: Path) -> None:
    endpoint, client = s3
    target = Target("status-shop-example-com", endpoint, "fr-par")
    publish(page, target, 30)
    (page / "status.json").write_text(json.dumps({"state": "failed over"}))
    publish(page, target, 0)
    head = client.head_object(Bucket="status-shop-example-com", Key="status.json")
    assert head["CacheControl"] == "no-cache"
    body = client.get_object(Bucket="status-shop-example-com", Key="status.json")["Body"].read()
    assert json.loads(body) == {"state": "failed over"}


def test_the_stack_file_names_the_bucket_and_the_real_entry_point_exits_1_when_the_store_refuses(
    s3: tuple[str, Any], page: Path, tmp_path: Path
) -> None:
    """--stack reads the bucket from the stack file; run as a process, so exit codes are the real ones. The stack's
    bucket exists; a stack naming a bucket that does not is refused by the store: exit 1, the bucket named."""
    endpoint, client = s3
    config = stack_config("status")
    config["bascule:status"]["bucket"] = "no-such-bucket"
    (tmp_path / "Pulumi.gone.yaml").write_text(yaml.safe_dump({"config": config}))
    env = {**os.environ, **KEYS}
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "status", "publish", "--dir", str(page), "--bucket",
                           "no-such-bucket", "--endpoint", endpoint, "--region", "fr-par"],
                          capture_output=True, text=True, timeout=120, env=env, check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bucket no-such-bucket at" in proc.stderr and "NoSuchBucket" in proc.stderr
    assert KEYS["AWS_SECRET_ACCESS_KEY"] not in proc.stdout + proc.stderr
    # The stack file's section is where --stack finds its target (its real endpoint is Scaleway's, not reachable
    # here: the library takes the same Target the CLI builds, pointed at the local server).
    from bascule.spec import load_stack_file, parse_status

    _, spec = load_stack_file(STACKS / "Pulumi.status.yaml")
    status = parse_status(stack_config("status")["bascule:status"], spec, "status")
    assert status is not None
    target = Target.of(status)
    assert (target.bucket, target.endpoint, target.region) == ("status-shop-example-com",
                                                               "https://s3.fr-par.scw.cloud", "fr-par")  # fmt: skip
    publish(page, Target(target.bucket, endpoint, target.region), status.cache_seconds)
    assert client.head_object(Bucket=target.bucket, Key="index.html")["CacheControl"] == "public, max-age=30"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bucket", "Bad_Bucket"], "--bucket 'Bad_Bucket': not a bucket name"),
        (["--endpoint", "ftp://s3.example"], "--endpoint 'ftp://s3.example': an S3 API endpoint"),
        (["--endpoint", "https://key:secret@s3.fr-par.scw.cloud"], "--endpoint: holds credentials"),
        (["--region", "FR PAR"], "--region 'FR PAR': not a region name"),
        (["--cache-seconds", "300"], "--cache-seconds 300: must be 0 to 60"),
        (["--bucket", "status-x"], "--bucket needs --endpoint and --region"),
        ([], "give either --stack NAME"),
        (["--stack", "dev", "--stacks-dir", str(STACKS)], "Pulumi.dev.yaml: no bascule:status section"),
        (["--stack", "status", "--stacks-dir", str(STACKS), "--region", "fr-par"], "--endpoint and --region go with"),
    ],
)
def test_bad_targets_are_one_line_naming_the_flag(page: Path, args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["status", "publish", "--dir", str(page), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "secret" not in result.stderr.replace("--endpoint: holds credentials", "")


def test_a_folder_that_is_not_a_status_page_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match=r"no index\.html"):
        page_files(tmp_path)
    (tmp_path / "index.html").write_text("<title>x</title>")
    outside = tmp_path.parent / "outside-secret.txt"
    outside.write_text("not for publishing")
    (tmp_path / "leak.txt").symlink_to(outside)
    with pytest.raises(PublishError, match="a link or special file"):
        page_files(tmp_path)
    result = runner.invoke(app, ["status", "publish", "--dir", str(tmp_path), "--bucket", "status-x", "--endpoint",
                                 "http://127.0.0.1:9", "--region", "fr-par"])  # fmt: skip
    assert result.exit_code == 2 and "--dir" in result.stderr and "a link or special file" in result.stderr


def test_an_https_publish_sends_content_md5_in_a_header_and_no_checksum_trailer(
    page: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over https boto3 >= 1.36 would put a CRC32 in an aws-chunked trailer, which S3-compatible stores refuse or
    store verbatim; the moto test's endpoint is plain http, where botocore never does, so the requests are built
    for Scaleway's https endpoint and captured before they leave (no network)."""
    import base64
    import hashlib

    from botocore.awsrequest import AWSResponse

    from bascule.statuspage.publish import s3_client

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_SUPPORTED")  # the client's setting wins
    target = Target("status-shop-example-com", "https://s3.fr-par.scw.cloud", "fr-par")
    client = s3_client(target)
    sent: list[tuple[dict[str, str], bytes]] = []

    class Empty:
        def stream(self, **_: Any) -> Any:
            yield b""

    def answer(request: Any, **_: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        sent.append((headers, body))
        return AWSResponse(request.url, 200, {"ETag": '"e"'}, Empty())

    client.meta.events.register("before-send.s3", answer)
    publish(page, target, 30, client=client)
    assert len(sent) == len(page_files(page)) == 4
    for headers, body in sent:
        assert "aws-chunked" not in headers.get("content-encoding", "")
        assert "x-amz-trailer" not in headers and "STREAMING" not in headers.get("x-amz-content-sha256", "")
        assert not [h for h in headers if h.startswith("x-amz-checksum-")], headers
        assert headers["content-md5"] == base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
