"""Run store: atomic condition writes, partial-line recovery, manifest history."""

from __future__ import annotations

import json

import numpy as np
import pytest

from freqbench.errors import StoreError
from freqbench.store.run import Record, RunStore, content_key


def _rec(cond: str, key: str, value: float = 0.5) -> Record:
    return Record("m", "d", "s", cond, "accuracy", value, 10, 0.2, 0.8, key, {"severity": 1}, {"impl": "x"})


def test_condition_round_trip(tmp_path) -> None:
    store = RunStore(tmp_path / "run")
    arrays = {"correct": np.array([True, False]), "index": np.arange(2)}
    store.write_condition("k1", [_rec("clean", "k1")], arrays)
    assert store.completed_keys() == {"k1"}
    assert store.records()[0] == _rec("clean", "k1")
    got = store.arrays("k1")
    assert np.array_equal(got["correct"], arrays["correct"])
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_partial_trailing_line_is_ignored_then_truncated(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.write_condition("k1", [_rec("clean", "k1")])
    with open(store.records_path, "ab") as f:
        f.write(b'{"model": "m", "dataset"')  # a writer killed mid-line
    assert [r.key for r in store.records()] == ["k1"]
    store.write_condition("k2", [_rec("fog@1", "k2")])
    lines = store.records_path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k2"]


def test_corrupt_line_is_a_store_error(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.records_path.write_text("not json\n")
    with pytest.raises(StoreError, match="records.jsonl:1"):
        store.records()


def test_manifest_keeps_invocation_history(tmp_path) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(StoreError, match="not a freqbench run directory"):
        store.read_manifest()
    store.write_manifest({"config": {"a": 1}, "invocations": [{"t": 1}], "created": "first"})
    store.write_manifest({"config": {"a": 2}, "invocations": [{"t": 2}], "created": "second"})
    m = store.read_manifest()
    assert m["config"] == {"a": 2} and m["invocations"] == [{"t": 1}, {"t": 2}] and m["created"] == "first"


def test_content_key_is_order_independent_and_sensitive() -> None:
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})
