"""Backups without servers: the manifest and the stack output are read strictly, the restore drill's report is
derived from its journal (pass and each way to fail), and the commands refuse bad input naming the flag."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from bascule.backup.backups import SCHEMA, BackupError, Manifest, dump_key, manifest_key
from bascule.backup.state import OUTPUT, BackupStateError, plans_from_state
from bascule.cli.app import app
from bascule.drills.report import render_markdown, summarize

runner = CliRunner()

MANIFEST = {"schema": SCHEMA, "service": "checkout", "database": "app", "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:01:00+00:00", "source": "10.0.0.5:5432", "size_bytes": 10, "sha256": "ab",
            "row_counts": {"public.orders": 3}, "pg_dump_version": "pg_dump 15", "recipient": "age1x"}  # fmt: skip
OUTPUT_VALUE = {"provider": "scaleway", "legal_home": "FR", "endpoint": "https://s3.fr-par.scw.cloud",
                "region": "fr-par", "bucket": "b", "service": "checkout", "databases": ["app"], "every_hours": 24,
                "retention_days": 30, "recipient": "age1x"}  # fmt: skip


def test_a_manifest_is_read_strictly() -> None:
    manifest = Manifest.parse(MANIFEST, "m", "checkout/app/20260101T000000Z.dump.age")
    assert manifest.row_counts == {"public.orders": 3} and manifest.as_json()["schema"] == SCHEMA
    assert manifest_key(dump_key("checkout", "app", "20260101T000000Z")) == "checkout/app/20260101T000000Z.json"
    with pytest.raises(BackupError, match=r"not a bascule\.backup/v1 manifest"):
        Manifest.parse({**MANIFEST, "schema": "other"}, "m", "k")
    with pytest.raises(BackupError, match="manifest field 'sha256'"):
        Manifest.parse({k: v for k, v in MANIFEST.items() if k != "sha256"}, "m", "k")
    with pytest.raises(BackupError, match="row_counts"):
        Manifest.parse({**MANIFEST, "row_counts": {"t": "many"}}, "m", "k")


def test_the_stack_output_is_found_anywhere_and_read_strictly() -> None:
    resources = [{"type": "bascule:data:Backup", "outputs": {OUTPUT: OUTPUT_VALUE}}, {"type": "x", "outputs": {}}]
    (plan,) = plans_from_state(resources, "prod")
    assert plan.address.bucket == "b" and plan.databases == ("app",) and plan.every_hours == 24.0
    # Every number crosses Pulumi's protobuf Struct as a double: a whole one is a number of days, a fraction is not.
    (plan,) = plans_from_state([{"outputs": {OUTPUT: {**OUTPUT_VALUE, "retention_days": 30.0}}}], "prod")
    assert plan.retention_days == 30
    with pytest.raises(BackupStateError, match=r"bascule_backup\.retention_days: unexpected float"):
        plans_from_state([{"outputs": {OUTPUT: {**OUTPUT_VALUE, "retention_days": 30.5}}}], "prod")
    with pytest.raises(BackupStateError, match="no resource registers a bascule_backup output for service 'other'"):
        plans_from_state(resources, "prod", "other")
    broken = [{"outputs": {OUTPUT: {**OUTPUT_VALUE, "bucket": None}}}]
    with pytest.raises(BackupStateError, match="stack 'prod': bascule_backup has no 'bucket'"):
        plans_from_state(broken, "prod")


def _journal(**overrides: Any) -> list[dict[str, Any]]:
    target = {"service": "checkout", "hostname": "checkout.sandbox.test", "description": "sandbox", "resolvers": [],
              "failover_bound_seconds": 3}  # fmt: skip
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("plan", {"plan": {"target": target, "fault": "corruption", "rto_seconds": 15, "timeout_seconds": 30}}),
        ("backup", {"key": "k.dump.age", "finished_at": "x", "size_bytes": 4000, "row_counts": {"public.canary": 5}}),
        ("inject", {"fault": "corruption"}),
        ("injected", {"deleted_rows": 15, "backup_age_s": 12.5}),
        ("replicated", {"standby_rows": 0, "reached": True, "after_s": 0.02}),
        ("backup-restored", {"restore_s": 0.4, "row_counts": {"public.canary": 5}, "mismatches": [],
                             "verified_rows": 5, "canary_rows": 5, "canary_changed_ids": [], "lost_ids": [6, 7]}),
        ("repaired", {"rows": 5}),
        ("end", {}),
    ]  # fmt: skip
    events = []
    for seq, (kind, data) in enumerate(kinds):
        if kind in overrides:
            if overrides[kind] is None:
                continue
            kind, data = overrides[kind]
        events.append({"seq": seq, "t": float(seq), "wall": f"2026-01-01T00:00:0{seq}Z", "kind": kind, **data})
    return events


def test_a_restore_drill_report_says_age_restore_time_lost_writes_and_verified_rows() -> None:
    summary = summarize(_journal())
    assert summary["status"] == "pass" and summary["exit_code"] == 0
    data = summary["data"]
    assert (data["backup_age_s"], data["restore_s"], data["writes_lost_since_backup"], data["verified_rows"]) == (
        12.5, 0.4, 2, 5)  # fmt: skip
    markdown = render_markdown(summary)
    assert "## Restore from backup" in markdown and "| writes lost since the backup | 2 |" in markdown
    assert "## Measured" not in markdown


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"backup-restored": ("backup-restore-failed", {"error": "backup k: sha256 1… differs"})}, "restore failed: backup k: sha256"),
        ({"replicated": ("replicated", {"standby_rows": 15, "reached": False, "after_s": 15})}, "never reached the standby"),
        ({"end": None}, "ended before its last step"),
    ],
)  # fmt: skip
def test_a_restore_drill_fails_naming_why(overrides: dict[str, Any], reason: str) -> None:
    summary = summarize(_journal(**overrides))
    assert summary["status"] == "fail" and summary["exit_code"] == 1
    assert any(reason in r for r in summary["reasons"]), summary["reasons"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["drill", "--stack", "prod", "--service", "x", "--fault", "corruption"], "--fault corruption"),
        (["drill", "--local", "--fault", "corruption"], "--local --data"),
        (["backup", "take"], "--service, --store-endpoint, --store-region, --bucket, --recipient"),
        (["backup", "list"], "choose one target"),
        (["backup", "take", "--retention-days", "0", "--local"], "--retention-days"),
        (["backup", "restore", "--to", "x", "--local", "--stack", "s"], "choose one target"),
    ],
)
def test_bad_input_is_refused_naming_the_flag(args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASCULE_BACKUP_SERVICE", "BASCULE_BACKUP_ENDPOINT", "BASCULE_BACKUP_BUCKET", "BASCULE_BACKUP_DATABASES",
                 "BASCULE_BACKUP_RECIPIENT", "BASCULE_BACKUP_REGION", "BASCULE_BACKUP_RETENTION_DAYS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output
