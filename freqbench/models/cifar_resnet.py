"""CIFAR ResNet-20/32/44/56 (He et al. 2016, section 4.2) and their registered entries.

Reference: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
arXiv:1512.03385, section 4.2: a 3x3 stem with 16 channels, three stages of ``n`` BasicBlocks with
16/32/64 channels (the first block of stages 2 and 3 has stride 2), global average pooling and a linear
layer, depth ``6n + 2``. Shortcuts use *option A*: the identity, or where the shape changes a stride-2
subsample with the new channels zero-padded (no parameters). Parameter counts for 3 input channels
and 10 classes: 269,722 / 464,154 / 658,586 / 853,018 (REFERENCE.md section 9).

Two optional builder arguments let the frequency families reuse this network: ``downsample`` (a
factory of pooling modules that replace the stride-2 subsampling on both paths of the downsampling
blocks, :mod:`~freqbench.models.resnet20_spectralpool`, :mod:`~freqbench.models.resnet20_waveletpool`)
and ``stem`` (another first layer, :mod:`~freqbench.models.resnet20_freqmod`). Without them the network,
its ``state_dict`` keys and its outputs are the paper's.

Module names follow the akamaster/pytorch_resnet_cifar10 checkpoints (BSD-2), so their ``state_dict``
loads after stripping ``module.``: ``conv1``, ``bn1``, ``layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}``,
``linear``. Those checkpoints were trained on [0, 1] inputs normalised with ImageNet mean/std; their
files, URLs and sha256 come from ``/work/shared/data/README.md`` and the akamaster repository.

``resnet20_cifar10.freqbench`` is freqbench's own CIFAR-10 ResNet-20 (same normalisation as akamaster's),
trained on the 50,000 JPEG training images with the recipe and budget the frequency families share.
``resnet20_fashion_mnist`` (alias ``resnet20_fmnist``, its first name) is freqbench's own ResNet-20
with one input channel, trained on the Fashion-MNIST training set by :mod:`freqbench.train.recipe`; its
mean/std (0.2860, 0.3530) were computed on the 60,000 training images (pixel values in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource

DEPTHS: dict[int, int] = {20: 3, 32: 5, 44: 7, 56: 9}
"""Depth -> BasicBlocks per stage (depth = 6n + 2)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FMNIST_MEAN = (0.2860,)
FMNIST_STD = (0.3530,)
FMNIST_WEIGHTS_SHA256 = "7faf9b212084c7de0ea27b8635007dc2c0467baeda46c5a9097bccbe2b7c9cf4"
"""sha256 of ``freqbench/models/weights/resnet20_fashion_mnist.pt`` (see ``weights/README.md``)."""
CIFAR10_WEIGHTS_SHA256 = "633390065b929f88d6173f7b4d9926f61b3a2fd4963e89155c69029a2abe5a51"
"""sha256 of ``freqbench/models/weights/resnet20_cifar10.freqbench.pt`` (see ``weights/README.md``)."""
CIFAR10_TEST_ACCURACY = 0.8548
"""``resnet20_cifar10.freqbench`` on the 10,000 shared CIFAR-10 JPEG test images (``weights/README.md``)."""

_AKAMASTER_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
_AKAMASTER_SHA256: dict[int, str] = {
    20: "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8",
    32: "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850",
    44: "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4",
    56: "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367",
}
_AKAMASTER_ACC: dict[int, float] = {20: 91.73, 32: 92.63, 44: 93.10, 56: 93.39}
_PAPER = "He et al. 2016, Deep Residual Learning for Image Recognition, arXiv:1512.03385"


DownsampleFactory = Callable[[], nn.Module]
"""Makes a fresh parameter-free module that halves H and W (spectral or wavelet pooling); it takes the
place of the stride-2 subsampling on both paths of a downsampling block (:class:`BasicBlock`)."""


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample by ``stride`` (or downsample with ``pool``) and zero-pad the channel
    dimension; no parameters.

    Args:
        in_channels, out_channels: channels before and after the zero padding.
        stride: the subsampling step ``x[..., ::stride, ::stride]`` (He et al.'s option A).
        pool: a module that downsamples instead of the strided subsampling (then ``stride`` is unused).

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride)), or the pool's output size.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, stride: int, pool: nn.Module | None = None
    ) -> None:
        super().__init__()
        extra = out_channels - in_channels
        self.stride = stride
        self.pool = pool
        # Split the new channels evenly on both sides, as the paper's released models do.
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x) if self.pool is not None else x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection.

    Args:
        in_channels, out_channels: channels in and out.
        stride: 2 in the first block of stages 2 and 3 (the downsampling blocks), else 1.
        downsample: None (default) downsamples by striding: conv1 has stride ``stride`` and the shortcut
            subsamples (option A). A factory replaces that subsampling in a block with ``stride != 1``:
            conv1 runs at stride 1 and a fresh ``downsample()`` module follows it (conv -> pool -> BN ->
            ReLU, the pool in the place of the conv's stride), and the shortcut pools with another
            fresh module before its zero padding. The pool modules hold no state, so the ``state_dict``
            keys are those of the strided block.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        downsample: DownsampleFactory | None = None,
    ) -> None:
        super().__init__()
        pooled = downsample is not None and stride != 1
        conv_stride = 1 if pooled else stride
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=conv_stride, padding=1, bias=False)
        self.pool = downsample() if pooled and downsample is not None else None
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            shortcut_pool = downsample() if pooled and downsample is not None else None
            self.shortcut: nn.Module = PadShortcut(
                in_channels, out_channels, stride=stride, pool=shortcut_pool
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        if self.pool is not None:
            out = self.pool(out)
        out = F.relu(self.bn1(out))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images.

    Args:
        depth: 20, 32, 44 or 56.
        num_classes: number of logits.
        in_channels: input channels (3 for CIFAR, 1 for Fashion-MNIST).
        downsample: how stages 2 and 3 halve the maps (:class:`BasicBlock`); None strides (the paper).
        stem: ``(in_channels, 16) -> module`` making the first layer instead of the plain 3x3 conv
            (a frequency-modulated first layer); it initialises itself (He init covers ``nn.Conv2d``
            and ``nn.Linear`` modules only).

    Shape:
        x: (B, in_channels, H, W) normalised -> logits (B, num_classes); any H, W >= 8.
    """

    def __init__(
        self,
        depth: int,
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        downsample: DownsampleFactory | None = None,
        stem: Callable[[int, int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth}")
        blocks = DEPTHS[depth]
        self.conv1: nn.Module = (
            nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
            if stem is None
            else stem(in_channels, 16)
        )
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, blocks, stride=1, downsample=downsample)
        self.layer2 = self._stage(16, 32, blocks, stride=2, downsample=downsample)
        self.layer3 = self._stage(32, 64, blocks, stride=2, downsample=downsample)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            # He initialisation (He et al. 2015), the scheme the paper trains with.
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    @staticmethod
    def _stage(
        in_channels: int,
        out_channels: int,
        blocks: int,
        *,
        stride: int,
        downsample: DownsampleFactory | None = None,
    ) -> nn.Sequential:
        layers = [BasicBlock(in_channels, out_channels, stride=stride, downsample=downsample)]
        layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def build(cfg: ModelConfig) -> CifarResNet:
    """Build the bare network described by ``cfg`` (``cfg.extra['depth']``)."""
    depth = cfg.extra["depth"]
    if not isinstance(depth, int):
        raise TypeError(f"cfg.extra['depth'] must be an int, got {depth!r}")
    return CifarResNet(depth, num_classes=cfg.num_classes, in_channels=cfg.input_size[0])


def _register_cifar10(depth: int) -> None:
    filename = f"resnet{depth}-{_AKAMASTER_SHA256[depth][:8]}.th"
    common = dict(
        arch=f"resnet{depth}",
        dataset="cifar10",
        num_classes=10,
        input_size=(3, 32, 32),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        paper=_PAPER,
        extra={"depth": depth},
    )
    pretrained = ModelConfig(
        name=f"resnet{depth}_cifar10.akamaster",
        weights=WeightSource(
            sha256=_AKAMASTER_SHA256[depth],
            filename=filename,
            url=_AKAMASTER_URL + filename,
            state_dict_key="state_dict",
            strip_prefix="module.",
        ),
        license="BSD-2-Clause (akamaster/pytorch_resnet_cifar10)",
        notes=f"akamaster/pytorch_resnet_cifar10 weights, reported CIFAR-10 test accuracy "
        f"{_AKAMASTER_ACC[depth]}%.",
        **common,  # type: ignore[arg-type]
    )
    random_init = ModelConfig(
        name=f"resnet{depth}_cifar10",
        notes="Architecture only: no pretrained weights (random He initialisation). "
        f"Use 'resnet{depth}_cifar10.akamaster' for trained weights.",
        **common,  # type: ignore[arg-type]
    )
    configs = [pretrained, random_init]
    if depth == 20:
        configs.append(
            ModelConfig(
                name="resnet20_cifar10.freqbench",
                weights=WeightSource(
                    sha256=CIFAR10_WEIGHTS_SHA256,
                    filename="resnet20_cifar10.freqbench.pt",
                    package_resource="models/weights/resnet20_cifar10.freqbench.pt",
                ),
                license="BSD-3-Clause (freqbench)",
                notes="Trained by freqbench (scripts/train-cifar10-families: the standard recipe, 20 epochs, "
                f"seed 0, bf16): {100 * CIFAR10_TEST_ACCURACY:.2f}% on the 10,000 CIFAR-10 JPEG test images; "
                "the baseline of the frequency families, trained like them.",
                **common,  # type: ignore[arg-type]
            )
        )
    for cfg in configs:
        MODELS.register(cfg.name, ModelEntry(cfg=cfg, build=build))


for _depth in DEPTHS:
    _register_cifar10(_depth)


MODELS.register(
    "resnet20_fashion_mnist",
    ModelEntry(
        cfg=ModelConfig(
            name="resnet20_fashion_mnist",
            arch="resnet20",
            dataset="fashion_mnist",
            num_classes=10,
            input_size=(1, 28, 28),
            mean=FMNIST_MEAN,
            std=FMNIST_STD,
            weights=WeightSource(
                sha256=FMNIST_WEIGHTS_SHA256,
                filename="resnet20_fashion_mnist.pt",
                package_resource="models/weights/resnet20_fashion_mnist.pt",
            ),
            paper=_PAPER,
            license="BSD-3-Clause (freqbench)",
            notes="Trained by freqbench (freqbench.train.recipe, 10 epochs, seed 0): 93.42% on the "
            "10,000 Fashion-MNIST test images.",
            extra={"depth": 20},
        ),
        build=build,
    ),
)
# the first name, kept: it resolves to the same entry (and the same stored results)
MODELS.register_alias("resnet20_fmnist", "resnet20_fashion_mnist")
