"""``freqbench check``, the regression gate, tried as a careless or hostile user would.

Real run directories (tiny runs on a PNG image folder) are checked by real ``freqbench check``
subprocesses. Each case once fooled the gate: ``--tolerance nan`` passed everything, a negative
tolerance failed a run against itself, a 6-image run was compared with an 8-image baseline (and a
seed-1 run with a seed-0 one) without a word, a missing run directory was reported as regressions, and
only drops were flagged. Baselines are edited as files (a changed value, a removed scope), as a stale
or tampered committed baseline would be.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from freqbench import api
from freqbench.config import RunConfig, SuiteOptions

MODEL = "resnet20_cifar10"  # architecture only: seeded random initialisation, no weight files needed


def _images(root: Path) -> Path:
    rng = np.random.default_rng(1)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                root / f"class{c}" / f"{i}.png"
            )
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real run directories: the baseline's configuration, and the same with --limit 6 and --seed 1."""
    root = tmp_path_factory.mktemp("gate")
    images = _images(root / "images")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FREQBENCH_HOME", str(root / "home"))
        base = RunConfig(
            suite="corruptions",
            models=(MODEL,),
            dataset=f"imagefolder:{images}",
            limit=8,
            batch_size=8,
            device="cpu",
            options=SuiteOptions(corruptions=("defocus_blur",), severities=(1,)),
            out=root / "base",
        )
        out = {"base": base.out, "limit6": root / "limit6", "seed1": root / "seed1"}
        api.run(base)
        api.run(base.replace(limit=6, out=out["limit6"]))
        api.run(base.replace(seed=1, out=out["seed1"]))
    return out


def _check(*args: str | Path) -> tuple[int, str, str]:
    """A real ``freqbench check`` process: exit code, stdout, stderr (whitespace normalised)."""
    proc = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "check", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, " ".join(proc.stdout.split()), " ".join(proc.stderr.split())


def _lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    return path


def _baseline(runs: dict[str, Path], tmp_path: Path, edit: Any = None) -> Path:
    lines = _lines(runs["base"])
    if edit is not None:
        lines = [edit(d) for d in lines]
    return _write(tmp_path / "baseline.jsonl", lines)


def _accuracy(d: dict[str, Any], condition: str, value: float) -> dict[str, Any]:
    if d["metric"] == "accuracy" and d["condition"] == condition:
        return {**d, "value": value}
    return d


def test_a_run_passes_against_its_own_records(runs, tmp_path) -> None:
    code, out, err = _check(runs["base"], "--baseline", _baseline(runs, tmp_path))
    assert (code, err) == (0, "")
    assert "check passed: 2 baseline accuracy record(s) within 0" in out


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-0.5", "-inf"])
def test_the_tolerance_must_be_finite_and_not_negative(runs, tmp_path, tolerance) -> None:
    code, out, err = _check(runs["base"], "--baseline", _baseline(runs, tmp_path), f"--tolerance={tolerance}")
    assert code == 2 and out == ""
    assert err.startswith("error: --tolerance must be a finite number >= 0") and tolerance in err


def test_a_smaller_subset_is_not_compared_with_the_baseline(runs, tmp_path) -> None:
    code, _, err = _check(runs["limit6"], "--baseline", _baseline(runs, tmp_path), "--tolerance", "100")
    assert code == 2
    assert "cannot be compared" in err
    assert "n 6 (run) vs 8 (baseline)" in err and "limit 6 (run) vs 8 (baseline)" in err
    assert "subset" in err


def test_another_seed_is_not_compared_with_the_baseline(runs, tmp_path) -> None:
    code, _, err = _check(runs["seed1"], "--baseline", _baseline(runs, tmp_path), "--tolerance", "100")
    assert code == 2 and "seed 1 (run) vs 0 (baseline)" in err


def test_changes_in_either_direction_are_flagged_and_named(runs, tmp_path) -> None:
    acc = {d["condition"]: d["value"] for d in _lines(runs["base"]) if d["metric"] == "accuracy"}
    cond = "defocus_blur@1"

    # the run is 25 points above the baseline: a corruption that got weaker is flagged too
    up = _baseline(runs, tmp_path, lambda d: _accuracy(d, cond, acc[cond] - 0.25))
    code, _, err = _check(runs["base"], "--baseline", up, "--tolerance", "1")
    assert code == 1
    assert (
        f"rose: {MODEL} / " in err and f"{cond} accuracy: " in err and "(+25.00 points, tolerance 1)" in err
    )
    assert "check failed: 1 of 2 baseline accuracy record(s)" in err
    assert err.count("rose:") == 1 and "dropped:" not in err

    down = _baseline(runs, tmp_path, lambda d: _accuracy(d, "clean", acc["clean"] + 0.25))
    code, _, err = _check(runs["base"], "--baseline", down, "--tolerance", "1")
    assert code == 1 and "dropped: " in err and "clean accuracy" in err and "(-25.00 points" in err

    # within the tolerance (in percentage points) in both directions
    assert _check(runs["base"], "--baseline", up, "--tolerance", "25.5")[0] == 0
    assert _check(runs["base"], "--baseline", down, "--tolerance", "25.5")[0] == 0


def test_other_metrics_are_gated_on_request(runs, tmp_path) -> None:
    loss = next(
        d["value"] for d in _lines(runs["base"]) if d["metric"] == "loss" and d["condition"] == "clean"
    )

    def edit(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "value": loss + 0.5} if d["metric"] == "loss" and d["condition"] == "clean" else d

    baseline = _baseline(runs, tmp_path, edit)
    assert _check(runs["base"], "--baseline", baseline)[0] == 0  # default: accuracy only
    code, _, err = _check(
        runs["base"], "--baseline", baseline, "--metric", "accuracy,loss", "--tolerance", "0.1"
    )
    assert code == 1 and "dropped: " in err and "clean loss" in err and "(-0.50 units, tolerance 0.1)" in err
    code, out, _ = _check(
        runs["base"], "--baseline", baseline, "--metric", "loss", "--metric", "margin", "--tolerance", "1"
    )
    assert code == 0 and "4 baseline loss, margin record(s)" in out

    code, _, err = _check(runs["base"], "--baseline", baseline, "--metric", "acuracy")
    assert code == 2 and "holds no acuracy records; it holds accuracy," in err


def test_a_missing_condition_fails_and_an_extra_run_record_is_noted(runs, tmp_path) -> None:
    lines = _lines(runs["base"])
    extra = next(d for d in lines if d["metric"] == "accuracy" and d["condition"] == "clean")
    baseline = _write(tmp_path / "b.jsonl", [*lines, {**extra, "condition": "fog@3"}])
    code, _, err = _check(runs["base"], "--baseline", baseline)
    assert code == 1 and f"missing: {MODEL} / " in err
    assert f"fog@3 accuracy (baseline {100 * extra['value']:.2f}%)" in err

    smaller = _write(tmp_path / "c.jsonl", [d for d in lines if d["condition"] == "clean"])
    code, out, _ = _check(runs["base"], "--baseline", smaller)
    assert code == 0 and "1 baseline accuracy record(s) within 0; 1 run record(s) not in the baseline" in out


def test_a_value_that_is_not_finite_is_flagged(runs, tmp_path) -> None:
    baseline = _baseline(runs, tmp_path, lambda d: _accuracy(d, "clean", math.nan))
    code, _, err = _check(runs["base"], "--baseline", baseline, "--tolerance", "100")
    assert code == 1 and "changed: " in err and "vs baseline nan (not comparable: not finite)" in err


def test_a_missing_or_foreign_run_directory_is_an_error(runs, tmp_path) -> None:
    baseline = _baseline(runs, tmp_path)
    code, _, err = _check(tmp_path / "nowhere", "--baseline", baseline)
    expected = f"run directory {tmp_path / 'nowhere'} does not exist; pass the --out directory"
    assert code == 2 and err.startswith(f"error: {expected}")
    (tmp_path / "empty").mkdir()
    code, _, err = _check(tmp_path / "empty", "--baseline", baseline)
    assert code == 2 and "is not a freqbench run directory" in err and "missing:" not in err
    code, _, err = _check(baseline, "--baseline", baseline)
    assert code == 2 and "is a file" in err


def test_a_baseline_on_another_dataset_is_an_error(runs, tmp_path) -> None:
    baseline = _baseline(runs, tmp_path, lambda d: {**d, "dataset": "fashion_mnist"})
    code, _, err = _check(runs["base"], "--baseline", baseline)
    assert code == 2 and "the baseline is on dataset 'fashion_mnist', the run on 'imagefolder:" in err


def test_a_baseline_without_scope_is_not_trusted(runs, tmp_path) -> None:
    old = _baseline(runs, tmp_path, lambda d: {k: v for k, v in d.items() if k != "scope"})
    code, _, err = _check(runs["base"], "--baseline", old)
    assert code == 2 and "scope recorded (run) vs absent (baseline) in 2 record(s)" in err
    assert "written before freqbench stored what decides them" in err


def test_a_baseline_that_mixes_runs_is_an_error(runs, tmp_path) -> None:
    lines = _lines(runs["base"])
    twin = next(d for d in lines if d["metric"] == "accuracy")
    baseline = _write(tmp_path / "b.jsonl", [*lines, {**twin, "value": 0.99}])
    code, _, err = _check(runs["base"], "--baseline", baseline)
    assert code == 2 and "holds two different accuracy records" in err and "it mixes runs" in err
    # an exact duplicate is harmless
    assert _check(runs["base"], "--baseline", _write(tmp_path / "c.jsonl", [*lines, twin]))[0] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "holds binary data, not JSONL records (a NUL byte at offset 8)",
        ),
        (b"\xff\xfe{}\n", "holds binary data, not JSONL records (no UTF-8 at offset 0)"),
        (b"[1, 2]\n", ":1 is not a valid record (a JSON list, not an object)"),
        (b'{"model": "m"}\n', ":1 is not a valid record"),
        (b"{not json\n", ":1 is not a valid record"),
    ],
)
def test_a_damaged_baseline_is_an_error(runs, tmp_path, content, message) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(content)
    code, _, err = _check(runs["base"], "--baseline", path)
    assert code == 2 and err.startswith(f"error: baseline {path}") and message in err


def test_a_record_with_a_string_value_is_an_error(runs, tmp_path) -> None:
    baseline = _baseline(runs, tmp_path, lambda d: _accuracy(d, "clean", "0.5"))  # type: ignore[arg-type]
    code, _, err = _check(runs["base"], "--baseline", baseline)
    assert code == 2 and ":1 is not a valid record" in err and "'0.5'" in err


def test_a_missing_baseline_or_a_directory_is_an_error(runs, tmp_path) -> None:
    code, _, err = _check(runs["base"], "--baseline", tmp_path / "none.jsonl")
    assert code == 2 and f"baseline file {tmp_path / 'none.jsonl'} not found" in err
    code, _, err = _check(runs["base"], "--baseline", tmp_path)
    assert code == 2 and "is a directory, expected a records file" in err


def test_the_committed_baseline_records_what_decides_it() -> None:
    """The CI gate's baseline was made by the CI command (``--limit 500``, seed 0) on this suite."""
    from freqbench.report.gate import read_baseline
    from freqbench.suites import SUITES

    path = (
        Path(__file__).resolve().parents[2] / "reports" / "baselines" / "ci-corruptions-fashion_mnist.jsonl"
    )
    records = read_baseline(path)
    version = SUITES.get("corruptions")(SuiteOptions()).version
    assert {r.n for r in records if r.metric == "accuracy"} == {500}
    scopes = {json.dumps(r.scope, sort_keys=True) for r in records}
    assert len(scopes) == 1
    scope = records[0].scope
    assert (scope["limit"], scope["seed"], scope["split"], scope["suite_version"]) == (
        500,
        0,
        "test",
        version,
    )
    assert len({(r.condition, r.metric) for r in records}) == len(records)
