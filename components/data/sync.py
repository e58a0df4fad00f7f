"""The standby's sync job: the SQL that must run on the Flexible Server, run from beside it. No Pulumi here.

The standby has no public endpoint (its fixed egress address needs it inside a virtual network, `standby.py`), so
`pulumi up` on the deployer's machine cannot reach it. A Container Apps job in the same network runs this script
on a schedule instead. Every run is idempotent and says what it waits for, so the first `pulumi up` completes and
the subscription follows on its own once it can work:

1. the administrator gets REPLICATION, which Flexible Server requires before it creates a subscription
   (https://learn.microsoft.com/azure/postgresql/configure-maintain/concepts-logical, prerequisites, step 7), and
   membership of the application's role, so that the apply worker, which from PostgreSQL 16 on writes as each
   table's owner, may switch to it (https://www.postgresql.org/docs/16/sql-createsubscription.html, run_as_owner);
   The membership also lets the admin see and end the application's sessions, which `bascule data` needs to fence
   it (`bascule/data/sql.py`, `fence_rights`);
2. the application's login is created with LOGIN and `default_transaction_read_only = on`, once, at creation; later
   runs only keep its password in step with the application's secret. Promotion opens it (`bascule data promote`),
   failback fences it (NOLOGIN) and then gives it back LOGIN, read-only: no run undoes either;
3. per database, the standby's row of the promotion marker (`bascule.spec.data`: a table the data commands keep,
   one row per side) says whether it is a replica to keep in step. While it says promoting, promoted or failing
   back, the run leaves the database alone (and never contacts the primary for it); with no marker, or `replica`
   (as failback leaves it), the steps below run;
4. each table of the publication that the standby lacks is created from the primary's definition (`pg_dump
   --schema-only`, as the replication login, restored in one transaction as the application, which then owns it).
   A subscriber needs every published table before it subscribes or refreshes, and logical replication carries no
   DDL; creating them here instead of running the application's migrations on the standby keeps the migrations'
   own bookkeeping rows (django_migrations, alembic_version, schema_migrations, ...) coming from the primary by
   replication, where a second run of the migrations would write them locally and collide with the replicated ones;
5. the subscription is created only when none exists, the server has been restarted with the workers logical
   replication needs (`max_worker_processes`, static: concepts-logical, step 4), and the standby's copies of the
   published tables are empty: the initial copy would insert every row again (a standby that lost its subscription
   keeps its rows; `bascule data failback` re-seeds it). Creating it fails, and the next run retries, until RDS
   admits the standby's address;
6. an enabled subscription is refreshed: the publication is FOR ALL TABLES, so a table the application's
   migrations add joins it on the publisher at once, but the subscriber starts copying it only after
   `ALTER SUBSCRIPTION ... REFRESH PUBLICATION` (https://www.postgresql.org/docs/current/sql-altersubscription.html).

A run exits 1 while any database that should be a replica is not subscribed (waiting for the restart, rows in the
way, or a step failed), so the job's executions show failed until replication is set up, and succeeded from then
on. What step 4 cannot do: change a
table that exists already (a column a later migration adds): apply that DDL to the standby before the primary
(docs/deploy.md, step 5), or the subscription stops at the first row carrying the new column.

Its inputs are environment variables (`ENV`): libpq's own for the administrator's connection, the rest Bascule's.
"""

from __future__ import annotations

from bascule.spec.data import MARKER, REPLICA, STANDBY_SITE, WRITER_STATES

SCHEDULE = "*/15 * * * *"
"""Every fifteen minutes: the longest a table added on the primary waits before the standby copies it. Not more
often: every execution may pull the job's image anew through the one NAT address (`standby.SYNC_IMAGE`)."""
MIN_WORKERS = 16
"""Flexible Server's documented minimum `max_worker_processes` for logical replication (concepts-logical, step 4)."""

ENV = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGSSLMODE", "BASCULE_APP_ROLE", "BASCULE_APP_PASSWORD",
       "BASCULE_PUBLISHER", "BASCULE_DATABASES", "BASCULE_MIN_WORKERS")  # fmt: skip
"""What the script reads: libpq's connection to the standby as its administrator; the application's login and its
password; the publisher's conninfo without `dbname`; the databases (space-separated); the workers to wait for."""


def publication(database: str) -> str:
    """The publication of `database` on the primary; its subscription and replication slot share the name."""
    return f"bascule_{database}"


_MARKER = (f"marker={MARKER} standby_site={STANDBY_SITE} replica={REPLICA} "
           f"writer_states='{' '.join(WRITER_STATES)}'\n")  # fmt: skip
"""The promotion marker's names, from the one definition the data commands use too."""

SCRIPT = (
    _MARKER
    + r"""set -u
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
ALTER ROLE :"app" WITH PASSWORD :'app_password';
GRANT :"app" TO CURRENT_USER;
SQL
schema=$(mktemp)
for db in $BASCULE_DATABASES; do
  publisher="$BASCULE_PUBLISHER dbname=$db"
  state=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -v db="$db" -v app="$BASCULE_APP_ROLE" -v marker="$marker" \
    -v site="$standby_site" -v replica="$replica" <<'SQL'
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
GRANT USAGE, CREATE ON SCHEMA public TO :"app";
SELECT to_regclass(:'marker') IS NOT NULL AS marked \gset
\if :marked
SELECT coalesce((SELECT state FROM :marker WHERE site = :'site'), :'replica');
\else
SELECT :'replica';
\endif
SQL
  ) || { failed=1; continue; }
  case " $writer_states " in
    *" $state "*) echo "bascule: $db is $state ($marker): it neither copies tables, subscribes nor refreshes"
                  continue ;;
  esac
  published=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$publisher" -v name="bascule_$db" <<'SQL'
SELECT format('"%s"."%s"', replace(schemaname, '"', '""'), replace(tablename, '"', '""'))
  FROM pg_publication_tables WHERE pubname = :'name';
SQL
  ) && missing=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -v published="$published" <<'SQL'
SELECT t FROM unnest(string_to_array(:'published', E'\n')) AS t
 WHERE t <> '' AND to_regclass(t) IS NULL;
SQL
  ) || { failed=1; echo "bascule: $db: cannot compare the primary's published tables with its own" >&2; continue; }
  if [ -n "$missing" ]; then
    set --
    while IFS= read -r table; do set -- "$@" "--table=$table"; done <<TABLES
$missing
TABLES
    printf 'SET ROLE "%s";\n' "$BASCULE_APP_ROLE" > "$schema"
    if pg_dump --schema-only --no-owner --no-privileges --no-publications --no-subscriptions --strict-names \
         -d "$publisher" "$@" >> "$schema" && psql -X -q -1 -v ON_ERROR_STOP=1 -d "$db" -f "$schema"; then
      printf 'bascule: %s: created from the primary, owned by %s:\n%s\n' "$db" "$BASCULE_APP_ROLE" "$missing"
    else
      failed=1; echo "bascule: $db: could not create the published tables it lacks (above)" >&2; continue
    fi
  fi
  said=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v db="$db" -v name="bascule_$db" -v publisher="$publisher" \
    -v workers="$BASCULE_MIN_WORKERS" -v published="$published" -v marker="$marker" <<'SQL'
SELECT EXISTS (SELECT FROM pg_subscription WHERE subname = :'name'
               AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS subscribed,
       current_setting('max_worker_processes')::int >= :workers AS restarted \gset
\if :subscribed
SELECT format('ALTER SUBSCRIPTION %I REFRESH PUBLICATION', subname) FROM pg_subscription
 WHERE subname = :'name' AND subenabled
   AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \gexec
\elif :restarted
SELECT count(t) > 0 AS filled, coalesce(string_agg(t, ', '), '') AS tables
  FROM unnest(string_to_array(:'published', E'\n')) AS t
 WHERE t <> '' AND to_regclass(t) IS DISTINCT FROM to_regclass(:'marker')
   AND query_to_xml(format('SELECT 1 FROM %s LIMIT 1', t), false, true, '')::text <> '' \gset
\if :filled
\echo bascule: :db has no subscription and its tables hold rows (:tables): run bascule data failback to re-seed it
\else
CREATE SUBSCRIPTION :"name" CONNECTION :'publisher' PUBLICATION :"name";
\echo bascule: :db subscribed to :name
\endif
\else
\echo bascule: :db waits for a server restart: max_worker_processes is below :workers (docs/deploy.md, step 3)
\endif
SQL
  ) || failed=1
  echo "$said"
  case "$said" in *"waits for a server restart"*|*"hold rows"*) failed=1 ;; esac
done
rm -f "$schema"
exit $failed
"""
)
"""The job's `sh -c` script: psql and pg_dump from the image, ON_ERROR_STOP per session, exit 1 if a step failed or
a database still waits for the restart (the job's execution then shows failed, and the next run tries again)."""
