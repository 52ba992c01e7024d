"""Run store: commits, torn-write recovery, verification on load, the lock, manifest validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from freqbench.config import RunConfig
from freqbench.errors import StoreError
from freqbench.store import run as store_run
from freqbench.store.run import Record, RunStore, atomic_write_bytes, content_key, read_records


def _rec(cond: str, key: str, value: float = 0.5, metric: str = "accuracy") -> Record:
    return Record("m", "d", "s", cond, metric, value, 10, 0.2, 0.8, key, {"severity": 1}, {"impl": "x"})


def _manifest(**config: object) -> dict:
    return {"config": RunConfig(suite="frequency", **config).to_dict()}  # type: ignore[arg-type]


def test_condition_round_trip(tmp_path) -> None:
    store = RunStore(tmp_path / "run")
    arrays = {"correct": np.array([True, False]), "index": np.arange(2)}
    store.write_condition("k1", [_rec("clean", "k1"), _rec("clean", "k1", metric="loss")], arrays)
    assert store.completed_keys() == {"k1"}
    assert store.records()[0] == _rec("clean", "k1")
    got = store.arrays("k1")
    assert np.array_equal(got["correct"], arrays["correct"])
    assert not list((tmp_path / "run").rglob("*.tmp"))
    commit = json.loads(store.commits_path.read_text())
    assert commit["commit"] == "k1" and commit["records"] == 2
    assert commit["end"] == store.records_path.stat().st_size


def test_records_without_their_commit_do_not_count_and_are_cut_by_the_next_writer(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.write_condition("k1", [_rec("clean", "k1")])
    good = store.records_path.read_bytes()
    # a writer that stored two of a condition's records, then the disk filled up (no commit line)
    with open(store.records_path, "ab") as f:
        f.write(
            (
                _rec("fog@1", "k2").to_json() + "\n" + _rec("fog@1", "k2", metric="loss").to_json() + "\n"
            ).encode()
        )
        f.write(b'{"model": "m", "dat')
    with open(store.commits_path, "ab") as f:
        f.write(b'{"commit": "k2", "rec')  # and its commit line was cut too
    assert [r.key for r in store.records()] == ["k1"]
    assert store.completed_keys() == {"k1"}
    store.write_condition("k2", [_rec("fog@1", "k2", 0.25)])
    assert store.records_path.read_bytes() == good + (_rec("fog@1", "k2", 0.25).to_json() + "\n").encode()
    assert [r.value for r in store.records()] == [0.5, 0.25]
    assert len(store.commits_path.read_text().splitlines()) == 2


def test_a_commit_that_disagrees_with_its_records_is_damage(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.write_condition("k1", [_rec("clean", "k1"), _rec("clean", "k1", metric="loss")])
    lines = store.records_path.read_text().splitlines()
    store.records_path.write_text(lines[0] + "\n" + lines[1].replace('"k1"', '"k9"') + "\n")
    with pytest.raises(
        StoreError, match=r"commits.jsonl:1 commits 2 record\(s\) of k1 .*found 2 \(\['k1', 'k9'\]\)"
    ):
        store.records()
    store.records_path.write_text(lines[0] + "\n")
    with pytest.raises(StoreError, match="commits.jsonl:1 commits k1 up to byte"):
        store.records()


def test_arrays_are_checked_against_their_commit(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.write_condition("k1", [_rec("clean", "k1")], {"correct": np.array([True, True])})
    path = tmp_path / "arrays" / "k1.npz"
    buf = path.read_bytes()
    np.savez(path, correct=np.array([False, False]))
    with pytest.raises(StoreError, match="does not match its commit"):
        store.arrays("k1")
    path.write_bytes(buf)
    assert store.arrays("k1")["correct"].all()


def test_corrupt_lines_are_store_errors(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.records_path.write_text("not json\n")
    with pytest.raises(StoreError, match="records.jsonl:1"):
        store.records()
    store.records_path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    with pytest.raises(StoreError, match="not UTF-8|binary"):
        store.records()
    line = json.loads(_rec("clean", "k").to_json())
    store.records_path.write_text(json.dumps({**line, "value": "0.5"}) + "\n")
    with pytest.raises(StoreError, match="records.jsonl:1 is not a valid record.*'value' must be a number"):
        store.records()
    with pytest.raises(StoreError, match="'value' must be a number"):
        read_records(store.records_path)
    with pytest.raises(TypeError, match="'n' is missing"):
        Record.from_dict({k: v for k, v in line.items() if k != "n"})
    with pytest.raises(StoreError, match="is a directory"):
        read_records(tmp_path)


def test_a_directory_without_commits_is_read_but_not_written(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.records_path.write_text(_rec("clean", "k1").to_json() + "\n" + '{"model": "m"')
    assert [r.key for r in store.records()] == ["k1"]
    with pytest.raises(StoreError, match="older freqbench without commit markers.*--force"):
        store.write_condition("k2", [_rec("fog@1", "k2")])
    with store.writing():
        store.clear()
        store.recover()
    assert store.records() == [] and store.commits_path.is_file()


def test_two_results_for_one_cell_are_refused(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.write_condition("k1", [_rec("clean", "k1", 0.5)])
    store.write_condition("k2", [_rec("clean", "k2", 0.7)])
    with pytest.raises(StoreError, match="holds two results for m / d / clean accuracy.*mixes"):
        store.records()


def test_recovery_removes_stale_temporaries_and_uncommitted_arrays(tmp_path) -> None:
    store = RunStore(tmp_path)
    store.write_condition("k1", [_rec("clean", "k1")], {"a": np.arange(3)})
    (tmp_path / "arrays" / "k2.npz").write_bytes(b"x")  # arrays renamed, records never written
    (tmp_path / "arrays" / "k3.npz.123.abc.tmp").write_bytes(b"x")
    (tmp_path / "manifest.json.123.abc.tmp").write_bytes(b"x")
    store.write_condition("k4", [_rec("fog@1", "k4")], {"a": np.arange(3)})
    assert sorted(p.name for p in (tmp_path / "arrays").iterdir()) == ["k1.npz", "k4.npz"]
    assert not list(tmp_path.glob("*.tmp"))


def test_temporary_names_are_unique_and_carry_the_pid(tmp_path, monkeypatch) -> None:
    seen: list[str] = []
    real = os.replace

    def spy(src: str, dst: object) -> None:
        seen.append(os.path.basename(src))
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(store_run.os, "replace", spy)
    for _ in range(3):
        atomic_write_bytes(tmp_path / "f.json", b"{}")
    assert len(set(seen)) == 3 and all(s.startswith(f"f.json.{os.getpid()}.") for s in seen)


def test_atomic_write_errors_are_typed_and_leave_nothing(tmp_path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        atomic_write_bytes(tmp_path, b"x")
    with pytest.raises(StoreError, match="folder on the way does not exist"):
        atomic_write_bytes(tmp_path / "no" / "f", b"x")
    assert list(tmp_path.iterdir()) == []


def test_second_writer_is_refused_naming_the_holder(tmp_path) -> None:
    holder = RunStore(tmp_path / "run")
    with holder.writing():
        with pytest.raises(
            StoreError, match=rf"being written by another freqbench run \(pid {os.getpid()}\)"
        ):
            with RunStore(tmp_path / "run").writing():
                pass
        # another process too (flock is per open file, so this also holds across processes)
        code = (
            "import sys; from freqbench.store.run import RunStore\n"
            "try:\n    RunStore(sys.argv[1]).write_condition('k', [])\n"
            "except Exception as e:\n    print(e)"
        )
        res = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True
        )
        assert f"(pid {os.getpid()})" in res.stdout
    with RunStore(tmp_path / "run").writing():  # released
        pass


def test_out_that_is_a_file_or_under_one(tmp_path) -> None:
    f = tmp_path / "file"
    f.write_text("keep")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        RunStore(f).check_location()
    with pytest.raises(StoreError, match="sits under .*file, which is a file"):
        RunStore(f / "a" / "b").check_location()
    assert f.read_text() == "keep"


def test_manifest_keeps_invocation_history_and_devices(tmp_path) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(StoreError, match="not a freqbench run directory"):
        store.read_manifest()
    m = _manifest()
    store.write_manifest({**m, "invocations": [{"t": 1, "device": "cpu"}], "created": "first"})
    store.write_manifest({**m, "invocations": [{"t": 2, "device": "cuda:0"}], "created": "second"})
    got = store.read_manifest()
    assert [i["t"] for i in got["invocations"]] == [1, 2] and got["created"] == "first"
    assert got["device"] == "cpu, cuda:0"
    assert store.config() == RunConfig(suite="frequency")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a JSON object, found a list"),
        ("{}", "it has no 'config'"),
        ('{"config": []}', "config: expected an object, got list"),
        (None, "config: missing seed"),
        ("seed", "config.seed: expected an integer, got str '7'"),
        ("options", "config.options.eps: expected a list, got int 3"),
        ('{"config": {}} trailing', "is not valid JSON"),
        ("binary", "not UTF-8 text"),
    ],
)
def test_damaged_manifests_are_typed_errors(tmp_path, text: str | None, message: str) -> None:
    store = RunStore(tmp_path)
    cfg = RunConfig(suite="frequency").to_dict()
    if text is None:
        cfg.pop("seed")
        text = json.dumps({"config": cfg})
    elif text == "seed":
        text = json.dumps({"config": {**cfg, "seed": "7"}})
    elif text == "options":
        text = json.dumps({"config": {**cfg, "options": {**cfg["options"], "eps": 3}}})
    if text == "binary":
        store.manifest_path.write_bytes(b"\xff\xfe\x00\x01")
    else:
        store.manifest_path.write_text(text)
    with pytest.raises(StoreError, match=message) as e:
        store.read_manifest()
    assert "--force" in str(e.value) and "\n" not in str(e.value)


def test_content_key_is_order_independent_and_sensitive() -> None:
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})


def test_rewriting_a_manifest_without_created_keeps_it_readable(tmp_path) -> None:
    store = RunStore(tmp_path / "run")
    manifest = {"config": RunConfig(suite="frequency").to_dict(), "invocations": []}
    store.write_manifest(manifest)
    store.write_manifest(manifest)  # no "created" in either: it must not become null
    assert "created" not in store.read_manifest()
