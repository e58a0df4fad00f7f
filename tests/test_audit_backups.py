"""`bascule audit`'s backups: their age from a saved `backup list|verify --format json`, the last restore drill from
the history (`backup restore --history` of this stack; a sandbox's restore drill is never borrowed), and plain words
when either was not given. Every format; untrusted text escaped as the rest of the audit is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bascule.drills import history
from tests.test_audit import audit, audit_json, by_name


def _history(directory: Path, reports: Path) -> Path:
    """A failover drill and a restore of prod's backup, plus a sandbox restore drill of a same-named service."""
    reports.mkdir(parents=True)
    history.append(directory, {"started": "2026-11-01T10:00:00+00:00", "service": "checkout", "fault": "health",
                               "status": "pass", "rto_seconds": 180, "failover": {"http_s": 58.0},
                               "target": "Pulumi stack prod (/repo), service checkout"}, reports)  # fmt: skip
    history.append_restore(directory, service="checkout", target="Pulumi stack prod backups of checkout in s3://b",
                           backup="checkout/shop/20261102T000000Z.dump.age", status="pass", restore_s=12.5,
                           backup_age_s=7200.0)  # fmt: skip
    history.append(directory, {"started": "2026-12-01T10:00:00+00:00", "service": "checkout", "fault": "corruption",
                               "status": "fail", "rto_seconds": 180, "target": "local sandbox: PowerDNS ...",
                               "data": {"restore_drill": True, "restore_s": 1.0, "backup_age_s": 3.0,
                                        "writes_lost_since_backup": 10, "backup": "k"}}, reports)  # fmt: skip
    return directory


def _listing(path: Path, stack: str | None = "prod", **extra: Any) -> Path:
    """What `bascule backup list --stack prod --service checkout --format json` writes (`bascule/cli/backup.py`)."""
    doc = {"store": "s3://b at https://s3.fr-par.scw.cloud (fr-par)", "stack": stack, "service": "checkout",
           "read_at": "2026-11-02T06:00:00+00:00", "every_hours": 24,
           "databases": {"shop": {"complete": [{"key": "checkout/shop/20261102T000000Z.dump.age", "age_s": 21600.0,
                                                "finished_at": "2026-11-02T00:00:00+00:00"}],
                                  "unfinished": [], "unreadable": []}}, **extra}  # fmt: skip
    path.write_text(json.dumps(doc))
    return path


def test_without_history_or_listing_the_audit_says_what_was_not_read() -> None:
    checkout = by_name(audit_json("--stack", "prod"))["prod/checkout"]
    assert checkout["last_restore"] == {"read": False}
    assert checkout["backup_age"] == {"read": False, "why": "no backup store in this stack"}
    text = audit("--stack", "prod").stdout
    assert "  last restore drill: not read: pass --history DIR (`bascule backup restore --history DIR` records " in text


def test_last_restore_drill_of_this_stack_and_backup_age_from_a_saved_listing(tmp_path: Path) -> None:
    hist = _history(tmp_path / "h", tmp_path / "reports")
    listing = _listing(tmp_path / "backups.json")
    args = ("--stack", "prod", "--stack", "tm", "--history", str(hist), "--backups-status", str(listing))
    ws = by_name(audit_json(*args))
    checkout = ws["prod/checkout"]
    assert checkout["last_drill"]["fault"] == "health"  # a restore measures no failover
    restore = checkout["last_restore"]
    assert (restore["fault"], restore["status"], restore["restore_s"], restore["backup_age_s"]) == (
        "backup-restore", "pass", 12.5, 7200.0)  # fmt: skip
    age = checkout["backup_age"]
    assert age["read"] is True and age["databases"] == [
        {"database": "shop", "finished_at": "2026-11-02T00:00:00+00:00", "age_s": 21600.0}
    ]
    # tm/checkout: same service name, another stack; neither prod's restore nor prod's listing is its.
    assert ws["tm/checkout"]["last_restore"] is None
    assert ws["tm/checkout"]["backup_age"]["read"] is False
    text = audit(*args).stdout
    assert ("  backup age when read 2026-11-02T06:00:00+00:00 (" + str(listing) + "): shop 6.0 h old (every 24 h)\n"
            ) in text  # fmt: skip
    assert "  last restore drill " in text and "PASS (backup-restore): restore 12.5 s, backup 2.0 h old\n" in text
    assert "last restore drill: none recorded for stack tm (`bascule backup restore --stack tm" in text
    markdown = audit(*args, "--format", "markdown").stdout
    assert "- backup age when read 2026-11-02T06:00:00+00:00" in markdown
    assert "PASS (backup\\-restore): restore 12.5 s" in markdown or "PASS (backup-restore): restore 12.5 s" in markdown
    html = audit(*args, "--format", "html").stdout
    assert "<th>backups: where, age, last restore drill</th>" in html and "shop 6.0 h old (every 24 h)" in html


def test_a_verify_file_brings_its_verdict_and_its_text_is_escaped(tmp_path: Path) -> None:
    doc = {"ok": False, "store": "s3://b", "stack": "prod", "service": "checkout", "read_at": "2026-11-03T00:00:00Z",
           "every_hours": 24, "grace_hours": 1.0, "deep": False,
           "problems": ["<img src=x onerror=alert(1)> | [link](http://evil)"],
           "databases": [{"database": "shop", "newest": "k", "finished_at": "2026-11-01T00:00:00Z",
                          "age_s": 172800.0}]}  # fmt: skip
    verify = tmp_path / "verify.json"
    verify.write_text(json.dumps(doc))
    checkout = by_name(audit_json("--stack", "prod", "--backups-status", str(verify)))["prod/checkout"]
    assert checkout["backup_age"]["ok"] is False and checkout["backup_age"]["databases"][0]["age_s"] == 172800.0
    markdown = audit("--stack", "prod", "--backups-status", str(verify), "--format", "markdown").stdout
    assert "<img" not in markdown and "48.0 h old" in markdown
    assert "verify: &lt;img src=x onerror=alert(1)&gt; \\| \\[link\\](http://evil)" in markdown
    html = audit("--stack", "prod", "--backups-status", str(verify), "--format", "html").stdout
    assert "<img" not in html and "&lt;img src=x" in html


def test_a_file_that_is_no_backup_listing_is_refused_naming_it(tmp_path: Path) -> None:
    bad = _listing(tmp_path / "b.json", read_at="yesterday")
    result = audit("--stack", "prod", "--backups-status", str(bad))
    assert result.exit_code == 2 and f"{bad}: read_at: not an ISO 8601 time: 'yesterday'" in result.output
    (tmp_path / "c.json").write_text(json.dumps({"service": "checkout"}))
    result = audit("--stack", "prod", "--backups-status", str(tmp_path / "c.json"))
    assert result.exit_code == 2 and "read_at: missing or not text" in result.output


def test_a_restore_row_without_a_report_is_skipped_not_read_from_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backup restore --history` rows carry `"report": null`: the audit must not read `None/report.json` (nor
    `report.json`) in whatever folder it runs from and present it as the stack's measured RPO."""
    hist = _history(tmp_path / "h", tmp_path / "reports")
    assert history.read(hist)[1]["report"] is None
    for planted in (tmp_path / "None", tmp_path):
        planted.mkdir(exist_ok=True)
        (planted / "report.json").write_text(json.dumps({"data": {"rpo_observed_s": 99.0}}))
    monkeypatch.chdir(tmp_path)
    checkout = by_name(audit_json("--stack", "prod", "--history", str(hist)))["prod/checkout"]
    assert checkout["rpo"]["measured"] is None
    assert checkout["last_restore"]["fault"] == "backup-restore"
