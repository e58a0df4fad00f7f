"""The data standby as Bascule runs it: a service's primary PostgreSQL and its logical-replication standby, watched,
promoted and failed back through the two databases alone (no cloud control plane during an incident).

Owns the data pair (`pair.py`: two endpoints, their databases, publication/subscription names, the app role), how a
deployed stack's pair is read from its state (`state.py`, the `bascule_data` output of `PostgresStandby`), every SQL
statement the commands send (`sql.py`), where a pair stands and why a standby is not ready (`status.py`), and
promotion, failback and resync (`operations.py`). The sandbox's clusters and a stack's outputs both become a
`DataPair`, so one implementation serves both.

Nothing here prints, exits or takes locks: operations report each step to a callback and append it to a journal the
caller hands in (`bascule.drills.journal.Journal`); `bascule.drills` adds the lock and recovery.

May import: `bascule.io`, `bascule.spec.data` (the contract shared with the component) and the PostgreSQL driver
(psycopg). Imported by `bascule.sandbox`, `bascule.drills` and `bascule.cli`.
"""

from bascule.data.operations import (
    FAILBACK,
    PROMOTE,
    DataRefused,
    OperationResult,
    Recorder,
    StepFailed,
    StepResult,
    failback,
    promote,
    resync,
)
from bascule.data.pair import PRIMARY, STANDBY, DataError, DataPair, Endpoint, Login
from bascule.data.state import PairStateError, pair_from_state, pairs_from_state, standby_secrets
from bascule.data.status import PairStatus, problems, render_text, status

__all__ = [
    "FAILBACK",
    "PRIMARY",
    "PROMOTE",
    "STANDBY",
    "DataError",
    "DataPair",
    "DataRefused",
    "Endpoint",
    "Login",
    "OperationResult",
    "PairStateError",
    "PairStatus",
    "Recorder",
    "StepFailed",
    "StepResult",
    "failback",
    "pair_from_state",
    "pairs_from_state",
    "problems",
    "promote",
    "render_text",
    "resync",
    "standby_secrets",
    "status",
]
