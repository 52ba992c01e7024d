"""Training shares the engine's device, thread, compatibility and scoring rules (issue 8 item 11).

``freqbench train --device nonsense`` used to end in a raw torch error (after loading the data), the
thread count set by ``num_threads`` stayed set after training, and the test split was scored by a
loop of its own. The scores are checked here against a direct computation with ``F.cross_entropy``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.errors import ConfigError, IncompatibleError
from freqbench.train.recipe import TrainConfig, evaluate, fit


def _noise(n: int, *, seed: int, split: str, channels: int = 1, size: int = 28) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    info = DatasetInfo("noise", split, 10, tuple(map(str, range(10))), "synthetic")
    images = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    return ArrayDataset(info, images, rng.integers(0, 10, n).astype(np.int64))


TRAIN = _noise(8, seed=0, split="train")
TEST = _noise(12, seed=1, split="test")


def _cfg(out: Path, **changes: object) -> TrainConfig:
    base = TrainConfig(out=out, epochs=1, batch_size=4, eval_batch_size=5)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_bad_devices_are_the_engines_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--device 'nonsense' is not a device name; expected auto, cpu"):
        fit(_cfg(tmp_path, device="nonsense"), train_data=TRAIN, test_data=TEST, progress=False)
    with pytest.raises(IncompatibleError, match="the CPU has no device index"):
        fit(_cfg(tmp_path, device="cpu:3"), train_data=TRAIN, test_data=TEST, progress=False)
    assert not tmp_path.joinpath("checkpoints").exists()


def test_cli_bad_device_is_one_line_before_any_data_is_read(tmp_path: Path) -> None:
    env = {**os.environ, "FREQBENCH_HOME": str(tmp_path / "home")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "freqbench.cli",
            "train",
            "--device",
            "nonsense",
            "--out",
            str(tmp_path / "o"),
            "--data-root",
            str(tmp_path / "nothing-here"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --device 'nonsense' is not a device name"), (
        res.stderr
    )


def test_thread_count_is_restored_after_training(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    fit(
        _cfg(tmp_path, num_threads=wanted),
        train_data=TRAIN,
        test_data=TEST,
        progress=False,
        log=lambda _: None,
    )
    assert torch.get_num_threads() == before


def test_incompatible_data_names_every_mismatch(tmp_path: Path) -> None:
    rgb = _noise(8, seed=2, split="train", channels=3, size=32)
    with pytest.raises(IncompatibleError) as err:
        fit(_cfg(tmp_path), train_data=rgb, test_data=TEST, progress=False)
    msg = str(err.value)
    assert msg.startswith("resnet20_fashion_mnist cannot be trained on noise: ")
    assert "the model takes 1-channel images, the dataset has 3 channels" in msg
    assert "the model expects 28x28 inputs, the dataset's images are 32x32" in msg
    assert "\n" not in msg


def test_test_split_scores_match_a_direct_computation() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    loss, acc = evaluate(model, TEST, batch_size=5, device=torch.device("cpu"))
    x = torch.from_numpy(TEST.images).permute(0, 3, 1, 2).double() / 255
    w, b = (p.detach().double() for p in model[1].parameters())
    logits = x.flatten(1) @ w.T + b
    y = torch.from_numpy(TEST.labels)
    assert loss == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    assert acc == float((logits.argmax(1) == y).double().mean())
