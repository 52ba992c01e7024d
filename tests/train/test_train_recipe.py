"""The training recipe on a tiny synthetic dataset: learning, checkpoints, bit-identical resume, export.

The synthetic images put a bright stripe at a class-dependent row (10 classes, 28x28, 1 channel), so
the default ``resnet20_fashion_mnist`` architecture can learn them within two short epochs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.errors import ConfigError, IncompatibleError
from freqbench.models import load_model
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.train.checkpoints import list_checkpoints, load_checkpoint
from freqbench.train.recipe import Schedule, TrainConfig, fit


class Interrupted(Exception):
    """Stands in for a kill right after an epoch's checkpoint was written."""


def stripes(n: int, *, seed: int, split: str) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28, 1), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k : 4 + 2 * k, 4:24, 0] = 250
    info = DatasetInfo("stripes", split, 10, tuple(str(k) for k in range(10)), "synthetic")
    return ArrayDataset(info, images, labels.astype(np.int64))


TRAIN = stripes(96, seed=0, split="train")
TEST = stripes(40, seed=1, split="test")


def _cfg(out: Path, **changes: object) -> TrainConfig:
    base = TrainConfig(
        model="resnet20_fashion_mnist", dataset="stripes", out=out, epochs=2, batch_size=16, lr=0.05
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _run(cfg: TrainConfig, **kwargs: object):
    return fit(cfg, train_data=TRAIN, test_data=TEST, progress=False, log=lambda _: None, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory):
    return _run(_cfg(tmp_path_factory.mktemp("straight")))


def test_loss_decreases_and_checkpoints_are_written(straight) -> None:
    history = straight.history
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert history[0]["train_loss"] < np.log(10) + 0.5  # near chance at most after one epoch
    folder = straight.weights.parent / "checkpoints"
    assert [e for e, _ in list_checkpoints(folder)] == [1, 2]
    state = load_checkpoint(folder / "epoch_002.pt")
    assert state["epoch"] == 2 and {"model", "optimizer", "scheduler", "rng", "history"} <= set(state)
    lines = (straight.weights.parent / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_cosine_schedule_reaches_zero(straight) -> None:
    # CosineAnnealingLR over all steps ends at lr 0 (eta_min), written out: 0.05 * (1 + cos(pi)) / 2.
    assert straight.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_resume_after_kill_is_bit_identical(tmp_path: Path, straight) -> None:
    cfg = _cfg(tmp_path / "resumed")

    def kill_after_first_epoch(message: str) -> None:
        if message.startswith("epoch 1/"):
            raise Interrupted

    with pytest.raises(Interrupted):
        fit(cfg, train_data=TRAIN, test_data=TEST, progress=False, log=kill_after_first_epoch)
    assert [e for e, _ in list_checkpoints(cfg.out / "checkpoints")] == [1]
    messages: list[str] = []
    resumed = fit(cfg, train_data=TRAIN, test_data=TEST, progress=False, log=messages.append)
    assert messages[0].startswith("resuming from")
    assert [m.split(":")[0] for m in messages[1:]] == ["epoch 2/2"], "only the missing epoch may run"
    a = torch.load(straight.weights, weights_only=True)
    b = torch.load(resumed.weights, weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.sha256 == straight.sha256
    assert resumed.history == [
        dict(h, seconds=r["seconds"]) for h, r in zip(straight.history, resumed.history)
    ]


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path / "run", epochs=1)
    _run(cfg)
    with pytest.raises(ConfigError, match="no-resume"):
        _run(replace(cfg, lr=0.01))
    # --no-resume starts over (and must not trip over the old checkpoints).
    _run(replace(cfg, lr=0.01, resume=False))


def test_export_is_a_plain_state_dict_and_a_checkpoint_file(straight) -> None:
    weights = straight.weights
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == straight.sha256
    assert straight.sha256 in (weights.parent / "weights.sha256").read_text()
    state = torch.load(weights, weights_only=True)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    net = CifarResNet(20, in_channels=1)
    net.load_state_dict(state)
    # The checkpoint: file reproduces the final test accuracy, computed here by hand.
    model, _ = load_model(f"checkpoint:{straight.checkpoint}")
    x = torch.from_numpy(TEST.images).permute(0, 3, 1, 2).float() / 255.0
    net.eval()
    with torch.no_grad():
        by_hand = (net((x - 0.2860) / 0.3530).argmax(1).numpy() == TEST.labels).mean()
        via_checkpoint = (model(x).argmax(1).numpy() == TEST.labels).mean()
    assert by_hand == pytest.approx(straight.test_accuracy)
    assert via_checkpoint == pytest.approx(straight.test_accuracy)


def test_incompatible_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IncompatibleError, match=r"expects input \(3, 32, 32\)"):
        fit(_cfg(tmp_path, model="resnet20_cifar10"), train_data=TRAIN, test_data=TEST, progress=False)


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        _cfg(tmp_path, epochs=0)
    with pytest.raises(ConfigError):
        _cfg(tmp_path, limit=1)
    with pytest.raises(ConfigError, match="cosine"):
        _cfg(tmp_path, schedule="linear")
    assert _cfg(tmp_path, schedule="multistep").schedule is Schedule.MULTISTEP


def test_channels_last_is_the_default_layout_and_changes_only_rounding(tmp_path: Path, straight) -> None:
    """Training runs in channels-last memory format by default (weights and batches); the layout is not
    in the fingerprint (a run resumes with the other one), the exported file is contiguous, and the
    contiguous layout trains the same network up to float rounding."""
    cfg = _cfg(tmp_path / "nchw", channels_last=False)
    assert _cfg(tmp_path).channels_last and cfg.fingerprint() == _cfg(tmp_path).fingerprint()
    seen: list[bool] = []
    original = torch.nn.Conv2d._conv_forward

    def spy(self, x, weight, bias):  # type: ignore[no-untyped-def]
        if self.training and x.shape[1] > 1:  # one channel is both layouts at once
            seen.append(
                x.is_contiguous(memory_format=torch.channels_last)
                and weight.is_contiguous(memory_format=torch.channels_last)
            )
        return original(self, x, weight, bias)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.Conv2d, "_conv_forward", spy)
        _run(_cfg(tmp_path / "cl", epochs=1))
        assert seen and all(seen)  # every training convolution ran channels-last
        seen.clear()
        nchw = _run(cfg)
        assert seen and not any(seen)
    a = torch.load(straight.weights, weights_only=True)
    b = torch.load(nchw.weights, weights_only=True)
    for key in a:
        assert a[key].is_contiguous() and b[key].is_contiguous()
        if a[key].is_floating_point():
            torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-3, msg=key)
    # a contiguous run resumes in channels-last (the checkpoint's fingerprint does not name the layout)
    half = _cfg(tmp_path / "half", channels_last=False)

    def kill_after_first_epoch(message: str) -> None:
        if message.startswith("epoch 1/"):
            raise Interrupted

    with pytest.raises(Interrupted):
        fit(half, train_data=TRAIN, test_data=TEST, progress=False, log=kill_after_first_epoch)
    messages: list[str] = []
    fit(replace(half, channels_last=True), train_data=TRAIN, test_data=TEST, progress=False,
        log=messages.append)  # fmt: skip
    assert messages[0].startswith("resuming from") and messages[1].startswith("epoch 2/2")
