"""RunConfig: validation, the one way back from a manifest (from_dict), the result-deciding fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freqbench.config import RESULT_FIELDS, RunConfig, SuiteOptions
from freqbench.errors import ConfigError

FULL = RunConfig(
    suite="corruptions",
    models=("a", "b+low_pass_ideal@r=4"),
    dataset="imagefolder:/x",
    split="train",
    limit=7,
    batch_size=3,
    device="cpu",
    seed=2**64 - 1,
    out=Path("o"),
    data_root=Path("/d"),
    options=SuiteOptions(eps=("8/255",), corruptions=("fog",), severities=(1, 5), baseline="a"),
    num_threads=2,
)


def test_from_dict_inverts_to_dict_through_json() -> None:
    for cfg in (FULL, RunConfig(suite="frequency")):
        assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("seed"), r"config: missing seed"),
        (lambda d: d.update(extra=1), r"config: unknown field\(s\) extra"),
        (lambda d: d.update(seed="0"), r"config.seed: expected an integer, got str '0'"),
        (lambda d: d.update(seed=True), r"config.seed: expected an integer, got bool"),
        (lambda d: d.update(seed=1.0), r"config.seed: expected an integer, got float"),
        (lambda d: d.update(models="a"), r"config.models: expected a list, got str"),
        (lambda d: d.update(models=["a", 3]), r"config.models\[1\]: expected a string, got int 3"),
        (lambda d: d.update(limit="7"), r"config.limit: expected an integer"),
        (lambda d: d.update(data_root=5), r"config.data_root: expected a string"),
        (
            lambda d: d["options"].update(severities=["1"]),
            r"config.options.severities\[0\]: expected an integer",
        ),
        (lambda d: d["options"].pop("eps"), r"config.options: missing eps"),
        (lambda d: d.update(options=[]), r"config.options: expected an object, got list"),
        (lambda d: d.update(seed=-1), r"--seed must be an integer in \[0, 2\*\*64\)"),
        (lambda d: d.update(num_threads=0), r"--threads must be at least 1, got 0"),
    ],
)
def test_from_dict_names_what_is_wrong(change, message: str) -> None:
    d = FULL.to_dict()
    change(d)
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(d)


def test_from_dict_needs_an_object() -> None:
    with pytest.raises(ConfigError, match="config: expected an object, got list"):
        RunConfig.from_dict([FULL.to_dict()])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seed": 2**64}, "--seed must be an integer in"),
        ({"seed": -1}, "--seed must be an integer in"),
        ({"num_threads": 0}, "--threads must be at least 1"),
        ({"num_threads": -4}, "--threads must be at least 1"),
        ({"limit": 0}, "--limit must be a positive integer"),
        ({"batch_size": 0}, "--batch-size must be positive"),
    ],
)
def test_out_of_range_values_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FULL.replace(**changes)


def test_only_result_deciding_fields_differ() -> None:
    same = FULL.replace(batch_size=99, device="cuda", num_threads=1, out=Path("elsewhere"))
    assert FULL.result_differences(same) == []
    assert "batch_size" not in RESULT_FIELDS and "device" not in RESULT_FIELDS
    other = FULL.replace(seed=1, limit=8, options=SuiteOptions(eps=("8/255",), corruptions=("fog",)))
    assert FULL.result_differences(other) == [
        "limit 7 vs 8",
        f"seed {2**64 - 1} vs 1",
        "severities [1, 5] vs None",
        "baseline 'a' vs None",
    ]


def test_data_root_is_compared_resolved(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    a = RunConfig(suite="frequency", data_root=Path("data"))
    assert a.result_differences(a.replace(data_root=tmp_path / "data")) == []
    assert a.result_differences(a.replace(data_root=tmp_path / "other")) != []


def test_manifests_with_the_retired_shard_field_still_read() -> None:
    # manifests written before sharded runs hold "shard": [0, 1]; the world size is no configuration
    old = {**FULL.to_dict(), "shard": [0, 1]}
    assert RunConfig.from_dict(json.loads(json.dumps(old))) == FULL
    assert "shard" not in FULL.to_dict() and "shard" not in RESULT_FIELDS
