"""A run killed with SIGKILL mid-way and resumed ends with exactly the records of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ARGS = ["--suite", "frequency", "--model", "resnet20_cifar10", "--limit", "20", "--batch-size", "4"]


def _cmd(image_folder: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "freqbench.cli", "run", *ARGS, "--dataset", f"imagefolder:{image_folder}",
            "--out", str(out), *extra]  # fmt: skip


def _lines(path: Path) -> list[dict]:
    # a line without its newline is still being written: ignore it
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def test_sigkill_then_resume_loses_and_repeats_nothing(image_folder, tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cmd(image_folder, full), env=env, check=True, capture_output=True)
    expected = _lines(full / "records.jsonl")

    proc = subprocess.Popen(
        _cmd(image_folder, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    records = killed / "records.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if records.exists() and len({d["key"] for d in _lines(records)}) >= 8:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = {d["key"] for d in _lines(records)}
    assert 8 <= len(partial) < len({d["key"] for d in expected}), "the kill must land mid-run"

    subprocess.run([*_cmd(image_folder, killed), "--resume"], env=env, check=True, capture_output=True)
    got = _lines(records)
    assert len(got) == len(expected)
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, expected))
    assert not list((killed / "arrays").glob("*.tmp"))
