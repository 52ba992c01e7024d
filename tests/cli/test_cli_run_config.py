"""One run directory, one configuration: a second run with other result-deciding settings is refused
and changes nothing; ``--resume`` takes the stored settings; ``--force`` starts over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import run_main as _main
from cli_helpers import snapshot as _snapshot
from typer.testing import CliRunner

from freqbench.cli.main import app
from freqbench.store.run import RunStore

runner = CliRunner()
MODEL = "resnet20_cifar10"
CHEAP = ["--suite", "corruptions", "--corruptions", "gaussian_noise", "--severities", "1", "--model", MODEL]


def _args(folder: Path, out: Path, *extra: str) -> list[str]:
    return ["run", *CHEAP, "--dataset", f"imagefolder:{folder}", "--out", str(out), "--limit", "8", *extra]


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def stored(image_folder, tmp_path) -> Path:
    out = tmp_path / "run"
    res = runner.invoke(app, _args(image_folder, out), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        (["--seed", "7"], "seed 0 vs 7"),
        (["--limit", "6"], "limit 8 vs 6"),
        (["--severities", "2"], "severities [1] vs [1, 2]"),  # repeated options add up
        (["--corruptions", "shot_noise"], "corruptions ['gaussian_noise'] vs ['gaussian_noise', 'shot_"),
    ],
)
def test_other_settings_into_a_stored_run_are_refused(image_folder, stored, capsys, extra, shown) -> None:
    before = _snapshot(stored)
    capsys.readouterr()
    assert _main(*_args(image_folder, stored), *extra) == 2
    line = _error_line(capsys.readouterr().err)
    assert "holds results of another configuration" in line and shown in line
    assert "--resume" in line and "--force" in line
    assert _snapshot(stored) == before


def test_another_dataset_or_data_root_is_refused(image_folder, stored, tmp_path, capsys) -> None:
    other = shutil.copytree(image_folder, tmp_path / "other")
    before = _snapshot(stored)
    capsys.readouterr()
    assert _main(*_args(other, stored)) == 2
    assert f"dataset 'imagefolder:{image_folder}' vs 'imagefolder:{other}'" in _error_line(
        capsys.readouterr().err
    )
    assert _main(*_args(image_folder, stored), "--data-root", str(tmp_path)) == 2
    assert f"data_root None vs '{tmp_path}'" in _error_line(capsys.readouterr().err)
    assert _snapshot(stored) == before


def test_changed_weights_behind_a_model_name_are_refused(image_folder, stored, capsys) -> None:
    manifest = json.loads((stored / "manifest.json").read_text())
    manifest["models"][MODEL]["weights"] = "0" * 64  # as if other weights had been stored
    (stored / "manifest.json").write_text(json.dumps(manifest))
    before = _snapshot(stored)
    capsys.readouterr()
    assert _main(*_args(image_folder, stored)) == 2
    line = _error_line(capsys.readouterr().err)
    assert "holds results of another configuration" in line and "weights" in line
    assert _snapshot(stored) == before


def test_settings_that_do_not_change_results_may_differ(image_folder, stored) -> None:
    before = (stored / "records.jsonl").read_bytes()
    res = runner.invoke(
        app, _args(image_folder, stored, "--batch-size", "3", "--threads", "1", "--device", "cpu")
    )
    assert res.exit_code == 0, res.output
    assert "0 condition(s) evaluated" in res.output
    assert (stored / "records.jsonl").read_bytes() == before


def test_resume_takes_the_stored_settings_and_refuses_result_changes(image_folder, stored, capsys) -> None:
    before = _snapshot(stored)
    capsys.readouterr()
    assert _main("run", "--resume", "--out", str(stored), "--seed", "7") == 2
    line = _error_line(capsys.readouterr().err)
    assert "--resume continues the run" in line and "seed 0 vs 7" in line
    assert _main("run", "--resume", "--out", str(stored), "--suite", "frequency") == 2
    assert "suite 'corruptions' vs 'frequency'" in _error_line(capsys.readouterr().err)
    assert _main("run", "--resume", "--force", "--out", str(stored)) == 2
    assert "pass one of them" in _error_line(capsys.readouterr().err)
    assert _snapshot(stored) == before
    # the same settings again, or ones that do not change results, are fine
    for extra in ([], ["--batch-size", "2", "--threads", "1"], _args(image_folder, stored)[1:]):
        res = runner.invoke(app, ["run", "--resume", "--out", str(stored), *extra])
        assert res.exit_code == 0 and "0 condition(s) evaluated" in res.output, res.output
    assert (stored / "records.jsonl").read_bytes() == before["records.jsonl"]


def test_force_starts_over(image_folder, stored) -> None:
    old_keys = RunStore(stored).completed_keys()
    res = runner.invoke(app, _args(image_folder, stored, "--seed", "7", "--force"))
    assert res.exit_code == 0, res.output
    assert "2 condition(s) evaluated" in res.output
    store = RunStore(stored)
    assert store.config().seed == 7
    assert len(store.completed_keys()) == 2 and not store.completed_keys() & old_keys
    assert {r.key for r in store.records()} == store.completed_keys()
    assert sorted(p.stem for p in (stored / "arrays").iterdir()) == sorted(store.completed_keys())
    assert "seed**: 7" in (stored / "report.md").read_text()


def test_a_directory_without_stored_results_takes_the_new_settings(image_folder, stored) -> None:
    # as if the first run had been stopped before its first condition was stored
    (stored / "commits.jsonl").write_bytes(b"")
    res = runner.invoke(app, _args(image_folder, stored, "--seed", "7"))
    assert res.exit_code == 0, res.output
    assert "2 condition(s) evaluated" in res.output
    store = RunStore(stored)
    assert store.config().seed == 7 and len(store.records()) == len(
        store.records_path.read_text().splitlines()
    )


def test_limit_beyond_the_dataset_says_so_in_the_header(image_folder, tmp_path) -> None:
    out = tmp_path / "run"
    args = _args(image_folder, out)
    args[args.index("--limit") + 1] = "500"
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "all samples: --limit 500 exceeds the dataset's 20 (n = 20)" in (out / "report.md").read_text()
    assert json.loads((out / "manifest.json").read_text())["data"]["available"] == 20
