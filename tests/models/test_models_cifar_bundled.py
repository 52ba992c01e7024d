"""The bundled CIFAR-10 baseline ``resnet20_cifar10.freqbench``: pinned file, plain state_dict, and its
stated accuracy re-measured on the shared CIFAR-10 JPEG test images.

The independent side decodes the JPEG tarball itself (tarfile + PIL, class folders sorted, files in
natural order), normalises by hand with ImageNet's mean/std and runs a plain forward pass of the
architecture class on the file's state_dict; only ``CifarResNet`` is shared with the package.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.models import MODELS, load_model
from freqbench.models.cifar_resnet import CIFAR10_TEST_ACCURACY, CifarResNet

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

NAME = "resnet20_cifar10.freqbench"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))


def _bundled() -> Path:
    source = MODELS.get(NAME).cfg.weights
    assert source is not None and source.package_resource is not None
    return Path(str(resources.files("freqbench").joinpath(source.package_resource)))


def test_bundled_file_is_pinned_small_and_plain() -> None:
    cfg = MODELS.get(NAME).cfg
    path = _bundled()
    assert cfg.weights is not None and cfg.weights.url is None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == cfg.weights.sha256
    assert path.stat().st_size < 1_500_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    assert state["conv1.weight"].shape == (16, 3, 3, 3) and state["linear.weight"].shape == (10, 64)
    # the architecture and normalisation of the random-init and akamaster entries
    base = MODELS.get("resnet20_cifar10.akamaster").cfg
    assert (cfg.arch, cfg.input_size, cfg.mean, cfg.std) == (base.arch, base.input_size, base.mean, base.std)


def _natural(text: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


@pytest.mark.real
def test_stated_accuracy_on_the_shared_cifar10_jpeg_test_images(real_data: RealData) -> None:
    tar_path = real_data.shared("cifar10-jpeg/test.tar.gz")
    with tarfile.open(tar_path) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")]
        classes = sorted({Path(m.name).parent.name for m in members})
        members.sort(key=lambda m: (Path(m.name).parent.name, _natural(Path(m.name).name)))
        images = np.stack(
            [np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")) for m in members]  # type: ignore[union-attr]
        )
    labels = np.array([classes.index(Path(m.name).parent.name) for m in members])
    assert images.shape == (10_000, 32, 32, 3)
    net = CifarResNet(20, num_classes=10, in_channels=3)
    net.load_state_dict(torch.load(_bundled(), map_location="cpu", weights_only=True))
    net.eval()
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    model, _ = load_model(NAME, download=False)
    with torch.no_grad():
        pred = torch.cat([net((x[i : i + 500] - mean) / std).argmax(1) for i in range(0, len(x), 500)])
        # the registered model (normalisation inside it) predicts the same, on the first 1,000
        theirs = model(x[:1000]).argmax(1)
    accuracy = float((pred.numpy() == labels).mean())
    # stated in the config and weights/README.md, measured by freqbench train's own evaluation
    assert accuracy == pytest.approx(CIFAR10_TEST_ACCURACY, abs=2e-4)  # a near-tie may flip
    assert float((theirs == pred[:1000]).float().mean()) >= 0.998
