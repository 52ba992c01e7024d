"""Contract tests over every registered model name (DESIGN.md section 5).

Every name in ``MODELS`` is built randomly initialised (this must always work offline); the pretrained
build runs for every name too: bundled weights load from the package, downloadable ones are imported
from their copy in the shared real data (``real``: skips without it, fails in CI) into an empty cache.
Two prefix-family instances (a tiny timm model, spelled random, and a ``checkpoint:`` file) join the list.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch
from torch import nn

from freqbench.models import MODELS, ModelConfig, import_weights, load_model

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

NAMES = MODELS.names()
FAMILY_NAMES = ["timm:test_efficientnet?pretrained=false"]
# Where the shared real data keeps a copy of each publisher's downloadable weights.
SHARED_WEIGHTS = {"https://github.com/akamaster/": "weights/akamaster"}


def _downloadable(name: str) -> bool:
    weights = MODELS.get(name).cfg.weights
    return weights is not None and weights.url is not None


def _shared_copy(name: str) -> str:
    """The weight file's path inside the shared data, for a model whose weights are downloaded."""
    weights = MODELS.get(name).cfg.weights
    assert weights is not None and weights.url is not None
    folders = [folder for prefix, folder in SHARED_WEIGHTS.items() if weights.url.startswith(prefix)]
    assert folders, f"{name}: no shared copy of {weights.url} is known; add its folder to SHARED_WEIGHTS"
    return f"{folders[0]}/{weights.filename}"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))


def _input(cfg: ModelConfig, batch: int, *, seed: int = 0) -> torch.Tensor:
    c, h, w = cfg.input_size
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, c, h or 32, w or 32, generator=g)


def _check_forward(model: nn.Module, cfg: ModelConfig) -> None:
    assert not model.training, "load_model must return the model in eval mode"
    x = _input(cfg, 3)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    with torch.no_grad():
        y1 = model(x)
        y2 = model(x.clone())
        y_single = model(x[:1])
    assert y1.shape == (3, cfg.num_classes)
    assert torch.isfinite(y1).all()
    assert torch.equal(y1, y2), "eval-mode forward must be deterministic"
    # Eval mode uses running statistics: an image's logits do not depend on its batch mates.
    torch.testing.assert_close(y_single, y1[:1], rtol=1e-4, atol=1e-5)


def test_registry_lists_the_published_entries() -> None:
    for depth in (20, 32, 44, 56):
        assert f"resnet{depth}_cifar10" in NAMES
        assert f"resnet{depth}_cifar10.akamaster" in NAMES
    assert "resnet20_fashion_mnist" in NAMES


@pytest.mark.parametrize("name", NAMES + FAMILY_NAMES)
def test_random_init_build(name: str) -> None:
    torch.manual_seed(0)
    model, cfg = load_model(name, pretrained=False)
    assert cfg.weights is None, "a randomly initialised model must not claim a weight source"
    _check_forward(model, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 0 and math.isfinite(n_params)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.real) if _downloadable(n) else n for n in NAMES]
)
def test_pretrained_build(name: str, request: pytest.FixtureRequest) -> None:
    cfg = MODELS.get(name).cfg
    if cfg.weights is None:
        with pytest.warns(UserWarning, match="randomly initialised"):
            model, cfg = load_model(name)
        _check_forward(model, cfg)
        return
    if _downloadable(name):
        real_data: RealData = request.getfixturevalue("real_data")
        import_weights(name, real_data.shared(_shared_copy(name)))
    model, cfg = load_model(name, download=False)
    _check_forward(model, cfg)


@pytest.mark.parametrize("name", NAMES)
def test_config_is_consistent(name: str) -> None:
    cfg = MODELS.get(name).cfg
    assert cfg.name == name
    c = cfg.input_size[0]
    assert len(cfg.mean) == c and len(cfg.std) == c
    assert all(s > 0 for s in cfg.std)
    if cfg.weights is not None:
        assert len(cfg.weights.sha256) == 64 and int(cfg.weights.sha256, 16) >= 0
        assert cfg.weights.url is not None or cfg.weights.package_resource is not None
