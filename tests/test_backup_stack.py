"""`bascule backup list|verify|restore --stack S` and `verify --stack S --data` against a real store, through the CLI.

The stack is faked as tests/test_stack_drills.py fakes one: a stand-in `pulumi` on PATH answers the Automation API's
`stack export`. Its state holds the `bascule_backup` output the real program registers for the example data stack
(stacks/Pulumi.data.yaml, run offline), deployed onto the sandbox as `DEPLOYED_AT` puts the sites on loopback: the
Scaleway bucket the program names is the sandbox's moto S3 store (`bascule sandbox up --data --backups`), reached
with the credentials the commands read from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

The tests share one sandbox and run in file order: the first one needs the store still empty."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bascule.backup.backups import take
from bascule.components.program import main as program
from bascule.offline.engine import run_offline
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox
from bascule.sandbox.sandbox import STORE_ACCESS_KEY
from bascule.spec import SERVICES_KEY
from bascule.spec.data import BACKUP_OUTPUT, STANDBY_TYPE
from tests.conftest import backup_sandbox, need_pdns_and_postgres, stack_config, standby_resource, wait_until
from tests.test_stack_drills import SandboxStack, _fake_pulumi

pytestmark = pytest.mark.sandbox

need_pdns_and_postgres()

STACK = "drill"
BASCULE = [sys.executable, "-m", "bascule.cli"]


def deployed_backup_output(box: Sandbox) -> dict[str, Any]:
    """What the real program registers as `bascule_backup` for the example data stack, with the sandbox's database
    and age recipient in its config (the sandbox holds the identity), then deployed onto the sandbox's store."""
    plan = box.backup_plan()
    services = stack_config("data")[SERVICES_KEY]
    (service,) = services
    assert service["name"] == plan.service
    service["data"]["databases"] = list(plan.databases)
    service["data"]["backup"]["recipient"] = plan.recipient
    run = run_offline(program, {SERVICES_KEY: services}, stack=STACK)
    (standby,) = [r for r in run.resources if r.type == STANDBY_TYPE]
    output = json.loads(json.dumps(standby.outputs[BACKUP_OUTPUT]))  # as `pulumi stack export` prints it
    assert (output["provider"], output["endpoint"], output["region"]) == ("scaleway", "https://s3.fr-par.scw.cloud",
                                                                          "fr-par")  # fmt: skip
    address = plan.address
    return {**output, "endpoint": address.endpoint, "region": address.region, "bucket": address.bucket}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from backup_sandbox(tmp_path_factory, "backup-stack")


class Deployed:
    """The fake stack's project folder and the environment `bascule` runs in: the stand-in `pulumi` first on PATH,
    the store's credentials under boto3's standard names and nothing else of AWS's or of the backup job's."""

    def __init__(self, box: Sandbox, folder: Path):
        standby = standby_resource(box, stack=STACK)
        standby["outputs"][BACKUP_OUTPUT] = deployed_backup_output(box)
        self.state = SandboxStack(box, extra=[standby]).state
        self.folder = folder
        env = _fake_pulumi(folder, self.state)
        env = {k: v for k, v in env.items() if not k.startswith(("AWS_", "BASCULE_BACKUP_"))}
        assert box.state.backup is not None
        self.secret_key = box.state.backup.secret_key
        self.env = {**env, "AWS_ACCESS_KEY_ID": STORE_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                    "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
                    "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials")}  # fmt: skip
        self.identity = folder / "backup.agekey"
        self.identity.write_text(box.state.backup.identity + "\n")
        self.identity.chmod(0o600)
        self.box = box

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*BASCULE, *args], capture_output=True, text=True, env={**self.env, **(env or {})},
                              timeout=120, check=False)  # fmt: skip
        assert self.secret_key not in proc.stdout + proc.stderr
        return proc

    def backup(self, command: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("backup", command, "--stack", STACK, "--cwd", str(self.folder), *extra, env=env)

    def verify_data(self) -> subprocess.CompletedProcess[str]:
        """`verify --stack S --data`: the sites, DNS, the data standby and the backups, all the sandbox's."""
        box = self.box
        assert wait_until(lambda: box.resolve("checkout.sandbox.test") == ["127.0.0.2"], 30)
        return self.run("verify", "--stack", STACK, "--cwd", str(self.folder), "--data", "--no-authoritative",
                        "--resolver", f"127.0.0.1:{box.state.dns_port}", "--ca-bundle", str(box.state.pki.ca),
                        "--lock-dir", str(self.folder / "locks"), "--format", "json")  # fmt: skip


@pytest.fixture(scope="module")
def stack(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    return Deployed(box, tmp_path_factory.mktemp("stack"))


def test_verify_stack_fails_on_no_backup_and_on_a_stale_one_naming_its_age(box: Sandbox, stack: Deployed) -> None:
    empty = stack.backup("verify", "--format", "json")
    assert empty.returncode == 1, empty.stdout + empty.stderr
    assert "no complete backup of bascule in s3://bascule-backups" in empty.stderr
    assert json.loads(empty.stdout)["databases"] == [{"database": "bascule", "newest": None, "finished_at": None,
                                                      "age_s": None}]  # fmt: skip
    plan = box.backup_plan()
    stale_at = datetime.now(UTC) - timedelta(hours=30)
    take(box.backup_store(), plan.service, box.backup_source(), list(plan.databases), plan.recipient,
         plan.retention_days, now=lambda: stale_at)  # fmt: skip
    stale = stack.backup("verify", "--format", "json")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    document = json.loads(stale.stdout)
    assert document["stack"] == STACK and document["every_hours"] == 24 and document["deep"] is False
    (problem,) = document["problems"]
    assert problem.startswith("newest backup of bascule is 30.0 h old") and "every 24 h + 1 h grace" in problem

    readiness = stack.verify_data()
    assert readiness.returncode == 1, readiness.stdout + readiness.stderr
    (service,) = json.loads(readiness.stdout)["services"]
    assert [p for p in service["problems"] if "backup" in p] == [f"data: backup: {problem}"]
    assert service["problems"] == [f"data: backup: {problem}"], "only the backup is wrong: sites and standby are fine"
    (checked,) = service["backups"]
    assert checked["database"] == "bascule" and checked["age_s"] >= 30 * 3600 and checked["every_hours"] == 24


def canary_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM canary").fetchone()
    assert row is not None
    return int(row[0])


def test_take_list_and_verify_through_the_stack(box: Sandbox, stack: Deployed) -> None:
    data = box.state.data
    assert data is not None
    with data.clusters[PRIMARY].connect() as conn:
        conn.execute("INSERT INTO canary (site) SELECT 'primary' FROM generate_series(1, 40)")
    assert wait_until(lambda: canary_rows(data.clusters[SECONDARY].conninfo()) >= 40, 30)  # replicated
    taken = stack.backup("take", "--format", "json", env={"BASCULE_BACKUP_SOURCE_DSN": box.backup_source()})
    assert taken.returncode == 0, taken.stdout + taken.stderr
    (fresh,) = json.loads(taken.stdout)["backups"]
    assert fresh["row_counts"]["public.canary"] >= 40  # the standby's rows: the replicated canary writes

    listed = stack.backup("list", "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    document = json.loads(listed.stdout)
    assert document["stack"] == STACK and document["service"] == "checkout"
    assert document["store"] == box.backup_plan().address.describe()
    complete = document["databases"]["bascule"]["complete"]
    assert [m["key"] for m in complete[:1]] == [fresh["key"]] and len(complete) == 2  # newest first, then the stale
    assert complete[0]["row_counts"] == fresh["row_counts"] and complete[1]["age_s"] >= 30 * 3600
    text = stack.backup("list")
    assert text.returncode == 0 and fresh["key"] in text.stdout
    assert "(scaleway)" in text.stdout  # the provider the program declared, said beside the store it reads

    for deep in ([], ["--identity", str(stack.identity)]):  # present and locked; then downloaded and decrypted too
        verified = stack.backup("verify", "--format", "json", *deep)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        document = json.loads(verified.stdout)
        assert document["problems"] == [] and document["deep"] is bool(deep)
        assert document["databases"][0]["newest"] == fresh["key"]

    readiness = stack.verify_data()
    assert readiness.returncode == 0, readiness.stdout + readiness.stderr
    (service,) = json.loads(readiness.stdout)["services"]
    assert service["ready"] is True and service["backups"][0]["newest"] == fresh["key"]


def test_restore_through_the_stack_checks_the_rows_and_appends_the_history_row(
    box: Sandbox, stack: Deployed, tmp_path: Path
) -> None:
    data = box.state.data
    assert data is not None
    target = data.clusters[PRIMARY].conninfo(dbname="restored_from_stack")
    history = tmp_path / "history"
    args = ["--to", target, "--identity", str(stack.identity), "--history", str(history), "--format", "json"]
    restored = stack.backup("restore", *args)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    document = json.loads(restored.stdout)
    assert document["mismatches"] == [] and document["verified_rows"] == sum(document["row_counts"].values()) > 0
    assert canary_rows(target) == document["row_counts"]["public.canary"] >= 40
    assert data.clusters[PRIMARY].password not in restored.stdout + restored.stderr

    (row,) = [json.loads(line) for line in (history / "history.jsonl").read_text().splitlines()]
    assert row["fault"] == "backup-restore" and row["status"] == "pass" and row["backup"] == document["backup"]
    assert row["target"] == f"Pulumi stack {STACK} backups of checkout in {box.backup_plan().address.describe()}"
    assert row["restore_s"] > 0 and row["backup_age_s"] >= 0 and row["service"] == "checkout"

    again = stack.backup("restore", *args)  # the database exists now: refused, and a refusal is not a drill
    assert again.returncode == 3, again.stdout + again.stderr
    assert len((history / "history.jsonl").read_text().splitlines()) == 1


def test_without_the_stores_credentials_the_stack_commands_say_so(stack: Deployed) -> None:
    """The output holds no secret: without AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY the store cannot be read,
    and the command says why instead of failing on a traceback."""
    env = {k: v for k, v in stack.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    proc = subprocess.run([*BASCULE, "backup", "list", "--stack", STACK, "--cwd", str(stack.folder)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "credentials" in proc.stderr.lower() and "Traceback" not in proc.stderr, proc.stderr
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in proc.stderr, proc.stderr
