"""The standby's sync job: the SQL that must run on the Flexible Server, run from beside it. No Pulumi here.

The standby has no public endpoint (its fixed egress address needs it inside a virtual network, `standby.py`), so
`pulumi up` on the deployer's machine cannot reach it. A Container Apps job in the same network runs this script
on a schedule instead. Every run is idempotent and says what it waits for, so the first `pulumi up` completes and
the subscription follows on its own once it can work:

1. the administrator gets REPLICATION, which Flexible Server requires before it creates a subscription
   (https://learn.microsoft.com/azure/postgresql/configure-maintain/concepts-logical, prerequisites, step 7);
2. the application's login is created with `default_transaction_read_only = on`, once, at creation: promotion
   turns it off (`bascule data promote`) and no later run turns it back on;
3. per database, the subscription is created only when none exists, the server has been restarted with the
   workers logical replication needs (`max_worker_processes`, static: concepts-logical, step 4) and the database
   was never promoted (a `bascule_promotion` table: the data commands' marker). Creating it fails, and the next run
   retries, until RDS admits the standby's address;
4. per database, an enabled subscription is refreshed: the publication is FOR ALL TABLES, so a table the
   application's migrations add joins it on the publisher at once, but the subscriber starts copying it only after
   `ALTER SUBSCRIPTION ... REFRESH PUBLICATION`, and only once the migration has made the table on the standby too
   (https://www.postgresql.org/docs/current/sql-altersubscription.html).

Its inputs are environment variables (`ENV`): libpq's own for the administrator's connection, the rest Bascule's.
"""

from __future__ import annotations

SCHEDULE = "*/5 * * * *"
"""Every five minutes: the longest a new table waits, after its migration ran on both sides, before it replicates."""
MIN_WORKERS = 16
"""Flexible Server's documented minimum `max_worker_processes` for logical replication (concepts-logical, step 4)."""

ENV = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGSSLMODE", "BASCULE_APP_ROLE", "BASCULE_APP_PASSWORD",
       "BASCULE_PUBLISHER", "BASCULE_DATABASES", "BASCULE_MIN_WORKERS")  # fmt: skip
"""What the script reads: libpq's connection to the standby as its administrator; the application's login and its
password; the publisher's conninfo without `dbname`; the databases (space-separated); the workers to wait for."""


def publication(database: str) -> str:
    """The publication of `database` on the primary; its subscription and replication slot share the name."""
    return f"bascule_{database}"


SCRIPT = r"""set -u
failed=0
psql -X -q -v ON_ERROR_STOP=1 -d postgres -v app="$BASCULE_APP_ROLE" -v app_password="$BASCULE_APP_PASSWORD" \
  <<'SQL' || failed=1
ALTER ROLE CURRENT_USER WITH REPLICATION;
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') AS new_role \gset
\if :new_role
CREATE ROLE :"app" LOGIN;
ALTER ROLE :"app" SET default_transaction_read_only = on;
\echo bascule: created :app, read-only until promotion
\endif
ALTER ROLE :"app" WITH LOGIN PASSWORD :'app_password';
GRANT :"app" TO CURRENT_USER;
SQL
for db in $BASCULE_DATABASES; do
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v db="$db" -v app="$BASCULE_APP_ROLE" -v name="bascule_$db" \
    -v publisher="$BASCULE_PUBLISHER dbname=$db" -v workers="$BASCULE_MIN_WORKERS" <<'SQL' || failed=1
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
GRANT USAGE, CREATE ON SCHEMA public TO :"app";
SELECT to_regclass('bascule_promotion') IS NOT NULL AS promoted,
       EXISTS (SELECT FROM pg_subscription WHERE subname = :'name'
               AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS subscribed,
       current_setting('max_worker_processes')::int >= :workers AS restarted \gset
\if :promoted
\echo bascule: :db was promoted (bascule_promotion): no subscription is made here
\elif :subscribed
SELECT format('ALTER SUBSCRIPTION %I REFRESH PUBLICATION', subname) FROM pg_subscription
 WHERE subname = :'name' AND subenabled
   AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \gexec
\elif :restarted
CREATE SUBSCRIPTION :"name" CONNECTION :'publisher' PUBLICATION :"name";
\echo bascule: :db subscribed to :name
\else
\echo bascule: :db waits for a server restart: max_worker_processes is below :workers (docs/deploy.md, step 3)
\endif
SQL
done
exit $failed
"""
"""The job's `sh -c` script: psql from the image, ON_ERROR_STOP per session, exit 1 if any session failed (the
job's execution then shows failed, and the next scheduled run tries again)."""
