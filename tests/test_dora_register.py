"""The DORA register CSVs, column by column, against the column lists of Implementing Regulation (EU) 2024/2956.

The expected lists are written out here from the cited sources (README, "DORA register"), not imported from
`bascule.audit.dora`, so a renumbered or dropped column in the code fails these tests.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from bascule import facts
from bascule.cli.app import app
from bascule.drills import history
from tests.conftest import STACKS

runner = CliRunner()

B_05_01 = [f"c{n:04d}" for n in range(10, 130, 10)]  # c0010 .. c0120
B_02_02 = [f"c{n:04d}" for n in range(10, 190, 10)]  # c0010 .. c0180
B_06_01 = [f"c{n:04d}" for n in range(10, 110, 10)]  # c0010 .. c0100
B_07_01 = [f"c{n:04d}" for n in range(10, 130, 10)]  # c0010 .. c0120
EU_MEMBER_STATES = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
                    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}  # fmt: skip
ISO_3166_ALPHA_2 = frozenset(EU_MEMBER_STATES | {"IS", "LI", "NO"} | {"GB", "CH", "US", "CA", "JP"})
"""ISO 3166-1 alpha-2 codes, written out here: a country column must hold one of these, never `EU` or `ASIA`."""


def register(tmp_path: Path, *stacks: str, extra: tuple[str, ...] = ()) -> tuple[dict[str, list[dict[str, str]]], str]:
    out = tmp_path / "register"
    args = [a for s in stacks for a in ("--stack", s)]
    result = runner.invoke(app, ["audit", *args, *extra, "--dora-register", str(out), "--stacks-dir", str(STACKS)])
    assert result.exit_code == 0, result.output
    files = {}
    for name, columns in (("b_05.01", B_05_01), ("b_02.02", B_02_02), ("b_06.01", B_06_01), ("b_07.01", B_07_01)):
        with (out / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            assert next(reader) == columns, name
            files[name] = [dict(zip(columns, row, strict=True)) for row in reader]
    return files, result.stderr


def _lei_check_digits_hold(lei: str) -> bool:
    """ISO 17442 LEIs carry ISO 7064 MOD 97-10 check digits: letters as 10..35, the number mod 97 is 1."""
    return len(lei) == 20 and int("".join(str(int(c, 36)) for c in lei)) % 97 == 1


def export_register(tmp_path: Path, resources: list[dict[str, Any]], *extra: str) -> tuple[Path, Result]:
    """`bascule audit --export` of a stack export holding `resources`, writing the register to `register/`."""
    export = tmp_path / "state.json"
    export.write_text(json.dumps({"version": 3, "deployment": {"resources": resources}}))
    out = tmp_path / "register"
    result = runner.invoke(app, ["audit", "--export", str(export), "--dora-register", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out, result


def table(out: Path, name: str) -> list[dict[str, str]]:
    with (out / f"{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def empty_except(rows: list[dict[str, str]], filled: set[str]) -> None:
    for row in rows:
        assert {code for code, value in row.items() if value} <= filled, row


def test_prod_register_column_by_column(tmp_path: Path) -> None:
    files, output = register(tmp_path, "prod")

    providers = files["b_05.01"]
    # The contracting entity (name, headquarters) depends on the contract: never the US parent, left empty.
    empty_except(providers, {"c0070", "c0110", "c0120"})
    assert [(r["c0070"], r["c0110"], r["c0120"]) for r in providers] == [
        ("legal person", "ZXTILKJKG63JELOEG630", "LEI"),  # aws: ultimate parent Amazon.com, Inc.
        ("legal person", "5493006MHB84DD0ZWV18", "LEI"),  # gcp: ultimate parent Alphabet Inc.
    ]
    assert all(_lei_check_digits_hold(r["c0110"]) for r in providers)

    functions = files["b_06.01"]
    empty_except(functions, {"c0010", "c0030", "c0050", "c0080", "c0090"})
    assert [(r["c0010"], r["c0030"], r["c0050"], r["c0080"], r["c0090"]) for r in functions] == [
        ("F1", "prod/catalog", "Yes", "1", "1"),  # tagged important: DORA's "critical or important function"
        ("F2", "prod/checkout", "Yes", "1", "1"),  # RTO 180 s, RPO 30 s: under an hour is reported as 1
        ("F3", "prod/newsletter", "No", "1", "1"),  # tagged standard: explicitly not critical
    ]

    arrangements = files["b_02.02"]
    # c0160 (management of the data) is not necessarily where the region is: never filled.
    empty_except(arrangements, {"c0050", "c0130", "c0140", "c0150"})
    assert [(r["c0050"], r["c0130"]) for r in arrangements] == [
        ("F1", "IE"), ("F1", "NL"), ("F2", "DE"), ("F2", "DE"), ("F3", "IE"), ("F3", "BE"),
    ]  # fmt: skip
    assert all(r["c0130"] in ISO_3166_ALPHA_2 for r in arrangements)
    # No data store in the stack: Bascule does not claim where data is at rest, nor that none is stored.
    assert all(r["c0140"] == "" and r["c0150"] == "" for r in arrangements)
    assert {r["c0050"] for r in arrangements} <= {r["c0010"] for r in functions}

    assessments = files["b_07.01"]
    empty_except(assessments, {"c0050", "c0110", "c0120"})  # never c0080: a drill is no documented exit plan
    # One row per provider (aws: catalog and checkout; gcp: the same two), no drill: medium for both.
    assert [(r["c0050"], r["c0110"], r["c0120"]) for r in assessments] == [
        ("medium complexity in terms of substitutability", "Yes", "Google LLC"),
        ("medium complexity in terms of substitutability", "Yes", "Amazon Web Services, Inc."),
    ]

    rows = (tmp_path / "register" / "rows.csv").read_text().splitlines()
    assert "b_02.02.csv,4,prod/checkout at gcp in DE" in rows
    assert (
        'b_05.01.csv,1,"provider aws: contracting entity for an EEA customer likely Amazon Web Services EMEA '
        "SARL (LU), by the account's country (check the contract; https://aws.amazon.com/legal/aws-contracting-"
        'party/); brand company Amazon Web Services, Inc. (US); ultimate parent Amazon.com, Inc. (US)"'
    ) in rows
    # The command names every column it leaves empty.
    for unfilled in ("B_05.01 c0010", "B_02.02 c0010", "B_02.02 c0060", "B_06.01 c0040", "B_07.01 c0090"):
        assert unfilled in " ".join(output.split())  # the console wraps lines anywhere


def _portal_drill(tmp_path: Path, stack: str) -> Path:
    report = tmp_path / "report"
    report.mkdir(exist_ok=True)
    summary = {"started": "2026-11-20T10:00:00+00:00", "service": "portal", "fault": "health", "status": "pass",
               "rto_seconds": 180, "target": f"Pulumi stack {stack} (/repo), service portal", "failover": {"http_s": 40.0}}  # fmt: skip
    history.append(tmp_path / "history", summary, report)
    return tmp_path / "history"


def test_a_drill_of_the_stack_shows_only_its_primary_provider_easily_substitutable(tmp_path: Path) -> None:
    files, _ = register(tmp_path, "sovereign", extra=("--history", str(_portal_drill(tmp_path, "sovereign"))))
    # Traffic left the AWS primary in the drill; nobody drilled leaving the Scaleway secondary.
    assert [(r["c0050"], r["c0080"], r["c0110"], r["c0120"]) for r in files["b_07.01"]] == [
        ("easily substitutable", "", "Yes", "Scaleway SAS"),
        ("medium complexity in terms of substitutability", "", "Yes", "Amazon Web Services, Inc."),
    ]
    assert [(r["c0050"], r["c0080"], r["c0110"]) for r in files["b_05.01"]] == [
        ("", "", "ZXTILKJKG63JELOEG630"),
        ("", "", ""),  # Scaleway: the iliad group's LEI was not sourced, so none is written
    ]
    rows = (tmp_path / "register" / "rows.csv").read_text()
    assert "likely Scaleway SAS (FR)" in rows and "ultimate parent iliad group (FR), its LEI not sourced here" in rows


def test_a_drill_of_another_stack_with_the_same_service_name_proves_nothing(tmp_path: Path) -> None:
    files, _ = register(tmp_path, "sovereign", extra=("--history", str(_portal_drill(tmp_path, "staging"))))
    assert {r["c0050"] for r in files["b_07.01"]} == {"medium complexity in terms of substitutability"}


def test_a_provider_row_takes_its_most_conservative_workload(tmp_path: Path) -> None:
    """AWS carries prod/catalog, prod/checkout (not drilled: medium) and sovereign/portal (drilled: easily)."""
    history_dir = _portal_drill(tmp_path, "sovereign")
    files, _ = register(tmp_path, "prod", "sovereign", extra=("--history", str(history_dir)))
    assert [(r["c0050"], r["c0110"], r["c0120"]) for r in files["b_07.01"]] == [
        ("medium complexity in terms of substitutability", "Yes", "Google LLC; Scaleway SAS"),  # aws
        ("medium complexity in terms of substitutability", "Yes", "Amazon Web Services, Inc."),  # gcp
        ("medium complexity in terms of substitutability", "Yes", "Amazon Web Services, Inc."),  # scaleway
    ]
    rows = (tmp_path / "register" / "rows.csv").read_text()
    assert "sovereign/portal easily substitutable, alternatives: Scaleway SAS" in rows


def test_single_provider_workload_has_no_alternative(tmp_path: Path) -> None:
    files, _ = register(tmp_path, "single-region")
    assert [(r["c0050"], r["c0080"], r["c0110"], r["c0120"]) for r in files["b_07.01"]] == [
        ("highly complex substitutability", "", "", "")
    ]


def test_data_store_fills_storage_and_location_at_rest(tmp_path: Path) -> None:
    """A stack export with a managed database: B_02.02 says data is stored, and in which country."""
    bucket = {
        "urn": "urn:pulumi:prod::app::aws:rds/instance:Instance::ledger-db", "custom": True,
        "type": "aws:rds/instance:Instance", "id": "db-1",
        "inputs": {"region": "eu-west-3", "tags": {"bascule:service": "ledger", "bascule:criticality": "critical",
                                                  "bascule:rto-seconds": "600", "bascule:rpo-seconds": "7200"}},
    }  # fmt: skip
    app_site = {**bucket, "urn": "urn:pulumi:prod::app::aws:ecs/service:Service::ledger-app",
                "type": "aws:ecs/service:Service", "id": "svc-1"}  # fmt: skip
    out, result = export_register(tmp_path, [bucket, app_site], "--format", "json")
    (w,) = json.loads(result.stdout)["workloads"]
    assert [s["code"] for s in w["spofs"]] == ["one-region", "one-provider", "data-one-provider", "no-health-check"]
    assert w["data_locations"] == ["aws eu-west-3 (FR)"]
    (row,) = table(out, "b_02.02")
    assert (row["c0050"], row["c0130"], row["c0140"], row["c0150"], row["c0160"]) == ("F1", "FR", "Yes", "FR", "")
    (function,) = table(out, "b_06.01")
    assert (function["c0080"], function["c0090"]) == ("1", "2")  # 600 s -> 1 h; 7200 s -> 2 h


def test_rto_rpo_are_whole_hours_rounded_up_and_zero_when_not_defined(tmp_path: Path) -> None:
    """Annex I, B_06.01.0080/0090: natural numbers of hours, '1' below an hour, '0' when not defined."""
    site = {
        "urn": "urn:pulumi:prod::app::aws:ecs/service:Service::ledger-app", "custom": True,
        "type": "aws:ecs/service:Service", "id": "svc-1",
        "inputs": {"region": "eu-west-3", "tags": {"bascule:service": "ledger", "bascule:criticality": "critical",
                                                  "bascule:rto-seconds": "3601"}},
    }  # fmt: skip
    # Two more workloads: one with no criticality tag, one with a value Bascule cannot map to DORA's test.
    untagged = {
        **site,
        "urn": site["urn"] + "-b",
        "inputs": {"region": "eu-west-3", "tags": {"bascule:service": "batch"}},
    }
    custom = {**site, "urn": site["urn"] + "-r",
              "inputs": {"region": "eu-west-3", "tags": {"bascule:service": "report", "bascule:criticality": "high"}}}  # fmt: skip
    out, _ = export_register(tmp_path, [site, untagged, custom])
    assert [(f["c0030"], f["c0050"], f["c0080"], f["c0090"]) for f in table(out, "b_06.01")] == [
        ("prod/batch", "", "0", "0"),  # no criticality tag: not assessed by Bascule, neither Yes nor No
        ("prod/ledger", "Yes", "2", "0"),  # 3601 s is 2 started hours; no RPO tag
        ("prod/report", "", "0", "0"),  # `high` is no value Bascule knows: left to the entity
    ]
    assert len(table(out, "b_07.01")) == 1  # only the critical workload is assessed


def test_every_sourced_parent_lei_has_valid_check_digits() -> None:
    leis = [home.parent_lei for home in facts.LEGAL_HOMES.values() if home.parent_lei]
    assert len(leis) == 4 and all(_lei_check_digits_hold(lei) for lei in leis)


def test_multi_region_buckets_give_a_row_per_named_member_country_or_none(tmp_path: Path) -> None:
    """GCS `EUR4` is Finland + Netherlands (a row each); `EU` names no countries (empty, and rows.csv says so)."""
    labels = {"workload": "ledger", "criticality": "critical"}
    buckets = [
        {"urn": f"urn:pulumi:prod::app::gcp:storage/bucket:Bucket::{name}", "custom": True,
         "type": "gcp:storage/bucket:Bucket", "id": name, "inputs": {"location": location, "labels": labels}}
        for name, location in (("archive", "EUR4"), ("media", "EU"))
    ]  # fmt: skip
    out, _ = export_register(tmp_path, buckets)
    rows = table(out, "b_02.02")
    assert [(r["c0130"], r["c0140"], r["c0150"], r["c0160"]) for r in rows] == [
        ("", "Yes", "", ""), ("FI", "Yes", "FI", ""), ("NL", "Yes", "NL", ""),
    ]  # fmt: skip
    assert all(r["c0130"] in ISO_3166_ALPHA_2 for r in rows if r["c0130"])
    keys = (out / "rows.csv").read_text()
    assert "prod/ledger at gcp in eu, a multi-region whose countries the provider does not name" in keys
