"""`bascule status publish`: upload the status folder `bascule watch` writes to the stack's status site."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from bascule.cli.common import (
    FormatTextJson,
    Quiet,
    StacksDir,
    TextOrJson,
    emit_json,
    fail,
    input_folder,
    out,
    say,
)
from bascule.components.status.plugin import BUCKET, MAX_CACHE_SECONDS
from bascule.io.escaping import quoted
from bascule.spec import STATUS_KEY, SpecError, load_stack_file, parse_status
from bascule.statuspage.publish import PublishError, Target, page_files, publish

app = typer.Typer(help="The status page, served away from the primary's cloud (docs/watch.md).", no_args_is_help=True)


def _bucket(value: str | None) -> str | None:
    if value is not None and not BUCKET.fullmatch(value):
        fail([f"--bucket {quoted(value)}: not a bucket name (3-63 of a-z, 0-9, -, starting and ending alphanumeric)"])
    return value


def _endpoint(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        fail([f"--endpoint {quoted(value)}: not a URL"])
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/"):
        fail([f"--endpoint {quoted(value)}: an S3 API endpoint, e.g. https://s3.fr-par.scw.cloud (no path)"])
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        fail(["--endpoint: holds credentials, a query or a fragment; keys come from AWS_ACCESS_KEY_ID and "
              "AWS_SECRET_ACCESS_KEY, never from the command line"])  # fmt: skip
    del port
    return value.rstrip("/")


def _region(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", value):
        fail([f"--region {quoted(value)}: not a region name (e.g. fr-par)"])
    return value


def _cache(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= MAX_CACHE_SECONDS:
        fail([f"--cache-seconds {value}: must be 0 to {MAX_CACHE_SECONDS} (the page must update within a minute)"])
    return value


@app.command("publish")
def publish_command(
    folder: Annotated[
        Path,
        typer.Option("--dir", callback=input_folder("--dir"), help="The status folder (bascule watch --status-dir)."),
    ],
    stack: Annotated[
        str | None,
        typer.Option("--stack", "-s", help=f"Publish to this stack's status site ({STATUS_KEY} in its stack file)."),
    ] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", callback=_bucket, help="Or: this bucket...")] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", callback=_endpoint, help="...at this S3 API endpoint...")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", callback=_region, help="...in this region.")] = None,
    cache_seconds: Annotated[
        int | None,
        typer.Option(
            "--cache-seconds", callback=_cache, help="Cache-Control max-age, 0-60 (default: the stack's, 30)."
        ),
    ] = None,
    stacks_dir: StacksDir = Path("stacks"),
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Upload the status folder to the status site's bucket: every file with its content type and a Cache-Control
    of at most a minute, status.json and index.html last. Keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    (a Scaleway API key's), as boto3 reads them.

    Examples:
      bascule status publish --dir status --stack prod
      bascule status publish --dir status --bucket status-example-com --endpoint https://s3.fr-par.scw.cloud \\
        --region fr-par
    """
    if not folder.is_dir():
        fail([f"--dir {folder}: no such folder"])
    if (stack is None) == (bucket is None):
        fail(["give either --stack NAME (its stack file's status site) or --bucket with --endpoint and --region"])
    if stack is not None:
        if endpoint is not None or region is not None:
            fail(["--endpoint and --region go with --bucket; --stack reads them from the stack file"])
        path = stacks_dir / f"Pulumi.{stack}.yaml"
        try:
            config, spec = load_stack_file(path)
            status = parse_status(config.get(STATUS_KEY), spec, str(path))
        except SpecError as exc:
            fail(exc.lines)
        if status is None:
            fail([f"{path}: no {STATUS_KEY} section: this stack has no status site"])
        target, seconds = Target.of(status), status.cache_seconds
    else:
        if endpoint is None or region is None:
            fail(["--bucket needs --endpoint and --region"])
        assert bucket is not None
        target, seconds = Target(bucket, endpoint, region), 30
    seconds = cache_seconds if cache_seconds is not None else seconds
    try:
        page_files(folder)
    except PublishError as exc:
        fail([f"--dir {exc}"])
    try:
        uploaded = publish(folder, target, seconds, progress=lambda line: say(f"uploaded {line}"))
    except PublishError as exc:
        fail([str(exc)], code=1)
    if output_format is TextOrJson.JSON:
        files = [{"key": u.key, "content_type": u.content_type, "bytes": u.size} for u in uploaded]
        emit_json({"bucket": target.bucket, "endpoint": target.endpoint, "cache_seconds": seconds, "files": files})
    else:
        out.print(f"published {len(uploaded)} files to {target.bucket} at {target.endpoint}", highlight=False)
