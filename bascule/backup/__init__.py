"""Backups kept apart from the primary: encrypted logical dumps in a locked bucket at another provider.

Owns taking a backup (`pg_dump`, age encryption, upload under a COMPLIANCE object lock, then the manifest), listing
them, judging the newest against the schedule, and restoring one into a fresh database checked against its manifest
(`bascule/backup/backups.py`); the S3 API (`bascule/backup/store.py`); and where a stack's backups are, from its
`bascule_backup` output (`bascule/backup/state.py`).

May import: `bascule.io`, `bascule.spec` (foundations). boto3 and pyrage come with the `backup` extra.
"""
