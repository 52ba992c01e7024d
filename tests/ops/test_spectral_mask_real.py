"""Real data: routing the frequency filters through the fast backend changes no prediction.

Every radial filter condition of the ``frequency`` suite (ideal, Gaussian and Butterworth low-, high-
and band-pass over the suite's cutoffs) is applied to real CIFAR-10 test images (the shared JPEG copy)
once on the reference ``torch`` backend and once on ``auto`` (``matmul`` on the CPU), and a pretrained
classifier (captum's small CIFAR-10 LeNet, the shared ``weights/captum/cifar_torchvision.pt``; cheap
enough to score 300 images under 57 conditions twice) classifies both: the filtered images agree to
float32 rounding and the per-sample predictions, hence the suite's stored accuracies, are identical.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from freqbench.ops.spectral_mask import auto_backend, spectral_mask_backend
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites.frequency import frequency_conditions

pytestmark = pytest.mark.real
N = 300


class CaptumLeNet(nn.Module):
    """The captum tutorial's CIFAR-10 network (inputs normalised with mean 0.5, std 0.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1((x - 0.5) / 0.5)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _images(jpeg_tar: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The first N / 10 images of each class in archive order (a fixed, balanced, real subset)."""
    imgs: list[np.ndarray] = []
    labels: list[int] = []
    with tarfile.open(jpeg_tar) as tar:
        for member in tar:
            label = CLASSES.index(Path(member.name).parent.name) if member.name.endswith(".jpg") else -1
            if label >= 0 and labels.count(label) < N // 10:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                imgs.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                labels.append(label)
    assert len(labels) == N // 10 * 10
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255, torch.tensor(labels)


def test_frequency_filters_give_identical_predictions_on_auto_and_torch(real_data) -> None:
    x, labels = _images(real_data.shared("cifar10-jpeg/test.tar.gz"))
    net = CaptumLeNet().eval()
    weights = real_data.shared("weights/captum/cifar_torchvision.pt")
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    with torch.no_grad():  # a real classifier on these images (captum reports about 60% on CIFAR-10)
        assert (net(x).argmax(1) == labels).float().mean() > 0.4
    assert auto_backend(x, torch.ones(32, 17)) == "matmul"
    radial = [c for c in frequency_conditions() if c.transform.split("_pass_")[0] in ("low", "high", "band")]
    assert len(radial) == 3 * (9 + 6 + 4)
    for cond in radial:
        filt = PERTURBATIONS.get(cond.transform)(**cond.params)
        with torch.no_grad():
            with spectral_mask_backend("torch"):
                ref = filt(x)
            out = filt(x)
            torch.testing.assert_close(out, ref, atol=2e-6, rtol=0, msg=cond.key)
            pred_ref, pred = net(ref).argmax(1), net(out).argmax(1)
        differ = (pred != pred_ref).sum().item()
        assert differ == 0, f"{cond.key}: {differ} of {N} predictions differ"
