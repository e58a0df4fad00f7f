"""The standby's sync job script (`components/data/sync.py`) run by real psql against two real PostgreSQL clusters.

What the job does on Azure, here on loopback: it waits for the restart, then subscribes; a table the migrations add
later replicates after its next run without a manual REFRESH; the application's login is read-only until promotion
and stays as promotion left it; a promoted database is never subscribed again. Local clusters have a superuser
administrator where Flexible Server's is not one: this checks the script's logic, not Azure's permission model.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bascule.components.data import sync
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
        with standby.connect("postgres") as conn:  # what the Database resource makes through Azure's API
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        yield publisher, standby
    finally:
        publisher.stop()
        standby.stop()


def run_job(publisher: Server, standby: Server) -> str:
    """One scheduled run of the job, with the environment the Job resource gives it."""
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
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def subscriptions(standby: Server) -> list[tuple[str, bool]]:
    with standby.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT subname, subenabled FROM pg_subscription")]


def app_settings(standby: Server) -> list[str]:
    with standby.connect() as conn:
        row = conn.execute("SELECT rolconfig FROM pg_roles WHERE rolname = %s", (APP,)).fetchone()
    return list(row[0] or []) if row else []


def test_job_waits_for_the_restart_then_subscribes_and_picks_up_new_tables(servers: tuple[Server, Server]) -> None:
    publisher, standby = servers
    out = run_job(publisher, standby)
    assert "waits for a server restart" in out and subscriptions(standby) == []
    assert app_settings(standby) == ["default_transaction_read_only=on"]
    with standby.connect() as conn:
        assert conn.execute("SELECT rolreplication FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)
    # The deployer's one restart (docs/deploy.md, step 3): the next run subscribes, a further one changes nothing.
    standby.stop()
    standby.start(f"max_worker_processes={sync.MIN_WORKERS}")
    assert "subscribed to bascule_shop" in run_job(publisher, standby)
    assert subscriptions(standby) == [("bascule_shop", True)]
    assert "subscribed" not in run_job(publisher, standby) and subscriptions(standby) == [("bascule_shop", True)]

    # A migration after the subscription, run as the application on both sides (on the standby with read-only
    # turned off for its session, as docs/deploy.md says): the table replicates after the job's next run.
    migration = "CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL)"
    with publisher.connect_as_app() as conn:
        conn.execute(migration)
        conn.execute("INSERT INTO orders (item) VALUES ('a'), ('b')")
    with standby.connect_as_app(options="-c default_transaction_read_only=off") as conn:
        conn.execute(migration)
    run_job(publisher, standby)

    def copied() -> bool:
        with standby.connect() as conn:
            return conn.execute("SELECT count(*) FROM orders").fetchone() == (2,)

    assert wait_until(copied, 30)
    # The application's own login cannot write before promotion.
    with standby.connect_as_app() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("INSERT INTO orders (item) VALUES ('split brain')")


def test_a_promoted_database_is_never_subscribed_again(servers: tuple[Server, Server]) -> None:
    publisher, standby = servers
    if not subscriptions(standby):
        standby.stop()
        standby.start(f"max_worker_processes={sync.MIN_WORKERS}")
        run_job(publisher, standby)
    # What `bascule data promote` leaves (the data contract): the subscription gone, the application writable, the
    # promotion recorded in a `bascule_promotion` table.
    with standby.connect() as conn:
        conn.execute("ALTER SUBSCRIPTION bascule_shop DISABLE")
        conn.execute("ALTER SUBSCRIPTION bascule_shop SET (slot_name = NONE)")
        conn.execute("DROP SUBSCRIPTION bascule_shop")
        conn.execute(f"ALTER ROLE {APP} SET default_transaction_read_only = off")
        conn.execute("CREATE TABLE bascule_promotion (promoted_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO bascule_promotion DEFAULT VALUES")
    with publisher.connect() as conn:
        conn.execute("SELECT pg_drop_replication_slot('bascule_shop')")
    assert "was promoted" in run_job(publisher, standby)
    assert subscriptions(standby) == []
    assert app_settings(standby) == ["default_transaction_read_only=off"]
