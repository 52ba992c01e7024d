"""The training recipes (``freqbench train --recipe NAME``) on a tiny Fashion-MNIST-format dataset.

Each recipe trains two epochs of two SGD steps on IDX files written in ``tmp_path`` and read back by
the registered ``fashion_mnist`` loader, is killed after its first epoch's checkpoint and resumed, and
must end with bit-identical weights. The recipe's own step is checked against direct computations:
the noise's mean and standard deviation, the filter a filtered run is tested behind, the PGD batch's
budget and its loss increase.
"""

from __future__ import annotations

import gzip
import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import typer
from typer.testing import CliRunner

from freqbench.api import build_model, list_names
from freqbench.cli.train import train as train_command
from freqbench.data.base import DATASETS, ArrayDataset, DataRequest
from freqbench.errors import ConfigError, UnknownNameError
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.perturbations.params import make_perturbation
from freqbench.train.checkpoints import list_checkpoints, load_checkpoint
from freqbench.train.recipe import TrainConfig, TrainResult, fit
from freqbench.train.recipes import (
    RECIPES,
    AdversarialRecipe,
    NoiseRecipe,
    Recipe,
    StandardRecipe,
    make_recipe,
    recipe_from_description,
)


class Interrupted(Exception):
    """Stands in for a kill right after an epoch's checkpoint was written."""


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _write_split(root: Path, prefix: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 250  # a class-dependent bright stripe
    (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(images))
    (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(labels))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fmnist")
    _write_split(folder, "train", 32, seed=0)
    _write_split(folder, "t10k", 16, seed=1)
    return folder


def _load(root: Path, split: str) -> ArrayDataset:
    return DATASETS.get("fashion_mnist")(DataRequest(split=split, root=root, download=False))


RECIPE_CASES: dict[str, dict[str, object]] = {
    "standard": {},
    "filtered-low": {"train_filter": "gaussian_filter@sigma=1"},
    "filtered-high": {"train_filter": "gaussian_residual@sigma=3"},
    "noise": {"sigma": 0.1},
    "adversarial": {"eps": "2/255", "alpha": "1/255", "steps": 2},
}


def _recipe(case: str) -> Recipe:
    return make_recipe(case.split("-")[0], RECIPE_CASES[case])


def _cfg(out: Path, recipe: Recipe) -> TrainConfig:
    return TrainConfig(out=out, epochs=2, batch_size=16, lr=0.05, eval_batch_size=16, recipe=recipe)


def _fit(cfg: TrainConfig, root: Path, log=lambda _: None) -> TrainResult:  # type: ignore[no-untyped-def]
    return fit(cfg, train_data=_load(root, "train"), test_data=_load(root, "test"), progress=False, log=log)


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory, root: Path) -> dict[str, TrainResult]:
    return {case: _fit(_cfg(tmp_path_factory.mktemp(case), _recipe(case)), root) for case in RECIPE_CASES}


def test_registry_holds_the_recipes() -> None:
    assert set(RECIPES.names()) >= {"standard", "filtered", "noise", "adversarial", "freqmod"}
    # `freqbench ls recipes`
    assert list_names("recipes") == ["adversarial", "filtered", "freqmod", "noise", "standard"]


@pytest.mark.parametrize("case", list(RECIPE_CASES))
def test_recipe_resumes_to_identical_weights(
    case: str, tmp_path: Path, root: Path, straight: dict[str, TrainResult]
) -> None:
    cfg = _cfg(tmp_path / case, _recipe(case))

    def kill_after_first_epoch(message: str) -> None:
        if message.startswith("epoch 1/"):
            raise Interrupted

    with pytest.raises(Interrupted):
        _fit(cfg, root, log=kill_after_first_epoch)
    assert [e for e, _ in list_checkpoints(cfg.out / "checkpoints")] == [1]
    messages: list[str] = []
    resumed = _fit(cfg, root, log=messages.append)
    assert messages[0].startswith("resuming from")
    first = straight[case]
    a, b = torch.load(first.weights, weights_only=True), torch.load(resumed.weights, weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.sha256 == first.sha256
    # The recipe and its config are recorded in the checkpoint, the run config and model.pt.
    desc = cfg.recipe.describe()
    assert load_checkpoint(cfg.out / "checkpoints" / "epoch_002.pt")["recipe"] == desc
    assert json.loads((cfg.out / "train_config.json").read_text())["recipe"] == desc
    assert torch.load(resumed.checkpoint, weights_only=True)["recipe"] == desc
    assert recipe_from_description(desc) == cfg.recipe
    lines = (cfg.out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_each_recipe_changes_the_weights(straight: dict[str, TrainResult]) -> None:
    digests = {case: result.sha256 for case, result in straight.items()}
    assert len(set(digests.values())) == len(digests), digests


def test_standard_fingerprint_is_the_pre_recipe_one(tmp_path: Path, root: Path) -> None:
    # The standard recipe adds no key, so checkpoints written before recipes existed still resume.
    keys = {
        "model", "dataset", "epochs", "batch_size", "lr", "momentum", "nesterov",
        "weight_decay", "schedule", "padding", "hflip", "seed", "limit",
    }  # fmt: skip
    assert set(TrainConfig(recipe=StandardRecipe()).fingerprint()) == keys
    noisy = TrainConfig(recipe=NoiseRecipe(sigma=0.2)).fingerprint()
    assert noisy["recipe"] == {"name": "noise", "sigma": 0.2}
    # A run with another recipe in the same folder is refused, not silently continued.
    cfg = replace(_cfg(tmp_path / "run", StandardRecipe()), epochs=1)
    _fit(cfg, root)
    with pytest.raises(ConfigError, match="no-resume"):
        _fit(replace(cfg, recipe=NoiseRecipe(sigma=0.2)), root)


def test_filtered_checkpoint_is_tested_behind_its_filter(
    root: Path, straight: dict[str, TrainResult]
) -> None:
    result = straight["filtered-high"]
    assert result.model_spec == f"checkpoint:{result.checkpoint}+gaussian_residual@sigma=3"
    saved = torch.load(result.checkpoint, weights_only=True)
    assert saved["input_filter"] == "gaussian_residual@sigma=3"
    test = _load(root, "test")
    x = torch.from_numpy(np.array(test.images)).permute(0, 3, 1, 2).float() / 255.0
    net = CifarResNet(20, in_channels=1)
    net.load_state_dict(torch.load(result.weights, weights_only=True))
    net.eval()
    residual = make_perturbation("gaussian_residual", {"sigma": 3})
    with torch.no_grad():
        by_hand = (net((residual(x) - 0.2860) / 0.3530).argmax(1).numpy() == test.labels).mean()
        spec = build_model(result.model_spec).module
        via_spec = (spec(x).argmax(1).numpy() == test.labels).mean()
    assert by_hand == pytest.approx(result.test_accuracy)
    assert via_spec == pytest.approx(result.test_accuracy)


def test_noise_is_gaussian_per_sample_and_per_epoch() -> None:
    recipe = NoiseRecipe(sigma=0.05)
    x = torch.full((8, 1, 28, 28), 0.5)  # mid-grey: no clipping within 10 sigma
    model = torch.nn.Identity()
    idx = torch.arange(8)
    out = recipe.prepare(x, torch.zeros(8, dtype=torch.int64), indices=idx, epoch=0, seed=0, model=model)
    noise = (out - x).double().numpy()
    # 6272 draws: the sample mean is within 4 standard errors of 0, the std within 5% of sigma.
    assert abs(noise.mean()) < 4 * 0.05 / np.sqrt(noise.size)
    assert noise.std() == pytest.approx(0.05, rel=0.05)
    # Image i's noise depends only on (seed, epoch, i): the same in another batch, new next epoch.
    y = torch.zeros(2, dtype=torch.int64)
    alone = recipe.prepare(x[:2], y, indices=torch.tensor([5, 2]), epoch=0, seed=0, model=model)
    assert torch.equal(alone, out[[5, 2]])
    later = recipe.prepare(x[:2], y, indices=torch.tensor([5, 2]), epoch=1, seed=0, model=model)
    assert not torch.equal(later, alone)
    assert recipe.prepare(torch.ones(2, 1, 4, 4), y, indices=idx[:2], epoch=0, seed=0, model=model).max() <= 1


def test_adversarial_batch_is_in_budget_and_raises_the_loss() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    x = torch.rand(6, 1, 28, 28)
    y = torch.arange(6)
    recipe = AdversarialRecipe(eps="4/255", alpha="1/255", steps=5)  # type: ignore[arg-type]
    before = torch.get_rng_state()
    adv = recipe.prepare(x, y, indices=torch.arange(6), epoch=0, seed=0, model=model)
    assert torch.equal(torch.get_rng_state(), before), "the caller's global RNG must be left alone"
    assert (adv - x).abs().max() <= 4 / 255 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(adv), y) > F.cross_entropy(model(x), y)
    again = recipe.prepare(x, y, indices=torch.arange(6), epoch=0, seed=0, model=model)
    assert torch.equal(adv, again)
    assert recipe.describe() == {"name": "adversarial", "eps": 4 / 255, "alpha": 1 / 255, "steps": 5}


def test_recipe_configs_are_validated() -> None:
    with pytest.raises(UnknownNameError, match="freqmod"):
        make_recipe("freqmd")
    with pytest.raises(ConfigError, match="takes no option --noise-sigma; it takes --train-filter"):
        make_recipe(
            "filtered", {"sigma": 0.1}, spelled={"sigma": "--noise-sigma", "train_filter": "--train-filter"}
        )
    with pytest.raises(ConfigError, match="needs --train-filter"):
        make_recipe("filtered")
    with pytest.raises(ConfigError, match="is random"):
        make_recipe("filtered", {"train_filter": "gaussian_noise@1"})
    with pytest.raises(ConfigError, match="has no parameter 'sigma'"):
        make_recipe("filtered", {"train_filter": "gaussian_blur@sigma=2"})
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        make_recipe("noise", {"sigma": 0})
    with pytest.raises(ConfigError, match="steps must be an integer"):
        make_recipe("adversarial", {"steps": 0})
    with pytest.raises(ConfigError, match="eps must be a positive"):
        make_recipe("adversarial", {"eps": "-1/255"})


def test_cli_trains_a_filtered_run_and_prints_the_spec_that_loads_it(tmp_path: Path, root: Path) -> None:
    app = typer.Typer()
    app.command()(train_command)
    out = tmp_path / "run"
    args = ["--epochs", "1", "--batch-size", "16", "--threads", "1", "--out", str(out), "--no-progress"]
    args += ["--data-root", str(root), "--recipe", "filtered", "--train-filter", "gaussian_filter@sigma=1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"--model checkpoint:{out / 'model.pt'}+gaussian_filter@sigma=1" in result.output
    refused = CliRunner().invoke(app, ["--recipe", "noise", "--train-filter", "gaussian_filter@sigma=1"])
    assert refused.exit_code != 0
    assert isinstance(refused.exception, ConfigError)
    assert "recipe 'noise' takes no option --train-filter; it takes --noise-sigma" in str(refused.exception)
