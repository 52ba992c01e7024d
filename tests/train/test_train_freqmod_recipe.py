"""The ``freqmod`` recipe: the power-spectrum perturbation checked with numpy, the proportion in the
trained and the exported model, resume, refusals, and the CLI on real Fashion-MNIST.

The augmentation is checked against an independent numpy computation of its definition
(``np.fft.rfft2``, ``np.interp`` of the drawn knot log gains at each bin's radius): phase kept, power
scaled by the gain squared, mean kept, values in [0, 1], per-sample streams. Training runs are tiny
(32 in-memory 28x28 images, two steps per epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pytest
import torch
import typer
from torch import nn
from typer.testing import CliRunner

from freqbench.cli.train import train as train_command
from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.errors import ConfigError
from freqbench.models import MODELS, load_model
from freqbench.nn.frequency_modulation import FrequencyModulation
from freqbench.nn.normalize import Classifier, Normalize
from freqbench.ops.random import SampleGenerator
from freqbench.train.checkpoints import list_checkpoints
from freqbench.train.recipe import TrainConfig, TrainResult, fit, train
from freqbench.train.recipes import FreqmodRecipe, make_recipe, proportion_models, recipe_from_description
from freqbench.train.spectrum_augment import SpectrumPerturbation, knot_radii, perturb_spectrum

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

MODEL = "resnet20_freqmod_fashion_mnist"


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


TRAIN = stripes(32, seed=0, split="train")
TEST = stripes(16, seed=1, split="test")


def numpy_gain(z: np.ndarray, height: int, width: int, strength: float) -> np.ndarray:
    """The gain of every rfft2 bin, written from the definition: exp(strength * interp(r; knots, z))."""
    s = min(height, width)
    ky = np.fft.fftfreq(height) * height * (s / height)
    kx = np.fft.rfftfreq(width) * width * (s / width)
    r = np.hypot(ky[:, None], kx[None, :])
    knots = np.linspace(0.0, s / 2.0, len(z))
    gain = np.exp(strength * np.interp(r, knots, z))  # np.interp holds z[-1] beyond the last knot
    gain[0, 0] = 1.0
    return gain


@pytest.mark.parametrize(("height", "width"), [(32, 32), (28, 28), (27, 30)])
def test_perturbation_keeps_phase_and_mean_and_scales_power_by_the_drawn_gain(
    height: int, width: int
) -> None:
    rng = np.random.default_rng(0)
    # small texture around mid-grey: no pixel reaches the clip, so the identities hold exactly
    x = torch.from_numpy(0.5 + 0.01 * rng.standard_normal((3, 3, height, width)))
    aug = SpectrumPerturbation(strength=0.5, knots=4)
    out = aug(x, SampleGenerator.from_seed(7, [4, 9, 1], stream="s"))
    assert out.dtype == torch.float64 and out.shape == x.shape
    assert 0 < float(out.min()) and float(out.max()) < 1
    z = SampleGenerator.from_seed(7, [4, 9, 1], stream="s").normal((4,), dtype=torch.float64).numpy()
    xn, yn = x.numpy(), out.numpy()
    fx, fy = np.fft.rfft2(xn), np.fft.rfft2(yn)
    for b in range(3):
        gain = numpy_gain(z[b], height, width, 0.5)
        assert gain.std() > 0.1  # the drawn gain really varies with the radius
        # power changes by the gain squared in every bin
        np.testing.assert_allclose(np.abs(fy[b]) ** 2, gain**2 * np.abs(fx[b]) ** 2, rtol=1e-9, atol=1e-18)
        # phase kept wherever there is amplitude
        live = np.abs(fx[b]) > 1e-9
        phase = np.angle(fy[b][live] * np.conj(fx[b][live]))
        np.testing.assert_allclose(phase, 0.0, atol=1e-9)
    # DC fixed to 1: the per-channel mean is kept
    np.testing.assert_allclose(yn.mean(axis=(2, 3)), xn.mean(axis=(2, 3)), rtol=0, atol=1e-12)


def test_knots_span_dc_to_nyquist_and_ring_power_follows_the_gain() -> None:
    np.testing.assert_allclose(knot_radii(28, 30, 5).numpy(), [0, 3.5, 7, 10.5, 14])
    # one bin of power at radius 5 (5 cycles along x) on a 32x32 image; the ring gain is interp(5)
    x = 0.5 + 0.01 * torch.cos(2 * torch.pi * 5 * torch.arange(32, dtype=torch.float64) / 32).expand(
        1, 1, 32, 32
    )
    z = torch.tensor([[0.0, 1.0, -1.0, 2.0]], dtype=torch.float64)
    out = perturb_spectrum(x, z, strength=0.5)
    expected_log_gain = np.interp(5.0, [0, 16 / 3, 32 / 3, 16], [0, 1, -1, 2])  # 0.9375
    power = lambda a: (np.abs(np.fft.rfft2(a.numpy()[0, 0])) ** 2)[0, 5]  # noqa: E731
    assert power(out) / power(x) == pytest.approx(np.exp(2 * 0.5 * expected_log_gain), rel=1e-10)
    # strength 0: nothing changes
    assert torch.equal(SpectrumPerturbation(0.0, 4)(x, SampleGenerator.from_seed(0, 1)), x)


def test_recipe_augmentation_is_per_sample_deterministic_and_in_range() -> None:
    recipe = FreqmodRecipe(proportion=0.25, strength=1.0)
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(8, dtype=torch.int64)
    model = nn.Identity()
    full = recipe.prepare(x, y, indices=torch.arange(8), epoch=2, seed=3, model=model)
    assert full.dtype == x.dtype and 0 <= float(full.min()) and float(full.max()) <= 1
    assert not torch.equal(full, x)
    # image i's output depends only on (seed, epoch, i), not on the rest of the batch (bit-equal on
    # this CPU; the tolerance leaves room for FFT backends that batch transforms differently)
    alone = recipe.prepare(x[[5, 2]], y[:2], indices=torch.tensor([5, 2]), epoch=2, seed=3, model=model)
    torch.testing.assert_close(alone, full[[5, 2]], rtol=0, atol=1e-6)
    # and it follows the documented stream
    gen = SampleGenerator.from_seed(3, torch.tensor([5, 2]), stream="train-spectrum/epoch=2")
    z = gen.normal((4,))
    torch.testing.assert_close(alone, perturb_spectrum(x[[5, 2]], z, strength=1.0), rtol=0, atol=1e-6)
    for other in ({"epoch": 3, "seed": 3}, {"epoch": 2, "seed": 4}):
        moved = recipe.prepare(x[[5, 2]], y[:2], indices=torch.tensor([5, 2]), model=model, **other)
        assert not torch.allclose(moved, alone)


def _cfg(out: Path, recipe: FreqmodRecipe, **changes: object) -> TrainConfig:
    base = TrainConfig(
        model=MODEL, dataset="stripes", out=out, epochs=2, batch_size=16, lr=0.05, recipe=recipe
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _fit(cfg: TrainConfig, log=lambda _: None) -> TrainResult:  # type: ignore[no-untyped-def]
    return fit(cfg, train_data=TRAIN, test_data=TEST, progress=False, log=log)


@dataclass(frozen=True)
class RecordingFreqmod(FreqmodRecipe):
    """The freqmod recipe that also records the low-filter count of the model it is handed to train."""

    name: ClassVar[str] = "freqmod"
    seen: ClassVar[list[int]] = []

    def prepare(self, x, y, *, indices, epoch, seed, model):  # type: ignore[no-untyped-def]
        self.seen.append(int(model.net.conv1.is_low.sum()))
        return super().prepare(x, y, indices=indices, epoch=epoch, seed=seed, model=model)


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    RecordingFreqmod.seen.clear()
    result = _fit(_cfg(tmp_path_factory.mktemp("straight"), RecordingFreqmod(proportion=0.25)))
    assert RecordingFreqmod.seen == [4] * 4  # 2 epochs x 2 steps, each on a model with 4 low filters
    return result


def _stem(model: nn.Module) -> FrequencyModulation:
    stem = model.net.conv1  # type: ignore[union-attr]
    assert isinstance(stem, FrequencyModulation)
    return stem


def test_trained_and_exported_model_carry_the_proportion(straight: TrainResult) -> None:
    saved = torch.load(straight.checkpoint, weights_only=True)
    assert saved["extra"]["proportion"] == 0.25
    assert saved["recipe"] == {"name": "freqmod", "proportion": 0.25, "strength": 0.5, "knots": 4}
    loaded, cfg = load_model(straight.model_spec)
    assert straight.model_spec == f"checkpoint:{straight.checkpoint}"
    assert cfg.extra["proportion"] == 0.25
    stem = _stem(loaded)
    assert int(stem.is_low.sum()) == round(0.25 * 16) == 4
    assert stem.is_low[:4].all() and not stem.is_low[4:].any()
    # the reloaded network is the trained one: same logits as the weights in a p=0.25 build by hand,
    # and the test accuracy that training measured
    entry = MODELS.get(MODEL)
    by_hand = entry.build(replace(entry.cfg, extra={**entry.cfg.extra, "proportion": 0.25}))
    by_hand.load_state_dict(torch.load(straight.weights, weights_only=True))
    reference = Classifier(Normalize(entry.cfg.mean, entry.cfg.std), by_hand).eval()
    x = torch.from_numpy(TEST.images).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        logits = loaded(x)
        assert torch.equal(logits, reference(x))
        accuracy = float((logits.argmax(1).numpy() == TEST.labels).mean())
        assert accuracy == pytest.approx(straight.test_accuracy)
        # the same weights in the registered p=0.5 network are another model: the split matters
        default = entry.build(entry.cfg)
        default.load_state_dict(torch.load(straight.weights, weights_only=True))
        wrong = Classifier(Normalize(entry.cfg.mean, entry.cfg.std), default).eval()
        assert int(_stem(wrong).is_low.sum()) == 8
        assert not torch.allclose(wrong(x), logits)


def test_resume_gives_identical_weights(tmp_path: Path, straight: TrainResult) -> None:
    cfg = _cfg(tmp_path / "resumed", FreqmodRecipe(proportion=0.25))

    def kill_after_first_epoch(message: str) -> None:
        if message.startswith("epoch 1/"):
            raise Interrupted

    with pytest.raises(Interrupted):
        _fit(cfg, log=kill_after_first_epoch)
    assert [e for e, _ in list_checkpoints(cfg.out / "checkpoints")] == [1]
    messages: list[str] = []
    resumed = _fit(cfg, log=messages.append)
    assert messages[0].startswith("resuming from")
    a = torch.load(straight.weights, weights_only=True)
    b = torch.load(resumed.weights, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.sha256 == straight.sha256
    # another proportion is another run: it is refused in the same folder, not continued
    with pytest.raises(ConfigError, match="no-resume"):
        _fit(replace(cfg, recipe=FreqmodRecipe(proportion=0.5)))


def test_a_model_without_a_proportion_is_refused(tmp_path: Path) -> None:
    assert proportion_models() == ["resnet20_freqmod_cifar10", "resnet20_freqmod_fashion_mnist"]
    cfg = _cfg(tmp_path / "wrong", FreqmodRecipe(), model="resnet20_fashion_mnist")
    message = r"'resnet20_fashion_mnist' has none .*resnet20_freqmod_cifar10, resnet20_freqmod_fashion_mnist"
    with pytest.raises(ConfigError, match=message):
        _fit(cfg)
    # train() refuses it before reading any data (the root holds none)
    with pytest.raises(ConfigError, match="resnet20_freqmod_fashion_mnist"):
        train(replace(cfg, dataset="fashion_mnist"), data_root=tmp_path / "empty")
    assert not (tmp_path / "wrong").exists()


def test_recipe_config_is_validated() -> None:
    assert recipe_from_description(FreqmodRecipe(proportion=1).describe()) == FreqmodRecipe(proportion=1.0)
    for bad in (-0.1, 1.5, True, "half"):
        with pytest.raises(ConfigError, match="proportion must be a number in"):
            make_recipe("freqmod", {"proportion": bad})
    with pytest.raises(ConfigError, match="strength must be a finite number >= 0"):
        make_recipe("freqmod", {"strength": -1.0})
    with pytest.raises(ConfigError, match="knots must be an integer >= 2"):
        make_recipe("freqmod", {"knots": 1})
    spelled = {"sigma": "--noise-sigma", "proportion": "--proportion", "strength": "--spectrum-strength"}
    with pytest.raises(
        ConfigError, match="takes no option --noise-sigma; it takes --proportion, --spectrum-strength, knots"
    ):
        make_recipe("freqmod", {"sigma": 0.1}, spelled=spelled)


@pytest.mark.real
def test_cli_trains_freqmod_on_fashion_mnist_and_the_checkpoint_reloads_it(
    tmp_path: Path, real_data: RealData
) -> None:
    for split in ("train", "t10k"):
        real_data.fashion_mnist(f"{split}-images-idx3-ubyte.gz")
        real_data.fashion_mnist(f"{split}-labels-idx1-ubyte.gz")
    app = typer.Typer()
    app.command()(train_command)
    out = tmp_path / "run"
    args = ["--model", MODEL, "--limit", "64", "--epochs", "1", "--batch-size", "32", "--threads", "1"]
    args += ["--out", str(out), "--no-progress", "--recipe", "freqmod", "--proportion", "0.25"]
    result = CliRunner().invoke(app, [*args, "--spectrum-strength", "0.3", "--spectrum-knots", "3"])
    assert result.exit_code == 0, result.output
    assert f"--model checkpoint:{out / 'model.pt'}" in result.output
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["recipe"] == {"name": "freqmod", "proportion": 0.25, "strength": 0.3, "knots": 3}
    model, _ = load_model(f"checkpoint:{out / 'model.pt'}")
    assert int(_stem(model).is_low.sum()) == 4
    refused = CliRunner().invoke(app, ["--recipe", "noise", "--proportion", "0.25"])
    assert isinstance(refused.exception, ConfigError)
    assert "recipe 'noise' takes no option --proportion" in str(refused.exception)
