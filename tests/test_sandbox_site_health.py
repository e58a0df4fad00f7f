"""The sandbox app's health asks its database as an app with a pool would: a connection the server ends is
reconnected once (the standby's promotion ends its read-only sessions), a database that is down stays unhealthy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bascule.sandbox.site import _database_error


class _Conn:
    def __enter__(self) -> _Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, query: str) -> None:
        assert query == "SELECT 1"


def _connect(failures: list[Exception]) -> Any:
    def connect(conninfo: str, autocommit: bool) -> _Conn:
        assert conninfo == "dbname=app" and autocommit
        if failures:
            raise failures.pop(0)
        return _Conn()

    return connect


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"read": "dbname=app", "write": "dbname=app", "write_role": "primary"}))
    return path


def test_a_session_the_promotion_ended_is_reconnected_once(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ended = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    monkeypatch.setattr(psycopg, "connect", _connect([ended]))
    assert _database_error(data, "read") is None


def test_a_database_that_stays_down_is_unhealthy(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = [psycopg.OperationalError("connection refused"), psycopg.OperationalError("connection refused")]
    monkeypatch.setattr(psycopg, "connect", _connect(refused))
    assert _database_error(data, "read") == "connection refused"


def test_other_errors_are_not_retried(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psycopg, "connect", _connect([psycopg.ProgrammingError("bad query")]))
    assert _database_error(data, "read") == "bad query"
