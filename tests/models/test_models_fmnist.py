"""The bundled default model ``resnet20_fashion_mnist``: pinned file, plain state_dict, accuracy on real data.

The Fashion-MNIST test images are parsed here from the IDX files with numpy (not through
``freqbench.data``), so the check does not depend on the dataset loader.
"""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from freqbench.models import MODELS, load_model

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))


def _bundled() -> Path:
    source = MODELS.get("resnet20_fashion_mnist").cfg.weights
    assert source is not None and source.package_resource is not None
    return Path(str(resources.files("freqbench").joinpath(source.package_resource)))


def test_bundled_file_is_pinned_small_and_plain() -> None:
    cfg = MODELS.get("resnet20_fashion_mnist").cfg
    path = _bundled()
    assert cfg.weights is not None and cfg.weights.url is None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == cfg.weights.sha256
    assert path.stat().st_size < 1_500_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    assert state["conv1.weight"].shape == (16, 1, 3, 3)


@pytest.mark.real
def test_mean_std_are_the_training_set_statistics(real_data: RealData) -> None:
    images = real_data.fashion_mnist("train-images-idx3-ubyte.gz")
    with gzip.open(images) as fh:
        counts = np.bincount(np.frombuffer(fh.read(), np.uint8, offset=16), minlength=256)
    values = np.arange(256) / 255.0
    mean = (counts * values).sum() / counts.sum()
    std = np.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
    cfg = MODELS.get("resnet20_fashion_mnist").cfg
    assert cfg.mean[0] == pytest.approx(mean, abs=5e-5)
    assert cfg.std[0] == pytest.approx(std, abs=5e-5)


@pytest.mark.real
def test_accuracy_on_fashion_mnist_test_images(real_data: RealData) -> None:
    n = 2000
    with gzip.open(real_data.fashion_mnist("t10k-images-idx3-ubyte.gz")) as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    with gzip.open(real_data.fashion_mnist("t10k-labels-idx1-ubyte.gz")) as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)[:n]
    model, _ = load_model("resnet20_fashion_mnist", download=False)
    with torch.no_grad():
        x = torch.from_numpy(images.copy()).float() / 255.0
        predictions = torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, n, 500)]).numpy()
    accuracy = (predictions == labels).mean()
    # Measured: 94.20% on these 2,000 images, 93.42% on all 10,000 (weights/README.md).
    assert accuracy > 0.91, accuracy
