"""Real pretrained CIFAR-10 models on real CIFAR-10 test images: PGD-Linf at 8/255 breaks them.

Uses ``../shared/data``: the captum LeNet, the akamaster ResNet-20 and the CIFAR-10 JPEG test archive
(lossy JPEG, so clean accuracies are a little below the published ones). Skips when absent (fails
under ``FREQBENCH_REQUIRE_REAL=1``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import io
import tarfile
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchattacks
from PIL import Image
from torch import nn

from freqbench.attacks import ATTACKS
from freqbench.attacks.base import batch_seed
from freqbench.ops.random import SampleGenerator

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

pytestmark = pytest.mark.real

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PER_CLASS = 7  # 70 images, balanced over the classes


@pytest.fixture(scope="module")
def cifar(real_data: RealData) -> tuple[torch.Tensor, torch.Tensor]:
    """The first PER_CLASS test JPEGs of each class in archive order, decoded with PIL."""
    archive = real_data.shared("cifar10-jpeg/test.tar.gz")
    images: dict[int, list[np.ndarray]] = {c: [] for c in range(10)}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[1] not in CLASSES:
                continue
            label = CLASSES.index(parts[1])
            if len(images[label]) < PER_CLASS:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                images[label].append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
            if all(len(v) == PER_CLASS for v in images.values()):
                break
    x = torch.from_numpy(np.stack([im for c in range(10) for im in images[c]])).permute(0, 3, 1, 2)
    y = torch.arange(10).repeat_interleave(PER_CLASS)
    return x.float() / 255, y


class LeNet(nn.Module):
    """captum's CIFAR-10 LeNet with its (0.5, 0.5) normalisation inside."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.5) / 0.5
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


def lenet(real_data: RealData) -> nn.Module:
    model = LeNet()
    model.load_state_dict(
        torch.load(real_data.shared("weights/captum/cifar_torchvision.pt"), weights_only=True)
    )
    return model.eval()


def resnet20(real_data: RealData) -> nn.Module:
    from freqbench.models import load_model

    path = real_data.shared("weights/akamaster/resnet20-12fca82f.th")
    model, _ = load_model("resnet20_cifar10.akamaster", weights_root=path, download=False)
    return model


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize("make", [lenet, resnet20], ids=["lenet", "resnet20"])
def test_pgd_linf_breaks_pretrained_models(make, cifar, real_data) -> None:  # type: ignore[no-untyped-def]
    x, y = cifar
    model = make(real_data)
    clean = accuracy(model, x, y)
    assert clean >= 0.5  # both nets are far above chance on real CIFAR-10 (LeNet ~60%, ResNet-20 ~90%)
    g = SampleGenerator.from_seed(0, len(x), stream="pgd_linf@eps=8/255")
    x_adv = ATTACKS.get("pgd_linf")(eps="8/255")(model, x, y, generator=g)
    robust = accuracy(model, x_adv, y)
    assert robust <= 0.05 and robust < clean - 0.4
    assert float((x_adv - x).abs().max()) <= 8 / 255 + 1e-6
    # identical to torchattacks run by hand with the documented seed
    torch.manual_seed(batch_seed(g))
    direct = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True)(x, y)
    assert torch.equal(x_adv, direct)
