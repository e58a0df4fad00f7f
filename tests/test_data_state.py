"""A deployed stack's data pair, read from its state as PostgresStandby registers it (bascule/data/state.py): every
key required, secrets unwrapped and never repeated in an error, one service chosen among several."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bascule.data import DataError, PairStateError, pair_from_state, pairs_from_state
from bascule.data.state import STANDBY_TYPE
from bascule.io.secrets import SECRET_SIG, SIG_KEY

PASSWORD = "s3cret-Pa55word"


def secret(value: Any) -> dict[str, str]:
    """A value as `pulumi stack export --show-secrets` writes a secret."""
    return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(value)}


def output(service: str = "checkout", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "service": service,
        "databases": ["checkout"],
        "app_role": "checkout_app",
        "primary": {"host": "db.rds.example", "port": 5432, "user": "bascule", "password": secret(PASSWORD),
                    "sslmode": "require", "provider": "aws-rds", "app_password": secret("app-one")},
        "standby": {"host": "db.postgres.database.azure.com", "port": 5432, "user": "bascule",
                    "password": secret("other-secret"), "sslmode": "require", "provider": "azure-flexible",
                    "app_password": secret("app-two")},
        "replication": {"user": "bascule_replicator", "password": secret("replicator-secret")},
        "publications": {"checkout": "bascule_pub"},
        "subscriptions": {"checkout": "bascule_sub"},
        "wal_keep_mb": 10240,
        "rpo_seconds": 30,
    }  # fmt: skip
    data.update(changes)
    return data


def state(*outputs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"urn": f"urn:pulumi:prod::p::{STANDBY_TYPE}::{o.get('service', 'x')}-data", "type": STANDBY_TYPE,
             "outputs": {"bascule_data": o}} for o in outputs]  # fmt: skip


def test_the_output_becomes_a_pair_with_its_secrets_unwrapped() -> None:
    pair = pair_from_state(state(output()), "prod")
    assert (pair.service, pair.databases, pair.app_role) == ("checkout", ("checkout",), "checkout_app")
    assert pair.primary.password == PASSWORD and pair.primary.provider == "aws-rds"
    assert pair.subscriptions == {"checkout": "bascule_sub"} and pair.rpo_seconds == 30.0
    assert set(pair.secrets()) == {PASSWORD, "other-secret", "app-one", "app-two", "replicator-secret"}
    assert all(secret not in repr(pair) for secret in pair.secrets())
    assert "sslmode=require" in pair.standby.conninfo("checkout")
    assert "user=bascule_replicator" in pair.publisher("checkout") and "dbname=checkout" in pair.publisher("checkout")
    assert pair.primary.app_password == "app-one" and pair.standby.app_password == "app-two"


@pytest.mark.parametrize("path", ["wal_keep_mb", "publications", "standby.password", "primary.sslmode",
                                  "subscriptions.checkout", "replication", "replication.password",
                                  "standby.app_password"])  # fmt: skip
def test_a_missing_key_is_refused_in_one_line_naming_the_stack_and_the_key(path: str) -> None:
    data = output()
    *parents, key = path.split(".")
    place = data
    for parent in parents:
        place = place[parent]
    del place[key]
    with pytest.raises(PairStateError) as caught:
        pair_from_state(state(data), "prod")
    message = str(caught.value)
    assert message.startswith("stack 'prod':") and f"'{path}'" in message and "\n" not in message


def test_an_undeclared_rpo_is_allowed_but_the_key_is_not_optional() -> None:
    assert pair_from_state(state(output(rpo_seconds=None)), "prod").rpo_seconds is None
    data = output()
    del data["rpo_seconds"]
    with pytest.raises(PairStateError, match="'rpo_seconds'"):
        pair_from_state(state(data), "prod")


def test_a_malformed_value_is_named_without_repeating_it() -> None:
    data = output()
    data["primary"] = copy.deepcopy(data["primary"]) | {"password": 1234567}
    with pytest.raises(PairStateError) as caught:
        pair_from_state(state(data), "prod")
    assert "primary.password" in str(caught.value) and "1234567" not in str(caught.value)


def test_several_standbys_need_a_service_and_verify_reads_them_all() -> None:
    resources = state(output("checkout"), output("search"))
    with pytest.raises(PairStateError, match=r"several data standbys .*checkout, search.*--service"):
        pair_from_state(resources, "prod")
    assert pair_from_state(resources, "prod", "search").service == "search"
    assert [p.service for p in pairs_from_state(resources, "prod")] == ["checkout", "search"]
    with pytest.raises(PairStateError, match="no data standby for service 'billing'"):
        pair_from_state(resources, "prod", "billing")


def test_a_number_that_went_through_protobuf_is_still_a_port() -> None:
    data = output()
    data["primary"] = copy.deepcopy(data["primary"]) | {"port": 5432.0}
    assert pair_from_state(state(data), "prod").primary.port == 5432
    data["primary"]["port"] = 5432.5
    with pytest.raises(PairStateError, match=r"primary\.port: unexpected float"):
        pair_from_state(state(data), "prod")


def test_a_server_out_of_reach_is_named_with_why() -> None:
    """A stack's standby has no public endpoint: a connection that never reaches it says so, naming the host; a
    server that answers and refuses (a password) is not blamed on the path."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    data = output()
    data["standby"] = copy.deepcopy(data["standby"]) | {"host": "127.0.0.1", "port": port}
    pair = pair_from_state(state(data), "prod")
    with pytest.raises(DataError) as caught:
        pair.connect("standby", "checkout")
    message = str(caught.value)
    assert message.startswith(f"standby 127.0.0.1:{port} database checkout: ")
    assert "no public endpoint: run `bascule data` from a machine in that network" in message


def test_a_state_without_the_component_says_so() -> None:
    with pytest.raises(PairStateError, match="no bascule:data:PostgresStandby in its state"):
        pair_from_state([{"urn": "u", "type": "aws:s3/bucket:Bucket", "outputs": {}}], "prod")


def test_the_secret_envelope_is_pulumis() -> None:
    from pulumi.runtime import rpc

    assert (rpc._special_sig_key, rpc._special_secret_sig) == (SIG_KEY, SECRET_SIG)
