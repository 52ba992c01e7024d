"""C dataset files (CIFAR-10-C) enter the result key through the bytes read, not the folder they sit in.

Two C layouts with the same shapes and different images: the C dataset condition gets another content
key (the clean one keeps its key), a real ``freqbench run`` on files replaced in place refuses to take
the stored result for the new files (exit 2, nothing stored changes), and a run into another ``--out``
gives the per-sample losses computed here directly from the new files.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from freqbench import api
from freqbench.api import build_model, get_suite, load_dataset
from freqbench.config import RunConfig, SuiteOptions
from freqbench.data import DataRequest
from freqbench.data.cifar_c_writer import write_c_dataset
from freqbench.engine.loop import condition_key
from freqbench.engine.steps import StepContext, build_step
from freqbench.models import load_model

N = 24
COND = "gaussian_noise@5"
OPTIONS = SuiteOptions(corruptions=("gaussian_noise",), severities=(5,))
CONFIG = RunConfig(suite="cifar10c", models=("resnet20_cifar10",), dataset="cifar10", device="cpu",
                   options=OPTIONS)  # fmt: skip
LABELS = np.random.default_rng(3).integers(0, 10, N)
CLEAN_IMAGES = np.random.default_rng(4).integers(0, 256, (N, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))


def _c_images(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (5 * N, 32, 32, 3), dtype=np.uint8)


def write_layout(root: Path, c_seed: int) -> np.ndarray:
    """``root/cifar-10-batches-py`` (the official test batch) and ``root/CIFAR-10-C`` with one corruption."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    data = CLEAN_IMAGES.transpose(0, 3, 1, 2).reshape(N, 3072)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": data, b"labels": LABELS.tolist()}, protocol=2))
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    images = _c_images(c_seed)
    write_c_dataset(root, {"gaussian_noise": images}, LABELS)
    return images[4 * N :]  # severity 5


def _keys(root: Path) -> dict[str, str]:
    data = load_dataset("cifar10", root=root)
    suite = get_suite("cifar10c", OPTIONS)
    model = build_model("resnet20_cifar10", seed=0, data=data)
    config = CONFIG.replace(data_root=root)
    ctx = StepContext(torch.device("cpu"), DataRequest(root=root), root / "state")
    return {c.key: condition_key(model, data, suite, c, build_step(c, ctx), config) for c in suite.conditions}


def test_other_files_are_another_key(tmp_path: Path) -> None:
    write_layout(tmp_path / "a", c_seed=1)
    write_layout(tmp_path / "b", c_seed=2)
    write_layout(tmp_path / "a_copy", c_seed=1)
    a, b, same = _keys(tmp_path / "a"), _keys(tmp_path / "b"), _keys(tmp_path / "a_copy")
    assert a["clean"] == b["clean"] and a[COND] != b[COND]
    assert same == a  # identical bytes in another folder: the same result, found as stored


def _expected_losses(severity5: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy of the model on the images read back, computed here."""
    torch.manual_seed(0)  # how `freqbench run --seed 0` builds a random-init model
    with pytest.warns(UserWarning, match="randomly initialised"):
        model, _ = load_model("resnet20_cifar10")
    x = torch.from_numpy(severity5).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        logits = model(x)
    return F.cross_entropy(logits, torch.from_numpy(LABELS), reduction="none").numpy()


def _cli(root: Path, out: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """The same run as ``api.run(CONFIG)`` on ``root`` into ``out``, as a user starts it."""
    args = ["run", "--suite", "cifar10c", "--model", "resnet20_cifar10", "--dataset", "cifar10",
            "--data-root", str(root), "--corruptions", "gaussian_noise", "--severities", "5",
            "--device", "cpu", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "FREQBENCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args], env=env, capture_output=True, text=True
    )


def _losses(out: Path) -> np.ndarray:
    recs = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    key = next(r["key"] for r in recs if r["condition"] == COND)
    return np.load(out / "arrays" / f"{key}.npz")["loss"]


def test_files_replaced_in_place_are_not_taken_as_stored(tmp_path: Path) -> None:
    root, out, home = tmp_path / "data", tmp_path / "run", tmp_path / "home"
    old = write_layout(root, c_seed=1)
    with pytest.warns(UserWarning, match="randomly initialised"):
        api.run(CONFIG.replace(data_root=root, out=out))
    np.testing.assert_allclose(_losses(out), _expected_losses(old), rtol=1e-4, atol=1e-5)
    stored = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.suffix == ".jsonl"}

    new = write_layout(root, c_seed=2)  # same shapes, same --data-root, other images
    again = _cli(root, out, home)  # a real process, as the user's second run
    assert again.returncode == 2, again.stdout + again.stderr
    errors = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert (
        len(errors) == 1 and f"already holds resnet20_cifar10 / cifar10 / {COND} computed from" in errors[0]
    )
    assert "Traceback" not in again.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.suffix == ".jsonl"} == stored

    with pytest.warns(UserWarning, match="randomly initialised"):
        api.run(CONFIG.replace(data_root=root, out=tmp_path / "fresh"))
    np.testing.assert_allclose(_losses(tmp_path / "fresh"), _expected_losses(new), rtol=1e-4, atol=1e-5)
    assert not np.allclose(_expected_losses(new), _expected_losses(old))
