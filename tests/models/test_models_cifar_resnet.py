"""CIFAR ResNet-20/32/44/56: published parameter counts, akamaster key layout, option-A shortcut,
and (``real``) the akamaster checkpoints' accuracy on CIFAR-10 JPEG test images."""

from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.models import MODELS, import_weights, load_model
from freqbench.models.cifar_resnet import CifarResNet, PadShortcut

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

# REFERENCE.md section 9 / He et al. 2016 table 6 (0.27M, 0.46M, 0.66M, 0.85M), exact values.
PUBLISHED_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018}
AKAMASTER_FILES = {
    20: ("resnet20-12fca82f.th", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"),
    32: ("resnet32-d509ac18.th", "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850"),
    44: ("resnet44-014dd654.th", "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4"),
    56: ("resnet56-4bfd9763.th", "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367"),
}


def akamaster_keys(depth: int) -> list[str]:
    """The akamaster state_dict keys (without ``module.``), written out from the paper's layout."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = ["conv1.weight"] + [f"bn1.{p}" for p in bn]
    for stage in (1, 2, 3):
        for block in range((depth - 2) // 6):
            prefix = f"layer{stage}.{block}"
            keys += [f"{prefix}.conv1.weight"] + [f"{prefix}.bn1.{p}" for p in bn]
            keys += [f"{prefix}.conv2.weight"] + [f"{prefix}.bn2.{p}" for p in bn]
    return keys + ["linear.weight", "linear.bias"]


@pytest.mark.parametrize("depth", sorted(PUBLISHED_PARAMS))
def test_parameter_count_matches_published(depth: int) -> None:
    net = CifarResNet(depth, num_classes=10, in_channels=3)
    assert sum(p.numel() for p in net.parameters()) == PUBLISHED_PARAMS[depth]


def test_one_channel_variant_drops_exactly_the_stem_weights() -> None:
    # conv1 is 16 x C x 3 x 3: two input channels fewer remove 2 * 16 * 9 parameters.
    net = CifarResNet(20, num_classes=10, in_channels=1)
    assert sum(p.numel() for p in net.parameters()) == PUBLISHED_PARAMS[20] - 2 * 16 * 9
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("depth", sorted(PUBLISHED_PARAMS))
def test_state_dict_keys_match_akamaster_layout(depth: int) -> None:
    assert list(CifarResNet(depth).state_dict()) == akamaster_keys(depth)


def test_registered_akamaster_sources_match_the_published_files() -> None:
    for depth, (filename, sha) in AKAMASTER_FILES.items():
        w = MODELS.get(f"resnet{depth}_cifar10.akamaster").cfg.weights
        assert w is not None
        assert (w.filename, w.sha256, w.state_dict_key, w.strip_prefix) == (
            filename,
            sha,
            "state_dict",
            "module.",
        )
        assert (
            w.url
            == f"https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/{filename}"
        )


def test_option_a_shortcut_subsamples_and_zero_pads() -> None:
    x = torch.randn(2, 16, 8, 8)
    out = PadShortcut(16, 32, stride=2)(x).numpy()
    expected = np.zeros((2, 32, 4, 4), dtype=np.float32)
    expected[:, 8:24] = x.numpy()[:, :, ::2, ::2]
    np.testing.assert_array_equal(out, expected)
    assert not list(PadShortcut(16, 32, stride=2).parameters())


def _first_test_images(real_data: RealData, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    with open(real_data.shared("cifar10-jpeg/test_index.csv"), newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: int(r["test_index"]))[:n]
    wanted = {r["jpeg_path"]: i for i, r in enumerate(rows)}
    images = np.zeros((n, 32, 32, 3), dtype=np.uint8)
    found = 0
    with tarfile.open(real_data.shared("cifar10-jpeg/test.tar.gz"), "r:gz") as tar:
        for member in tar:
            if member.name in wanted:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                images[wanted[member.name]] = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                found += 1
    assert found == n
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.tensor([int(r["label"]) for r in rows])


@pytest.mark.real
def test_akamaster_checkpoints_import_load_and_classify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_data: RealData
) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path))
    for depth, (filename, sha) in AKAMASTER_FILES.items():
        cached = import_weights(
            f"resnet{depth}_cifar10.akamaster", real_data.shared(f"weights/akamaster/{filename}")
        )
        assert cached == tmp_path / "weights" / filename
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == sha
        model, _ = load_model(f"resnet{depth}_cifar10.akamaster", download=False)
        raw = torch.load(cached, map_location="cpu", weights_only=True)["state_dict"]
        torch.testing.assert_close(model.net.linear.weight, raw["module.linear.weight"], rtol=0, atol=0)
    x, y = _first_test_images(real_data, 500)
    model, _ = load_model("resnet20_cifar10.akamaster", download=False)
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    # Published: 91.73% on lossless CIFAR-10. The JPEG copy (quality 75, 4:2:0; mean absolute pixel
    # change ~6/255) costs about ten points: measured 80.2% on these 500 images, while the same network
    # classifies foolbox's lossless PNGs of test images 0-19 20/20 and their JPEGs 18/20. A wrong
    # shortcut or normalisation gives chance level (~10%).
    assert accuracy > 0.78, accuracy
