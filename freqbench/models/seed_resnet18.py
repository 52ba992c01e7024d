"""Seed 000's two ResNet-18 topologies as architecture entries ``resnet18_cifar10`` and
``resnet18_fashion_mnist``.

Source: the notebooks of kakshak07/Frequency-response-characterization-of-CNNs (REFERENCE.md section
4), read from their Keras ``model.summary()`` printouts (layer shapes and parameter counts):

- **CIFAR-10** (``Cifar10/CIFAR10_resnet18.ipynb``, "ResNet18 modified from the standard resnet18"):
  3x3 stem conv, 64 filters, stride 1, no bias, BN, ReLU, **no max pool** (the maps stay 32 x 32);
  four stages of two BasicBlocks with 64/128/256/512 channels (stride 2 at the first block of stages
  2-4: 32 -> 16 -> 8 -> 4); bias-free 3x3 convs each followed by BN; where the shape changes a
  projection shortcut, 1x1 conv (stride 2, no bias) + BN; add, then ReLU; global average pooling and a
  dense layer 512 -> 10. The notebook prints 11,173,962 trainable parameters (11,183,562 with BN's
  9,600 moving statistics): the topology of the widely used CIFAR ResNet-18 of kuangliu/pytorch-cifar,
  whose module names this implementation follows.
- **Fashion-MNIST** (``Fashion_MNIST/.../Original Image - Gaussian Filter Sigma 12.ipynb``, a Keras
  ``resnet_v1``-style net saved as ``fmnist_resnet20_*.h5`` although its layout is a ResNet-18): **7x7
  stem conv, 64 filters, stride 2, with bias**, BN, ReLU and **no max pool** (the summary goes from the
  28 x 28 input straight to 14 x 14 maps into the first block); the same four stages (14 -> 7 -> 4 -> 2),
  but every conv has a bias and the projection shortcut is a 1x1 conv (stride 2, with bias) **without
  BN**; global average pooling and a dense layer 512 -> 10. The notebook prints 11,178,378 trainable
  parameters (11,186,186 with BN's 7,808 moving statistics).

Both counts are reproduced exactly (PyTorch counts BN's weight and bias as parameters and its running
statistics as buffers, as Keras' "trainable" does). Padding: PyTorch pads symmetrically (3 for the 7x7
stem, 1 for 3x3, 0 for 1x1); Keras' ``padding="same"`` pads a stride-2 conv asymmetrically (more at the
bottom/right), so every map has the Keras size and the sampling grid is offset by at most one pixel.
Init: He-normal conv and dense weights, zero biases (Keras ``resnet_v1``'s ``he_normal``), BN at
(1, 0). Every topology switch is in ``cfg.extra`` (:class:`Topology`), so it enters the result keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.errors import ConfigError
from freqbench.models.base import ModelConfig
from freqbench.models.family import extra_value, register_architectures

ARCH = "resnet18"
STAGE_CHANNELS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2
_SOURCE = "kakshak07/Frequency-response-characterization-of-CNNs (seed 000, REFERENCE.md section 4)"


@dataclass(frozen=True)
class Topology:
    """The switches that tell seed 000's two ResNet-18s apart (module docstring).

    Attributes:
        stem_kernel, stem_stride: the first conv (3/1 for CIFAR-10, 7/2 for Fashion-MNIST).
        conv_bias: every conv has a bias (Fashion-MNIST) or none (CIFAR-10).
        shortcut_bn: the 1x1 projection shortcut is followed by BN (CIFAR-10) or not (Fashion-MNIST).
    """

    stem_kernel: int
    stem_stride: int
    conv_bias: bool
    shortcut_bn: bool

    def __post_init__(self) -> None:
        if self.stem_kernel < 1 or self.stem_kernel % 2 == 0 or self.stem_stride < 1:
            raise ConfigError(
                f"the stem needs an odd kernel and a positive stride, got kernel {self.stem_kernel}, "
                f"stride {self.stem_stride}"
            )


TOPOLOGIES: dict[str, Topology] = {
    "cifar10": Topology(stem_kernel=3, stem_stride=1, conv_bias=False, shortcut_bn=True),
    "fashion_mnist": Topology(stem_kernel=7, stem_stride=2, conv_bias=True, shortcut_bn=False),
}
"""Dataset -> seed 000's ResNet-18 topology for it."""


class SeedBasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut (identity or 1x1 projection), then ReLU.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, topology: Topology) -> None:
        super().__init__()
        bias = topology.conv_bias
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut.append(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias))
            if topology.shortcut_bn:
                self.shortcut.append(nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SeedResNet18(nn.Module):
    """ResNet-18 (four stages of two BasicBlocks, 64-512 channels) with one of :data:`TOPOLOGIES`.

    Module names follow kuangliu/pytorch-cifar: ``conv1``, ``bn1``, ``layer{1..4}.{0,1}.{conv1, bn1,
    conv2, bn2, shortcut.{0, 1}}``, ``linear``.

    Shape:
        x: (B, in_channels, H, W) normalised -> logits (B, num_classes).
    """

    def __init__(self, topology: Topology, *, in_channels: int, num_classes: int = 10) -> None:
        super().__init__()
        k = topology.stem_kernel
        self.conv1 = nn.Conv2d(
            in_channels,
            STAGE_CHANNELS[0],
            k,
            stride=topology.stem_stride,
            padding=k // 2,
            bias=topology.conv_bias,
        )
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0])
        stages = []
        channels = STAGE_CHANNELS[0]
        for i, width in enumerate(STAGE_CHANNELS):
            blocks = [
                SeedBasicBlock(
                    channels if b == 0 else width, width, stride=2 if i and b == 0 else 1, topology=topology
                )
                for b in range(BLOCKS_PER_STAGE)
            ]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def build(cfg: ModelConfig) -> SeedResNet18:
    """The bare network of ``cfg`` (``extra``: the :class:`Topology` fields)."""
    topology = Topology(
        stem_kernel=extra_value(cfg, "stem_kernel", int),
        stem_stride=extra_value(cfg, "stem_stride", int),
        conv_bias=extra_value(cfg, "conv_bias", bool),
        shortcut_bn=extra_value(cfg, "shortcut_bn", bool),
    )
    return SeedResNet18(topology, in_channels=cfg.input_size[0], num_classes=cfg.num_classes)


for _dataset, _topology in TOPOLOGIES.items():
    register_architectures(
        ARCH,
        build,
        extra=asdict(_topology),
        paper="He et al. 2016 (arXiv:1512.03385); topology of " + _SOURCE,
        notes=f"Seed 000's {_dataset} ResNet-18 topology.",
        datasets=(_dataset,),
    )
