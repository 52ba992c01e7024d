"""End-to-end CLI: run, report, check, ls and the errors users meet, on a tiny PNG image folder."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli_helpers import run_main as _main
from typer.testing import CliRunner

from freqbench.cli.main import app
from freqbench.store.run import RunStore

runner = CliRunner()
MODEL = "resnet20_cifar10"  # architecture only: seeded random initialisation


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_report_and_check(image_folder, tmp_path) -> None:
    out = tmp_path / "run"
    res = _run(
        "run",
        "--suite",
        "frequency",
        "--model",
        MODEL,
        "--dataset",
        f"imagefolder:{image_folder}",
        "--out",
        str(out),
        "--limit",
        "12",
        "--batch-size",
        "5",
    )
    assert res.exit_code == 0, res.output
    assert "low_pass_ideal: accuracy" in res.output
    md = (out / "report.md").read_text()
    assert "fixed 12-sample subset (n = 12)" in md and "frequency v1" in md
    records = RunStore(out).records()
    accs = [r for r in records if r.metric == "accuracy"]
    from freqbench.config import SuiteOptions
    from freqbench.suites import SUITES

    assert [r.condition for r in accs] == [c.key for c in SUITES.get("frequency")(SuiteOptions()).conditions]
    assert all(r.n == 12 for r in accs)

    res = _run("report", str(out), "--format", "csv")
    rows = list(csv.reader(io.StringIO(res.output)))
    assert rows[0][1] == "clean" and rows[1][0] == MODEL and len(rows[1]) == len(accs) + 1
    assert float(rows[1][1]) == pytest.approx(100 * accs[0].value, abs=1e-3)

    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text((out / "records.jsonl").read_text())
    assert _run("check", str(out), "--baseline", str(baseline)).exit_code == 0

    lines = [json.loads(line) for line in baseline.read_text().splitlines()]
    target = next(d for d in lines if d["metric"] == "accuracy" and d["condition"] == "low_pass_ideal@r=4")
    target["value"] += 0.2
    lines.append({**target, "condition": "fog@9"})
    baseline.write_text("".join(json.dumps(d) + "\n" for d in lines))
    res = runner.invoke(app, ["check", str(out), "--baseline", str(baseline), "--tolerance", "1"])
    assert res.exit_code == 1
    assert "dropped: resnet20_cifar10 / " in res.output and "low_pass_ideal@r=4" in res.output
    assert "missing:" in res.output and "fog@9" in res.output

    # a second run into the same directory evaluates nothing and stores nothing new
    before = (out / "records.jsonl").read_text()
    res = _run(
        "run",
        "--suite",
        "frequency",
        "--model",
        MODEL,
        "--dataset",
        f"imagefolder:{image_folder}",
        "--out",
        str(out),
        "--limit",
        "12",
    )
    assert "0 condition(s) evaluated" in res.output
    assert (out / "records.jsonl").read_text() == before


def test_ls_lists_registries() -> None:
    res = _run("ls", "models", "resnet*_cifar10*")
    assert "resnet20_cifar10.akamaster" in res.output and "resnet56_cifar10" in res.output
    assert "phase_scramble" in _run("ls", "perturbations").output
    assert "frequency" in _run("ls", "suites").output


def test_errors_are_clear_and_exit_2(image_folder, tmp_path, capsys) -> None:
    ds = f"imagefolder:{image_folder}"
    assert (
        _main(
            "run",
            "--suite",
            "frequency",
            "--model",
            "resnet20_cifar1",
            "--dataset",
            ds,
            "--out",
            str(tmp_path / "a"),
        )
        == 2
    )
    assert "Did you mean" in capsys.readouterr().err
    assert _main("run", "--suite", "frequncy", "--dataset", ds, "--out", str(tmp_path / "b")) == 2
    assert "'frequency'" in capsys.readouterr().err
    assert (
        _main(
            "run",
            "--suite",
            "frequency",
            "--model",
            "resnet20_fashion_mnist",
            "--dataset",
            ds,
            "--out",
            str(tmp_path / "c"),
        )
        == 2
    )
    assert "Pick a model made for this dataset" in capsys.readouterr().err
    assert _main("report", str(tmp_path / "nowhere")) == 2
    assert "not a freqbench run directory" in capsys.readouterr().err
    assert (
        _main(
            "run",
            "--suite",
            "frequency",
            "--dataset",
            "imagefolder:/no/such/folder",
            "--out",
            str(tmp_path / "d"),
        )
        == 2
    )
    assert "/no/such/folder" in capsys.readouterr().err
