"""Real data: routing the frequency filters through the fast backend changes no prediction.

Every radial filter condition of the ``frequency`` suite (ideal, Gaussian and Butterworth low-, high-
and band-pass over the suite's cutoffs) is applied to real CIFAR-10 test images (the shared JPEG copy)
once on the reference ``torch`` backend and once on ``auto`` (``matmul`` on the CPU), and the
pretrained akamaster ResNet-20 classifies both: the filtered images agree to float32 rounding and the
per-sample predictions, hence the suite's stored accuracies, are identical.
"""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.models.cifar_resnet import CifarResNet
from freqbench.ops.spectral_mask import auto_backend, spectral_mask_backend
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites.frequency import frequency_conditions

pytestmark = pytest.mark.real
N = 128


def _images(jpeg_tar) -> torch.Tensor:
    imgs = []
    with tarfile.open(jpeg_tar) as tar:
        for member in tar:  # the first N images in archive order: a fixed, real subset
            if member.isfile() and member.name.endswith(".jpg"):
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                imgs.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                if len(imgs) == N:
                    break
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255


def test_frequency_filters_give_identical_predictions_on_auto_and_torch(real_data) -> None:
    x = _images(real_data.shared("cifar10-jpeg/test.tar.gz"))
    state = torch.load(
        real_data.shared("weights/akamaster/resnet20-12fca82f.th"), map_location="cpu", weights_only=True
    )["state_dict"]
    net = CifarResNet(depth=20, num_classes=10, in_channels=3).eval()
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
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
            pred_ref = net((ref - mean) / std).argmax(1)
            pred = net((out - mean) / std).argmax(1)
        assert torch.equal(pred, pred_ref), f"{cond.key}: {(pred != pred_ref).sum().item()} predictions differ"
