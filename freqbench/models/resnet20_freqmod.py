"""ResNet-20 with freqbench's frequency-modulated first layer (architecture entries).

``resnet20_freqmod_cifar10`` and ``resnet20_freqmod_fashion_mnist`` are the CIFAR ResNet-20 of
:mod:`freqbench.models.cifar_resnet` whose first layer (the 3x3, 16-filter, bias-free stem conv) is a
:class:`~freqbench.nn.frequency_modulation.FrequencyModulation`: **freqbench's own protocol** (REFERENCE.md
section 5; not the method of Jia, Bao & Ma, arXiv 1911.12044, which publishes no method details). The
stem's filters are stored as Hermitian half spectra (spectral parameterisation), multiplied by a
learnable positive radial gain per filter, and a **proportion** ``p`` of them is fixed to the low band,
the rest to the high band (:class:`~freqbench.nn.frequency_modulation.BandSplit`). Everything after the
stem is ResNet-20 unchanged (stride-2 downsampling, option-A shortcuts).

Builder parameters (``cfg.extra``, so they enter the result keys): ``proportion`` p (default 0.5:
``round(0.5 * 16) = 8`` low and 8 high filters, the balanced split, so neither band is favoured before
training says otherwise), ``band_cutoff`` 0.75 cycles per kernel (BandSplit's default ``3 / 4`` for a
3x3 kernel: with the ideal profile, low filters are per-channel constants (DC only) and high filters
have zero mean), ``band_profile`` ``ideal`` and the DFT ``norm`` ``ortho``. A different p is a config
change: ``dataclasses.replace(cfg, extra={**cfg.extra, "proportion": 0.25})``.

Init: the spatial filters are drawn He-normal, as for every conv of the ResNet-20 family, and stored as
their spectrum (the band mask then acts on them); gains start at 1.

Parameters: theta holds ``3 x 2`` complex numbers (12 reals) per 3x3 slice instead of 9 weights, and
each filter has ``3 // 2 + 1 = 2`` gain logits, so the stem has ``16 * C * 12 + 16 * 2`` parameters
instead of ``16 * C * 9``: 269,898 in all for 3 input channels and 269,514 for 1 (ResNet-20: 269,722
and 269,434).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from freqbench.models.base import ModelConfig
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.models.family import extra_value, register_architectures
from freqbench.nn.frequency_modulation import BandSplit, FrequencyModulation
from freqbench.nn.spectral_conv import Norm
from freqbench.ops.masks import Profile

ARCH = "resnet20_freqmod"
DEFAULT_PROPORTION = 0.5
STEM_KERNEL = 3
DEFAULT_CUTOFF = STEM_KERNEL / 4.0


def frequency_modulated_stem(split: BandSplit, *, norm: str = "ortho") -> Callable[[int, int], nn.Module]:
    """A stem factory ``(in_channels, out_channels) -> FrequencyModulation`` (3x3, padding 1, no bias),
    He-normal initialised."""

    def make(in_channels: int, out_channels: int) -> nn.Module:
        layer = FrequencyModulation(
            in_channels,
            out_channels,
            STEM_KERNEL,
            padding=STEM_KERNEL // 2,
            bias=False,
            band_split=split,
            norm=cast(Norm, norm),  # SpectralConv2d rejects any other name with a ConfigError
        )
        weight = torch.empty(out_channels, in_channels, STEM_KERNEL, STEM_KERNEL)
        nn.init.kaiming_normal_(weight)
        layer.conv.set_weight(weight)
        return layer

    return make


def build(cfg: ModelConfig) -> CifarResNet:
    """The bare network of ``cfg`` (``extra``: depth, proportion, band_cutoff, band_profile, norm)."""
    split = BandSplit(
        proportion=float(extra_value(cfg, "proportion", (int, float))),
        cutoff=float(extra_value(cfg, "band_cutoff", (int, float))),
        profile=Profile(extra_value(cfg, "band_profile", str)),
    )
    return CifarResNet(
        extra_value(cfg, "depth", int),
        num_classes=cfg.num_classes,
        in_channels=cfg.input_size[0],
        stem=frequency_modulated_stem(split, norm=extra_value(cfg, "norm", str)),
    )


register_architectures(
    ARCH,
    build,
    extra={
        "depth": 20,
        "proportion": DEFAULT_PROPORTION,
        "band_cutoff": DEFAULT_CUTOFF,
        "band_profile": Profile.IDEAL.value,
        "norm": "ortho",
    },
    paper="He et al. 2016 (arXiv:1512.03385) with freqbench's frequency-modulated first layer "
    "(REFERENCE.md section 5; motivated by, not taken from, Jia, Bao & Ma, arXiv:1911.12044)",
    notes=f"ResNet-20 with a frequency-modulated first layer, low-band proportion p={DEFAULT_PROPORTION}.",
)
