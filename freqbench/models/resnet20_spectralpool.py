"""ResNet-20 with spectral pooling in place of its stride-2 downsampling (architecture entries).

``resnet20_spectralpool_cifar10`` and ``resnet20_spectralpool_fashion_mnist`` are the CIFAR ResNet-20 of
:mod:`freqbench.models.cifar_resnet` (He et al. 2016, option-A shortcuts) in which the two downsampling
blocks (first blocks of stages 2 and 3) halve their maps by spectral pooling (Rippel, Snoek & Adams,
NeurIPS 2015, arXiv 1506.03767; :class:`~freqbench.nn.spectral_pool.SpectralPool2d`) instead of by
striding, **on both paths**:

- main path: the 3x3 conv runs at stride 1 and its output is spectrally pooled to half size, then
  BN and ReLU (conv -> pool -> BN -> ReLU). A stride-2 conv is exactly a stride-1 conv followed by the
  subsampling ``x[::2, ::2]``, so the pool takes the place of that subsampling and of nothing else.
  (Pooling first and convolving the half-size map would cost 4x less, but would also change what the
  conv sees; the choice here keeps the conv identical.)
- shortcut: option A with the strided subsampling replaced by the same spectral pool, then the
  channel zero padding (no parameters).

The pool keeps the centred ``floor(H / 2) x floor(W / 2)`` block of the spectrum (``scale=0.5``, so
32 -> 16 -> 8 on CIFAR-10 and 28 -> 14 -> 7 on Fashion-MNIST; odd sizes round down where a stride-2
conv rounds up), with freqbench's Nyquist rule and mean-preserving amplitude (a constant map pools to
itself, as option A's subsampling does). No frequency dropout: this family isolates the pooling
operator; the Rippel et al. network with frequency dropout is :mod:`freqbench.models.spectral_cnn`.

The pools hold no state, so the ``state_dict`` keys are the akamaster ResNet-20 keys, and the
parameter count is ResNet-20's: 269,722 (3 input channels) and 269,434 (1 input channel).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from freqbench.models.base import ModelConfig
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.models.family import extra_value, register_architectures
from freqbench.nn.spectral_pool import SpectralPool2d

ARCH = "resnet20_spectralpool"
POOL_SCALE = 0.5
"""The pooled size per axis is ``floor(POOL_SCALE * H)``: half, the stride it replaces."""


def spectral_pool_factory(scale: float) -> Callable[[], nn.Module]:
    """A factory of fresh spectral pools to ``floor(scale * H)`` (no frequency dropout)."""
    SpectralPool2d(scale=scale)  # fail at build time on a scale outside (0, 1]
    return lambda: SpectralPool2d(scale=scale)


def build(cfg: ModelConfig) -> CifarResNet:
    """The bare network of ``cfg`` (``extra``: depth, pool_scale)."""
    return CifarResNet(
        extra_value(cfg, "depth", int),
        num_classes=cfg.num_classes,
        in_channels=cfg.input_size[0],
        downsample=spectral_pool_factory(float(extra_value(cfg, "pool_scale", (int, float)))),
    )


register_architectures(
    ARCH,
    build,
    extra={"depth": 20, "pool_scale": POOL_SCALE},
    paper="He et al. 2016 (arXiv:1512.03385) with the spectral pooling of Rippel, Snoek & Adams 2015 "
    "(arXiv:1506.03767)",
    notes="ResNet-20 whose stride-2 downsampling (main path and shortcut) is spectral pooling to half size.",
)
