"""The cyclic collector paused over bulk work: back on afterwards, nothing leaked, nobody else's freeze undone."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from bascule.inventory.readers import read_export
from bascule.inventory.records import build
from bascule.io.heap import collector_paused
from bascule.offline.engine import ProgramError, run_offline


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    assert gc.isenabled() and gc.get_freeze_count() == 0
    yield
    gc.enable()


def test_cycles_made_while_paused_are_freed_once_it_runs_again() -> None:
    with collector_paused(age=True):
        assert not gc.isenabled()
        node = Node()
        ref = weakref.ref(node)
        del node
        kept = [{"value": [i]} for i in range(1_000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert any(o is kept for o in gc.get_objects(generation=2))  # aged: no young pass walks it again
    assert ref() is not None  # no pass ran while paused
    gc.collect()
    assert ref() is None


def test_a_caller_that_paused_or_froze_keeps_its_settings() -> None:
    gc.disable()
    with collector_paused(age=True):
        pass
    assert not gc.isenabled()
    gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused(age=True):
            Node()
        assert gc.get_freeze_count() == frozen  # not unfrozen by the ageing step
    finally:
        gc.unfreeze()


def test_collector_is_on_after_reading_an_export_and_after_runs_that_fail(tmp_path: Path) -> None:
    export = tmp_path / "state.json"
    export.write_text(
        json.dumps({"version": 3, "deployment": {"resources": [{"urn": "u", "type": "aws:s3/bucket:Bucket"}]}})
    )
    assert len(build(read_export(export)).resources) == 1
    assert gc.isenabled()

    def failing() -> None:
        raise ValueError("broken program")

    with pytest.raises(ProgramError):
        run_offline(failing, {})
    assert gc.isenabled()
