"""The standby's sync job script (`components/data/sync.py`) run by real psql against two real PostgreSQL clusters.

What the job does on Azure, here on loopback: it creates on the standby the published tables it lacks, from the
primary's definitions and owned by the application; it waits for the restart (failing until then), then subscribes;
a table the migrations add later on the primary replicates after its next run without a manual REFRESH or a
migration run on the standby; the application's login is read-only until promotion and stays as the data commands
leave it; the job and `bascule data promote|failback` agree on the promotion marker. The replication login is not a superuser here, as on RDS; the
standby's administrator is one where Flexible Server's is not: this checks the script's logic, not Azure's
permission model.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bascule.components.data import sync
from bascule.data import DataError, DataPair, Endpoint, Login, StepResult, failback, problems, promote, status
from bascule.sandbox import database as db
from tests.conftest import wait_until

pytestmark = pytest.mark.sandbox
DATABASE = "shop"
APP = "shop_app"
APP_PASSWORD = "app-secret-1"
REPLICATOR_PASSWORD = "replicator-secret-1"

try:
    BINDIR: Path | None = db.find_bindir()
except db.DatabaseError:
    BINDIR = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One cluster started with extra settings, restartable with others (as a Flexible Server restart would)."""

    def __init__(self, role: str, bindir: Path):
        folder = db.make_folder(role)
        self.cluster = db.Cluster(role, "127.0.0.1", _free_port(), str(folder), db.new_password())
        self.bindir = bindir
        self.process: subprocess.Popen[bytes] | None = None
        db.init_cluster(self.cluster, bindir)

    def start(self, *settings: str) -> None:
        argv = self.cluster.server_argv(self.bindir) + [arg for s in settings for arg in ("-c", s)]
        log = open(Path(self.cluster.directory) / "server.log", "ab")  # noqa: SIM115 (the server's lifetime)
        self.process = subprocess.Popen(argv, user=db.run_as(), cwd=self.cluster.directory, stdout=log, stderr=log)
        assert wait_until(self._accepts, 30), (Path(self.cluster.directory) / "server.log").read_text()[-2000:]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None

    def _accepts(self) -> bool:
        try:
            self.cluster.connect("postgres").close()
        except db.DatabaseError:
            return False
        return True

    def connect(self, dbname: str = DATABASE) -> psycopg.Connection[Any]:
        return psycopg.connect(self.cluster.conninfo(dbname), autocommit=True)

    def connect_as_app(self, **options: Any) -> psycopg.Connection[Any]:
        """The application's login, as its site's environment variables would connect it."""
        info = psycopg.conninfo.make_conninfo(host=self.cluster.address, port=self.cluster.port, user=APP,
                                              password=APP_PASSWORD, dbname=DATABASE)  # fmt: skip
        return psycopg.connect(info, autocommit=True, **options)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    if BINDIR is None:
        pytest.skip("PostgreSQL 15 server is not installed")
    publisher, standby = Server("publisher", BINDIR), Server("standby", BINDIR)
    try:
        publisher.start()
        standby.start("max_worker_processes=8")  # Flexible Server's default, before the restart
        # The primary as `pulumi up` leaves it: database, application and replication logins, grants, publication.
        with publisher.connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP),
                                                                         sql.Literal(APP_PASSWORD)))  # fmt: skip
            conn.execute(sql.SQL("CREATE ROLE bascule_replicator LOGIN REPLICATION PASSWORD {}").format(
                sql.Literal(REPLICATOR_PASSWORD)))  # fmt: skip
        with publisher.connect() as conn:
            conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {APP}")
            conn.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {APP} IN SCHEMA public GRANT SELECT ON TABLES TO "
                         "bascule_replicator")  # fmt: skip
            conn.execute(f"CREATE PUBLICATION {sync.publication(DATABASE)} FOR ALL TABLES")
        # The primary's application started first and ran its migrations there: a table and its bookkeeping row.
        with publisher.connect_as_app() as conn:
            conn.execute("CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE)")
            conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY)")
            conn.execute("INSERT INTO accounts (name) VALUES ('ada'), ('grace')")
            conn.execute("INSERT INTO schema_migrations VALUES ('001_accounts')")
        with standby.connect("postgres") as conn:  # what the Database resource makes through Azure's API
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        yield publisher, standby
    finally:
        publisher.stop()
        standby.stop()


def run_job(publisher: Server, standby: Server, status: int = 0) -> str:
    """One scheduled run of the job, with the environment the Job resource gives it; `status` is its exit status."""
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": standby.cluster.address, "PGPORT": str(standby.cluster.port), "PGUSER": db.USER,
        "PGPASSWORD": standby.cluster.password, "PGSSLMODE": "disable", "BASCULE_APP_ROLE": APP,
        "BASCULE_APP_PASSWORD": APP_PASSWORD, "BASCULE_DATABASES": DATABASE,
        "BASCULE_MIN_WORKERS": str(sync.MIN_WORKERS),
        "BASCULE_PUBLISHER": f"host={publisher.cluster.address} port={publisher.cluster.port} "
                             f"user=bascule_replicator password={REPLICATOR_PASSWORD} sslmode=disable",
    }  # fmt: skip
    assert set(env) - {"PATH"} == set(sync.ENV)
    proc = subprocess.run(["/bin/sh", "-c", sync.SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == status, proc.stdout + proc.stderr
    return proc.stdout


def subscriptions(standby: Server) -> list[tuple[str, bool]]:
    with standby.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT subname, subenabled FROM pg_subscription")]


def app_settings(standby: Server) -> list[str]:
    with standby.connect() as conn:
        row = conn.execute("SELECT rolconfig FROM pg_roles WHERE rolname = %s", (APP,)).fetchone()
    return list(row[0] or []) if row else []


def rows(server: Server, query: str) -> list[tuple[Any, ...]]:
    with server.connect() as conn:
        return list(conn.execute(query))


def owner(server: Server, table: str) -> str:
    (found,) = rows(server, f"SELECT tableowner FROM pg_tables WHERE tablename = '{table}'")
    return str(found[0])


def test_job_creates_the_tables_waits_for_the_restart_then_subscribes_and_follows_new_tables(
    servers: tuple[Server, Server],
) -> None:
    publisher, standby = servers
    # Before the restart: the tables the standby lacks are made from the primary's definitions, owned by the
    # application, empty; no subscription yet, and the run fails so the job's executions show it.
    out = run_job(publisher, standby, status=1)
    assert "waits for a server restart" in out and subscriptions(standby) == []
    assert '"public"."accounts"' in out and owner(standby, "accounts") == APP == owner(standby, "schema_migrations")
    assert rows(standby, "SELECT count(*) FROM accounts") == [(0,)]
    assert app_settings(standby) == ["default_transaction_read_only=on"]
    with standby.connect() as conn:
        assert conn.execute("SELECT rolreplication FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
    assert "created from the primary" not in run_job(publisher, standby, status=1)  # made once
    # The deployer's one restart (docs/deploy.md, step 3): the next run subscribes, the initial copy brings the
    # rows and the migrations' bookkeeping, a further run changes nothing and succeeds.
    standby.stop()
    standby.start(f"max_worker_processes={sync.MIN_WORKERS}")
    assert "subscribed to bascule_shop" in run_job(publisher, standby)
    assert subscriptions(standby) == [("bascule_shop", True)]

    def copied(query: str, expected: list[tuple[Any, ...]]) -> bool:
        return rows(standby, query) == expected

    assert wait_until(lambda: copied("SELECT name FROM accounts ORDER BY id", [("ada",), ("grace",)]), 30)
    assert wait_until(lambda: copied("SELECT version FROM schema_migrations", [("001_accounts",)]), 30)
    assert "subscribed" not in run_job(publisher, standby) and subscriptions(standby) == [("bascule_shop", True)]

    # A later migration, run on the primary only (a quoted name too): the next run makes the tables on the
    # standby and refreshes the subscription, which copies their rows and the migration's bookkeeping row.
    with publisher.connect_as_app() as conn:
        conn.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, account bigint REFERENCES accounts (id), "
                     "item text NOT NULL)")  # fmt: skip
        conn.execute('CREATE TABLE "Line Items" (id int PRIMARY KEY)')
        conn.execute("INSERT INTO orders (account, item) VALUES (1, 'a'), (2, 'b')")
        conn.execute('INSERT INTO "Line Items" VALUES (7)')
        conn.execute("INSERT INTO schema_migrations VALUES ('002_orders')")
    out = run_job(publisher, standby)
    assert '"public"."orders"' in out and '"public"."Line Items"' in out and owner(standby, "orders") == APP
    assert wait_until(lambda: copied("SELECT item FROM orders ORDER BY id", [("a",), ("b",)]), 30)
    assert wait_until(lambda: copied('SELECT id FROM "Line Items"', [(7,)]), 30)
    assert wait_until(lambda: copied("SELECT count(*) FROM schema_migrations", [(2,)]), 30)
    # The application's own login cannot write before promotion.
    with standby.connect_as_app() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("INSERT INTO orders (item) VALUES ('split brain')")


def pair_of(publisher: Server, standby: Server) -> DataPair:
    """The two servers as `bascule data` reads a stack's pair: the replication login and both app passwords known."""

    def end(server: Server, provider: str) -> Endpoint:
        c = server.cluster
        return Endpoint(c.address, c.port, db.USER, c.password, "disable", provider, app_password=APP_PASSWORD)

    return DataPair(service="shop", databases=(DATABASE,), app_role=APP, primary=end(publisher, "aws-rds"),
                    standby=end(standby, "azure-flexible"), publications={DATABASE: sync.publication(DATABASE)},
                    subscriptions={DATABASE: sync.publication(DATABASE)}, wal_keep_mb=db.WAL_KEEP_MB, rpo_seconds=None,
                    source="the sync job's servers", replication=Login("bascule_replicator", REPLICATOR_PASSWORD))  # fmt: skip


def app_login(server: Server) -> bool:
    (found,) = rows(server, f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{APP}'")
    return bool(found[0])


class Stop(Exception):
    """Stands for `bascule data failback` killed between two steps."""


def test_the_job_and_the_commands_agree_on_the_promotion_marker(servers: tuple[Server, Server]) -> None:
    """The commands keep the marker (`bascule.spec.data`), the job reads it: promoted or half failed back, the
    standby is left alone (no subscription, no table copied, the application's login as the commands left it, even
    with the old primary gone); failed back, it is a standby again that the job refreshes and keeps in step with new
    tables; a standby that lost its subscription but holds rows is not subscribed on top of them."""
    publisher, standby = servers
    if not subscriptions(standby):
        standby.stop()
        standby.start(f"max_worker_processes={sync.MIN_WORKERS}")
        run_job(publisher, standby)
    pair = pair_of(publisher, standby)
    assert problems(status(pair)) == []
    promote(pair)
    with standby.connect_as_app() as conn:  # the standby is the writer
        conn.execute("INSERT INTO accounts (name) VALUES ('written while failed over')")
    assert "shop is promoted (public.bascule_promotion)" in run_job(publisher, standby)
    assert subscriptions(standby) == [] and app_settings(standby) == ["default_transaction_read_only=off"]
    assert app_login(standby) and not app_login(publisher)  # the old primary fenced: NOLOGIN
    publisher.stop()  # the old primary gone (the usual reason to promote): a run never asks it anything
    assert "shop is promoted" in run_job(publisher, standby)
    publisher.start()

    def stop_after_fence(step: StepResult) -> None:
        if step.step == "fence-standby" and step.status == "done":
            raise Stop(step.step)

    with pytest.raises(Stop):
        failback(pair, on_step=stop_after_fence)
    assert "shop is failing-back" in run_job(publisher, standby)
    assert not app_login(standby) and subscriptions(standby) == []  # the job gave back no LOGIN, subscribed nothing

    failback(pair)  # finished: a replica again, subscribed again by failback itself
    assert app_login(standby) and app_login(publisher)
    assert app_settings(standby) == ["default_transaction_read_only=on"]
    out = run_job(publisher, standby)  # a normal standby to the job again: refreshed, nothing else
    assert "promoted" not in out and "subscribed" not in out and subscriptions(standby) == [("bascule_shop", True)]
    assert rows(publisher, "SELECT count(*) FROM accounts WHERE name = 'written while failed over'") == [(1,)]
    with publisher.connect_as_app() as conn:  # a migration after failback: the job follows it as before
        conn.execute("CREATE TABLE invoices (id bigserial PRIMARY KEY, total numeric NOT NULL)")
        conn.execute("INSERT INTO invoices (total) VALUES (42)")
    assert '"public"."invoices"' in run_job(publisher, standby)
    assert wait_until(lambda: rows(standby, "SELECT total::int FROM invoices") == [(42,)], 30)

    # The subscription lost by hand: the standby's tables hold rows, so the job will not copy them a second time
    # and says what re-seeds it; `bascule data failback` does, and the job is content again.
    with standby.connect() as conn:
        conn.execute("DROP SUBSCRIPTION bascule_shop")
    out = run_job(publisher, standby, status=1)
    assert "has no subscription and its tables hold rows" in out and "bascule data failback" in out
    assert subscriptions(standby) == []
    failback(pair)
    assert subscriptions(standby) == [("bascule_shop", True)]
    assert "hold rows" not in run_job(publisher, standby)
    assert wait_until(
        lambda: rows(standby, "SELECT count(*) FROM accounts") == rows(publisher, "SELECT count(*) FROM accounts")
    )


def test_status_names_a_standby_without_logical_wal(servers: tuple[Server, Server]) -> None:
    """The component sets wal_level = logical on the standby in the same restart as max_worker_processes, for the
    failback slot a promotion keeps; a standby restarted without it is named by `bascule data status` (and so by
    `verify --data` and a data drill's preflight) before any promotion needs it."""
    publisher, standby = servers
    pair = pair_of(publisher, standby)
    standby.stop()
    standby.start(f"max_worker_processes={sync.MIN_WORKERS}", "wal_level=replica")
    try:
        found = problems(status(pair))
        assert any(
            line.startswith(
                f"standby {standby.cluster.address}:{standby.cluster.port}: wal_level is replica, "
                "not logical: a promotion could keep no failback slot"
            )
            for line in found
        ), found
    finally:
        standby.stop()
        standby.start(f"max_worker_processes={sync.MIN_WORKERS}")
    assert not any("wal_level" in line for line in problems(status(pair)))


def test_a_server_that_answers_and_refuses_is_not_blamed_on_the_path(servers: tuple[Server, Server]) -> None:
    """A connection error says why the server may be out of reach only when it was: a server that answered and
    refused the login (here a wrong password) gets no word about the network."""
    publisher, standby = servers
    pair = pair_of(publisher, standby)
    wrong = replace(pair, standby=replace(pair.standby, password="not-the-password", reach="a word about the path"))
    with pytest.raises(DataError) as caught:
        wrong.connect("standby", DATABASE)
    assert "password authentication failed" in str(caught.value) and "a word about the path" not in str(caught.value)
