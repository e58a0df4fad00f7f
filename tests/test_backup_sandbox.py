"""Backups for real on loopback: the sandbox's S3 store (moto's server) with a COMPLIANCE-locked bucket, pg_dump of
the standby, age encryption, restore into a fresh database; `verify --local --data` on a stale backup; the restore
drill, passing, and failing on a corrupted and on a missing backup, naming why.

The tests share one sandbox and run in file order: the first one needs the store still empty."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from bascule.backup.backups import TargetExists, freshness, list_backups, restore, take
from bascule.backup.store import LOCK_MODE, MIB, Store
from bascule.cli.app import app
from bascule.sandbox import PRIMARY, Sandbox
from bascule.sandbox.sandbox import STORE_ACCESS_KEY
from tests.conftest import backup_sandbox, need_pdns_and_postgres

pytestmark = pytest.mark.sandbox
runner = CliRunner()

need_pdns_and_postgres()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from backup_sandbox(tmp_path_factory, "backup")


def _take(box: Sandbox, at: datetime | None = None) -> str:
    plan = box.backup_plan()
    clock = (lambda: at) if at is not None else (lambda: datetime.now(UTC))
    taken = take(box.backup_store(), plan.service, box.backup_source(), list(plan.databases), plan.recipient,
                 plan.retention_days, now=clock)  # fmt: skip
    return taken[0].key


def test_verify_local_data_fails_when_the_newest_backup_is_older_than_the_schedule(box: Sandbox) -> None:
    plan = box.backup_plan()
    assert list_backups(box.backup_store(), plan.service, plan.databases[0]).complete == []
    result = runner.invoke(app, ["verify", "--local", "--data", "--sandbox-dir", str(box.dir)])
    assert result.exit_code == 1 and "no complete backup" in result.output
    _take(box, datetime.now(UTC) - timedelta(hours=30))
    result = runner.invoke(app, ["verify", "--local", "--data", "--sandbox-dir", str(box.dir), "--format", "json"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["services"][0]["problems"]
    assert any("newest backup of bascule is 30.0 h old" in p and "every 24 h" in p for p in problems), problems
    _take(box)
    result = runner.invoke(app, ["verify", "--local", "--data", "--sandbox-dir", str(box.dir)])
    assert result.exit_code == 0, result.output


def test_a_backup_restores_into_a_fresh_database_with_the_manifests_rows(box: Sandbox) -> None:
    assert box.state.data is not None and box.state.backup is not None
    with box.state.data.clusters[PRIMARY].connect() as conn:
        conn.execute("INSERT INTO canary (site) SELECT 'primary' FROM generate_series(1, 40)")
    key = _take(box)
    plan, store = box.backup_plan(), box.backup_store()
    newest = list_backups(store, plan.service, "bascule").complete[0]
    assert newest.key == key and newest.row_counts["public.canary"] >= 40
    assert newest.source.startswith("127.0.0.3:") and "password" not in json.dumps(newest.as_json())
    assert freshness(store, plan.service, "bascule", plan.every_hours, box.state.backup.identity).problems == []
    target = box.state.data.clusters[PRIMARY].conninfo(dbname="restored_test")
    restored = restore(store, newest, box.state.backup.identity, target)
    assert restored.mismatches == [] and restored.row_counts == newest.row_counts
    assert restored.verified_rows == sum(newest.row_counts.values())
    with pytest.raises(TargetExists):
        restore(store, newest, box.state.backup.identity, target)
    result = runner.invoke(app, ["backup", "list", "--local", "--sandbox-dir", str(box.dir), "--format", "json"])
    assert result.exit_code == 0 and key in result.stdout


def test_a_locked_backup_cannot_be_deleted_even_by_the_bucket_owner(box: Sandbox) -> None:
    plan, store = box.backup_plan(), box.backup_store()
    newest = list_backups(store, plan.service, "bascule").complete[0]
    mode, until = store.lock_of(newest.key)
    assert mode == LOCK_MODE and until is not None and until > datetime.now(UTC) + timedelta(days=6)
    version = store.client.head_object(Bucket=store.address.bucket, Key=newest.key)["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        store.client.delete_object(Bucket=store.address.bucket, Key=newest.key, VersionId=version)


def test_verify_names_a_backup_whose_lock_has_ended(box: Sandbox) -> None:
    """`backup verify` without the identity reads the lock's retain-until date (HEAD); a clock past it is what
    the store would report once the lock ended, or what an upload whose lock was dropped looks like."""
    plan, store = box.backup_plan(), box.backup_store()
    newest = list_backups(store, plan.service, "bascule").complete[0]
    assert freshness(store, plan.service, "bascule", plan.every_hours).problems == []
    _mode, until = store.lock_of(newest.key)
    assert until is not None
    later = freshness(store, plan.service, "bascule", plan.every_hours, now=lambda: until + timedelta(seconds=1))
    assert any(p.startswith(f"backup {newest.key}: its object lock has ended") for p in later.problems), later


def _drill(box: Sandbox, out: Path) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["drill", "--local", "--data", "--fault", "corruption", "--sandbox-dir", str(box.dir),
                                 "--out", str(out), "--lock-dir", str(out.parent / "locks")])  # fmt: skip
    return result.exit_code, json.loads((out / "report.json").read_text())


def test_the_restore_drill_restores_the_newest_backup_and_counts_what_was_lost(box: Sandbox, tmp_path: Path) -> None:
    code, report = _drill(box, tmp_path / "out")
    assert code == 0, report["reasons"]
    data = report["data"]
    assert isinstance(data, dict)
    assert data["reached_standby"] is True and data["deleted_rows"] > 0
    assert data["writes_lost_since_backup"] == 10 and data["canary_changed_ids"] == []
    assert data["verified_rows"] > 0 and data["restore_s"] > 0 and data["backup_age_s"] >= 0
    assert data["repaired_rows"] == data["canary_rows"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "## Restore from backup" in markdown and "writes lost since the backup | 10" in markdown
    assert "Restore from backup" in (tmp_path / "out" / "report.html").read_text()


def test_a_corrupted_backup_fails_the_drill_naming_the_checksum(box: Sandbox, tmp_path: Path) -> None:
    plan, store = box.backup_plan(), box.backup_store()
    newest = list_backups(store, plan.service, "bascule").complete[0]
    # A later version over the locked one: what a writer with PutObject could do; the manifest's sha256 catches it.
    store.put_locked(newest.key, b"age-encryption.org/v1\nnot a backup", datetime.now(UTC) + timedelta(days=1))
    code, report = _drill(box, tmp_path / "out")
    assert code == 1
    assert any("sha256" in str(r) and "altered or corrupted" in str(r) for r in report["reasons"]), report["reasons"]  # type: ignore[attr-defined]


def test_a_missing_backup_fails_the_drill_naming_it(box: Sandbox, tmp_path: Path) -> None:
    plan, store = box.backup_plan(), box.backup_store()
    newest = list_backups(store, plan.service, "bascule").complete[0]
    store.client.delete_object(Bucket=store.address.bucket, Key=newest.key)  # a delete marker: the key is gone
    code, report = _drill(box, tmp_path / "out")
    assert code == 1
    assert any("missing" in str(r) and newest.key in str(r) for r in report["reasons"]), report["reasons"]  # type: ignore[attr-defined]


def test_a_dump_over_the_threshold_goes_up_in_parts_locked_and_intact(box: Sandbox, tmp_path: Path) -> None:
    """What a dump over 5 GB takes (one PutObject stops there): a multipart upload, here with a 5 MiB threshold
    (the smallest part S3 takes), each part with its Content-MD5 and the COMPLIANCE lock asked for at its creation.

    moto assembles the parts but drops the lock headers of CreateMultipartUpload (its `create_multipart_upload`
    keeps no lock), so the lock is checked on the request that carries it: AWS documents that it applies to the
    object; Scaleway does not document it (unverified). The requests an `https` endpoint gets (no trailer) are
    tests/test_backup_store.py's."""
    plan, base = box.backup_plan(), box.backup_store()
    assert box.state.backup is not None
    store = Store(base.address, STORE_ACCESS_KEY, box.state.backup.secret_key, multipart_threshold=5 * MIB)
    sent: list[tuple[str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        sent.append((request.method, headers))

    store.client.meta.events.register("before-send.s3.*", record)
    payload = os.urandom(12 * MIB)
    dump = tmp_path / "big.dump.age"
    dump.write_bytes(payload)
    key = f"{plan.service}/multipart/20260101T000000Z.dump.age"
    until = datetime.now(UTC) + timedelta(days=2)
    store.put_locked(key, dump, until)
    head = store.client.head_object(Bucket=store.address.bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    create = [h for method, h in sent if method == "POST" and "x-amz-object-lock-mode" in h]
    assert len(create) == 1 and create[0]["x-amz-object-lock-mode"] == LOCK_MODE
    parts = [h for method, h in sent if method == "PUT"]
    assert len(parts) == 3 and all("content-md5" in h and "x-amz-trailer" not in h for h in parts)
    got = tmp_path / "got"
    store.download(key, got)
    assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(payload).digest()
