"""The data standby's contract between the component that deploys it (`components/data/`) and the commands that
watch, promote and fail it back (`bascule/data/`): the names both sides must agree on, in the one place both may
import (a foundation: `components/` may not import `bascule/data/`, and the commands must not load Pulumi).

- What the component registers and the commands read from the stack's state: `STANDBY_TYPE` and its `OUTPUT`.
- The promotion marker: a table in every replicated database, one row per side (`site`), whose `state` says what
  Bascule last did there. The commands write it (`bascule/data/sql.py`); the standby's sync job reads the standby's
  row (`components/data/sync.py`) and leaves a database alone while it is, or is becoming, or is returning from
  being, the writer (`WRITER_STATES`). A database with no row, or a row saying `replica`, is a normal standby: the
  job copies the tables it lacks, subscribes it if it has no subscription, and refreshes its subscription.
"""

from __future__ import annotations

STANDBY_TYPE = "bascule:data:PostgresStandby"
"""The component's type token: the commands find its registered outputs in a state by it."""
OUTPUT = "bascule_data"
"""The registered output holding the pair (its keys: `bascule/data/state.py`)."""

MARKER_TABLE = "bascule_promotion"
"""The marker's table, in schema `public` of each replicated database."""
MARKER = f"public.{MARKER_TABLE}"
PRIMARY_SITE, STANDBY_SITE = "primary", "standby"
"""The marker's `site` values: each side writes its own row, so a FOR ALL TABLES publication carrying the primary's
table forward never makes two rows clash on the standby."""

REPLICA, PROMOTING, PROMOTED, FAILING_BACK = "replica", "promoting", "promoted", "failing-back"
"""The standby's `state`: replicating from the primary; promotion begun and not finished; promoted (the standby is
the writer); failback begun and not finished."""
WRITER_STATES = (PROMOTING, PROMOTED, FAILING_BACK)
"""States in which the standby is not a replica to keep in step: the sync job neither copies tables into it, nor
subscribes it, nor refreshes it; only `bascule data failback` brings it back to `REPLICA`."""
PRIMARY_STATES = ("primary", "fenced")
"""The primary's `state`: the writer, or fenced by a promotion."""

BACKUP_OUTPUT = "bascule_backup"
"""The data component's registered output saying where its backups live (no secrets): provider, legal_home,
endpoint, region, bucket, service, databases, every_hours, retention_days, recipient. `bascule backup list|verify|
restore --stack` read it (the backup contract, issue 27)."""
BACKUP_ENV = ("BASCULE_BACKUP_SOURCE_DSN", "BASCULE_BACKUP_DATABASES", "BASCULE_BACKUP_SERVICE",
              "BASCULE_BACKUP_ENDPOINT", "BASCULE_BACKUP_REGION", "BASCULE_BACKUP_BUCKET", "BASCULE_BACKUP_RECIPIENT",
              "BASCULE_BACKUP_RETENTION_DAYS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")  # fmt: skip
"""What the scheduled backup job is given, each read by `bascule backup take` as its flag's default: the standby's
libpq URI, the databases (comma-separated), the service (the key prefix), the store (S3 endpoint, region, bucket),
the age recipient, the object-lock days, and the store's credentials under boto3's standard names."""
