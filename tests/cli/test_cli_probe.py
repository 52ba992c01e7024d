"""``freqbench probe NAME``: probes stored in a run directory like suites (keyed, resumable, one
configuration per directory), their records checked against numpy computations from the stored
arrays, and a SIGKILL mid-run resumed to exactly the records of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_main, snapshot

from freqbench.store.run import RunStore

MODELS = ["--model", "resnet20_cifar10", "--model", "resnet32_cifar10"]  # random init, seeded


def _by(records, **want):
    return [r for r in records if all(getattr(r, k) == v for k, v in want.items())]


def _radius(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    return np.hypot(yy, xx)


def test_heatmap_probe_run_stores_records_from_its_arrays(image_folder, tmp_path) -> None:
    out = tmp_path / "hm"
    code = run_main(
        "probe", "fourier_heatmap", "--model", "resnet20_cifar10", "--dataset", f"imagefolder:{image_folder}",
        "--limit", "6", "--eps", "4", "--option", "basis=cosine", "--out", str(out), "--threads", "1",
    )  # fmt: skip
    assert code == 0
    store = RunStore(out)
    manifest = store.read_manifest()
    assert manifest["config"]["suite"] == "probe:fourier_heatmap"
    assert manifest["probes"] == ["fourier_heatmap"]
    assert manifest["config"]["options"]["probe"]["basis"] == "cosine"
    assert manifest["config"]["options"]["probe"]["eps"] == 4.0
    records = store.records()
    (key,) = {r.key for r in records}
    arrays = store.arrays(key)
    error = arrays["error"]
    assert error.shape == (31, 31)
    n = int(arrays["correct"].shape[0])
    by_metric = {r.metric: r for r in records}
    assert set(by_metric) == {"clean_error", "mean_error", "high_frequency_error"}
    assert all(r.n == n == 6 for r in records)
    # independent: the mean over the full map's cells, and over its cells at radius >= 32 / 4
    assert by_metric["mean_error"].value == pytest.approx(error.mean(), abs=1e-12)
    ring = _radius(error.shape) >= 8
    assert by_metric["high_frequency_error"].value == pytest.approx(error[ring].mean(), abs=1e-12)
    assert by_metric["clean_error"].value == pytest.approx(1 - arrays["clean_correct"].mean())
    for r in records:
        assert r.ci_low <= r.value <= r.ci_high
        assert r.tags["probe"] == "fourier_heatmap" and r.tags["kind"] == "probe"
        assert r.info["options"]["basis"] == "cosine"
    # report.md with its plot linked, the plot files written
    md = (out / "report.md").read_text()
    assert "probe fourier_heatmap" in md and "plots/fourier_heatmap-" in md
    assert list((out / "plots").glob("fourier_heatmap-*.png"))


def test_filter_and_input_spectrum_records_equal_numpy_on_stored_arrays(image_folder, tmp_path) -> None:
    fs, ins = tmp_path / "fs", tmp_path / "ins"
    data = f"imagefolder:{image_folder}"
    assert (
        run_main(
            "probe", "filter_spectrum", "--model", "resnet20_cifar10", "--dataset", data, "--out", str(fs)
        )
        == 0
    )
    assert run_main("probe", "input_spectrum", "--dataset", data, "--out", str(ins)) == 0

    store = RunStore(fs)
    records = store.records()
    arrays = store.arrays(records[0].key)
    offsets = arrays["layer_offsets"]
    assert len(records) == len(offsets) - 1 == 19  # ResNet-20: 19 3x3 convolutions
    for i, r in enumerate(sorted(records, key=lambda r: r.tags["order"])):
        values = arrays["statistic"][offsets[i] : offsets[i + 1]]
        values = values[np.isfinite(values)]
        assert r.value == pytest.approx(values.mean(), rel=1e-12)
        assert r.n == values.size
        half = 1.959963984540054 * values.std(ddof=1) / np.sqrt(values.size)
        assert (r.ci_low, r.ci_high) == pytest.approx((r.value - half, r.value + half), rel=1e-9)
        assert r.tags["first_layer"] == (i == 0)

    store = RunStore(ins)
    records = store.records()
    assert {r.model for r in records} == {""}
    arrays = store.arrays(records[0].key)
    for r in _by(records, metric="spectral_statistic"):
        if r.condition == "all":
            assert r.value == pytest.approx(arrays["statistic"].mean())
            assert r.n == 20
        else:
            sel = arrays["labels"] == r.tags["label"]
            assert r.value == pytest.approx(arrays["statistic"][sel].mean())
            assert r.n == int(sel.sum()) == 2


def test_probe_refusals_leave_the_store_unchanged(image_folder, tmp_path) -> None:
    out = tmp_path / "fs"
    data = f"imagefolder:{image_folder}"
    assert (
        run_main(
            "probe", "filter_spectrum", "--model", "resnet20_cifar10", "--dataset", data, "--out", str(out)
        )
        == 0
    )
    before = snapshot(out)
    # another configuration into the same directory, an unknown option, a bad value, a missing model,
    # a model for a data-only probe, --resume changing a result-deciding option
    bad = [
        ["probe", "filter_spectrum", "--model", "resnet20_cifar10", "--dataset", data, "--out", str(out),
         "--option", "grid=17"],
        ["probe", "filter_spectrum", "--model", "resnet20_cifar10", "--dataset", data, "--out", str(out),
         "--option", "colour=red"],
        ["probe", "fourier_heatmap", "--model", "resnet20_cifar10", "--dataset", data, "--out", str(out),
         "--eps", "-1"],
        ["probe", "fourier_heatmap", "--dataset", data, "--out", str(out)],
        ["probe", "input_spectrum", "--model", "resnet20_cifar10", "--dataset", data, "--out", str(out)],
        ["probe", "filter_spectrum", "--out", str(out), "--resume", "--option", "bins=8"],
        ["probe", "no_such_probe", "--dataset", data, "--out", str(out)],
        ["probe", "filter_spectrum", "--option", "grid", "--dataset", data, "--out", str(out)],
        ["run", "--resume", "--out", str(out)],  # a probe run is resumed by `freqbench probe`
    ]  # fmt: skip
    for args in bad:
        assert run_main(*args) == 2, args
        assert snapshot(out) == before, args
    # --resume with the stored settings (repeated or left out) evaluates nothing new
    assert run_main("probe", "filter_spectrum", "--out", str(out), "--resume") == 0
    assert snapshot(out)["records.jsonl"] == before["records.jsonl"]


def test_ls_probes_lists_every_probe_with_its_summary(capsys) -> None:
    assert run_main("ls", "probes") == 0
    text = capsys.readouterr().out
    for name in ("input_spectrum", "filter_spectrum", "fourier_heatmap", "fourier_mask", "links"):
        assert name in text


def test_python_api_returns_the_arrays(image_folder, tmp_path) -> None:
    import freqbench

    result = freqbench.probe(
        "fourier_heatmap", model="resnet20_cifar10", dataset=f"imagefolder:{image_folder}",
        limit=4, out=tmp_path / "api", eps=2.0, device="cpu",
    )  # fmt: skip
    arrays = result.arrays("resnet20_cifar10")
    assert arrays["error"].shape == (31, 31)
    assert result.evaluated == 1
    again = freqbench.probe(
        "fourier_heatmap", model="resnet20_cifar10", dataset=f"imagefolder:{image_folder}",
        limit=4, out=tmp_path / "api", eps=2.0, device="cpu",
    )  # fmt: skip
    assert again.evaluated == 0  # stored, keyed by content
    np.testing.assert_array_equal(again.arrays("resnet20_cifar10")["error"], arrays["error"])


def _cmd(image_folder: Path, out: Path, *extra: str) -> list[str]:
    data = f"imagefolder:{image_folder}"
    return [sys.executable, "-m", "freqbench.cli", "probe", "fourier_heatmap", *MODELS, "--limit", "6",
            "--dataset", data, "--out", str(out), "--threads", "1", *extra]  # fmt: skip


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]] if path.exists() else []


def test_sigkill_then_resume_gives_the_records_of_an_uninterrupted_probe_run(image_folder, tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cmd(image_folder, full), env=env, check=True, capture_output=True)
    expected = _lines(full / "records.jsonl")
    assert len({d["key"] for d in expected}) == 2

    proc = subprocess.Popen(
        _cmd(image_folder, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and not _lines(killed / "commits.jsonl"):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(_lines(killed / "commits.jsonl")) == 1, "the kill must land between the two models"

    subprocess.run([*_cmd(image_folder, killed), "--resume"], env=env, check=True, capture_output=True)
    got = _lines(killed / "records.jsonl")
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, expected))
    store_full, store_killed = RunStore(full), RunStore(killed)
    for key in store_full.completed_keys():
        np.testing.assert_array_equal(store_full.arrays(key)["correct"], store_killed.arrays(key)["correct"])


def test_links_across_a_suite_run_and_a_probe_run_equals_scipy(image_folder, tmp_path, capsys) -> None:
    from scipy.stats import spearmanr

    data = f"imagefolder:{image_folder}"
    models = [a for m in ("resnet20_cifar10", "resnet32_cifar10", "resnet44_cifar10", "resnet56_cifar10")
              for a in ("--model", m)]  # fmt: skip
    suite, fs = tmp_path / "suite", tmp_path / "fs"
    assert run_main("run", "--suite", "corruptions", "--corruptions", "contrast", "--severities", "1",
                    *models, "--dataset", data, "--out", str(suite), "--threads", "1") == 0  # fmt: skip
    assert run_main("probe", "filter_spectrum", *models, "--dataset", data, "--out", str(fs)) == 0
    capsys.readouterr()
    assert (
        run_main("probe", "links", "--runs", str(suite), "--runs", str(fs), "--out", str(tmp_path / "l.md"))
        == 0
    )
    text = capsys.readouterr().out
    first = {r.model: r.value for r in RunStore(fs).records() if r.tags.get("first_layer")}
    clean = {
        r.model: r.value
        for r in RunStore(suite).records()
        if r.condition == "clean" and r.metric == "accuracy"
    }
    names = sorted(first)
    rho = spearmanr([first[m] for m in names], [clean[m] for m in names]).statistic
    row = next(line for line in text.splitlines() if "clean accuracy" in line)
    if rho == rho:  # not NaN (all clean accuracies equal would leave no correlation)
        assert f"{rho:.2f}" in row
    assert (tmp_path / "l.md").read_text().strip() == text.strip()
    # links takes runs only
    assert run_main("probe", "links", "--model", "resnet20_cifar10", "--runs", str(fs)) == 2
    assert run_main("probe", "links") == 2


def test_probe_under_torchrun_is_refused(image_folder, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "fs"
    args = [
        "probe",
        "filter_spectrum",
        "--model",
        "resnet20_cifar10",
        "--dataset",
        f"imagefolder:{image_folder}",
    ]
    assert run_main(*args, "--out", str(out)) == 2
    assert not out.exists()
