"""Bad inputs to ``run``, ``report`` and ``check``: each a one-line typed error (exit 2, no traceback),
and nothing already stored changed."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
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


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, Path]:
    """A stored run (and its image folder), made once; each case works on a copy."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("prepared")
    folder = root / "images"
    rng = np.random.default_rng(0)
    for c in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
        (folder / c).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / c / "0.png")
    out = root / "run"
    res = runner.invoke(app, ["run", *CHEAP, "--dataset", f"imagefolder:{folder}", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return folder, out


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        m = json.loads((run / "manifest.json").read_text())
        change(m)
        (run / "manifest.json").write_text(json.dumps(m))

    return damage


def _manifest_list(run: Path) -> None:
    m = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps([m]))


def _edit_record(run: Path) -> None:
    """The first record's value as a string; the commits are moved along so only the type is wrong."""
    lines = (run / "records.jsonl").read_text().splitlines()
    d = json.loads(lines[0])
    new = json.dumps({**d, "value": str(d["value"])})
    grow = len(new) - len(lines[0])
    lines[0] = new
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    commits = [json.loads(c) for c in (run / "commits.jsonl").read_text().splitlines()]
    (run / "commits.jsonl").write_text(
        "".join(json.dumps({**c, "end": c["end"] + grow}) + "\n" for c in commits)
    )


def _binary(name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).write_bytes(bytes(range(256)) * 4)

    return damage


LIST = _manifest_list
NO_SEED = _edit_manifest(lambda m: m["config"].pop("seed") and None)
SEED_TEXT = _edit_manifest(lambda m: m["config"].update(seed="0"))
NO_CONFIG = _edit_manifest(lambda m: m.pop("config") and None)

RUN = ["run", *CHEAP, "--dataset", "imagefolder:{folder}"]
CASES: list[tuple[str, list[str], Callable[[Path], None] | None, str]] = [
    # (id, arguments, damage to the stored run first, part of the message)
    ("threads-0", [*RUN, "--out", "{new}", "--threads", "0"], None, "--threads must be at least 1, got 0"),
    (
        "threads-negative",
        [*RUN, "--out", "{new}", "--threads", "-3"],
        None,
        "--threads must be at least 1, got -3",
    ),
    (
        "seed-65-bits",
        [*RUN, "--out", "{new}", "--seed", str(2**64)],
        None,
        "--seed must be an integer in [0, 2**64)",
    ),
    (
        "seed-negative",
        [*RUN, "--out", "{new}", "--seed", "-1"],
        None,
        "--seed must be an integer in [0, 2**64)",
    ),
    ("out-is-a-file", [*RUN, "--out", "{file}"], None, "is a file, not a directory"),
    ("out-under-a-file", [*RUN, "--out", "{file}/run"], None, "which is a file"),
    (
        "eps-on-frequency",
        ["run", "--suite", "frequency", "--eps", "8/255", "--out", "{new}"],
        None,
        "suite 'frequency' does not use --eps (it takes no suite options)",
    ),
    (
        "severities-on-frequency",
        ["run", "--suite", "frequency", "--severities", "9", "--out", "{new}"],
        None,
        "suite 'frequency' does not use --severities",
    ),
    (
        "corruptions-on-adversarial",
        ["run", "--suite", "adversarial", "--corruptions", "fog", "--out", "{new}"],
        None,
        "suite 'adversarial' does not use --corruptions (it takes --eps)",
    ),
    (
        "baseline-on-frequency",
        ["run", "--suite", "frequency", "--model", MODEL, "--baseline", MODEL, "--out", "{new}"],
        None,
        "does not use --baseline",
    ),
    ("resume-and-force", ["run", "--resume", "--force", "--out", "{run}"], None, "pass one of them"),
    ("resume-other-seed", ["run", "--resume", "--out", "{run}", "--seed", "3"], None, "seed 0 vs 3"),
    ("other-config", [*RUN, "--out", "{run}", "--seed", "3"], None, "holds results of another configuration"),
    (
        "resume-manifest-list",
        ["run", "--resume", "--out", "{run}"],
        LIST,
        "expected a JSON object, found a list",
    ),
    ("resume-manifest-no-seed", ["run", "--resume", "--out", "{run}"], NO_SEED, "config: missing seed"),
    (
        "resume-manifest-seed-text",
        ["run", "--resume", "--out", "{run}"],
        SEED_TEXT,
        "config.seed: expected an integer, got str '0'",
    ),
    ("resume-manifest-binary", ["run", "--resume", "--out", "{run}"], _binary("manifest.json"), "not UTF-8"),
    ("run-into-damaged-manifest", [*RUN, "--out", "{run}"], NO_CONFIG, "it has no 'config'"),
    ("report-manifest-list", ["report", "{run}"], LIST, "expected a JSON object, found a list"),
    ("report-manifest-no-config", ["report", "{run}"], NO_CONFIG, "it has no 'config'"),
    (
        "report-manifest-seed-text",
        ["report", "{run}", "-f", "md"],
        SEED_TEXT,
        "config.seed: expected an integer",
    ),
    (
        "report-record-string-value",
        ["report", "{run}", "-f", "csv"],
        _edit_record,
        "'value' must be a number",
    ),
    ("report-records-binary", ["report", "{run}"], _binary("records.jsonl"), "records.jsonl"),
    ("report-output-directory", ["report", "{run}", "-f", "md", "--output", "{dir}"], None, "is a directory"),
    ("report-console-output", ["report", "{run}", "--output", "{dir}/r.txt"], None, "--output writes a file"),
    ("report-not-a-run", ["report", "{dir}"], None, "not a freqbench run directory"),
    ("check-binary-baseline", ["check", "{run}", "--baseline", "{binary}"], None, "binary data"),
    (
        "check-records-binary",
        ["check", "{run}", "--baseline", "{run}/records.jsonl"],
        _binary("records.jsonl"),
        "records.jsonl",
    ),
]


@pytest.mark.parametrize(("args", "damage", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_one_line_error_and_changes_nothing(
    prepared, tmp_path, capsys, args: list[str], damage: Callable[[Path], None] | None, message: str
) -> None:
    folder, source = prepared
    run = shutil.copytree(source, tmp_path / "run")
    if damage is not None:
        damage(run)
    (tmp_path / "file").write_text("a file, not a directory")
    (tmp_path / "dir").mkdir()
    (tmp_path / "binary.jsonl").write_bytes(b"\x00\xff" * 64 + b"\n")
    where = {"folder": folder, "run": run, "new": tmp_path / "new", "file": tmp_path / "file",
             "dir": tmp_path / "dir", "binary": tmp_path / "binary.jsonl"}  # fmt: skip
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert _main(*(a.format(**where) for a in args)) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0]
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "new").exists()


def test_a_locked_run_directory_names_the_holder(prepared, tmp_path, capsys) -> None:
    folder, source = prepared
    run = shutil.copytree(source, tmp_path / "run")
    with RunStore(run).writing():
        before = _snapshot(run)
        assert _main("run", *CHEAP, "--dataset", f"imagefolder:{folder}", "--out", str(run)) == 2
        assert f"is being written by another freqbench run (pid {os.getpid()})" in capsys.readouterr().err
        assert _snapshot(run) == before
