"""ResNet-20 with wavelet pooling in place of its stride-2 downsampling (architecture entries).

``resnet20_waveletpool_cifar10`` and ``resnet20_waveletpool_fashion_mnist`` are the CIFAR ResNet-20 of
:mod:`freqbench.models.cifar_resnet` whose two downsampling blocks halve their maps with the low-pass
(LL) subband of a one-level 2-D DWT (:class:`~freqbench.nn.wavelet_pool.WaveletPool2d`, filters from
PyWavelets), the space-localised alternative to spectral pooling named in the seed project
(REFERENCE.md section 3). It is placed exactly as in :mod:`freqbench.models.resnet20_spectralpool`:
main path conv (stride 1) -> pool -> BN -> ReLU, and on the option-A shortcut in place of the strided
subsampling, before the channel zero padding.

Choices (all in ``cfg.extra``, so they enter the result keys):

- wavelet ``haar`` (the shortest filter, so the pool sees a 2 x 2 neighbourhood like the stride it
  replaces); any PyWavelets discrete wavelet name works, e.g. ``db2``;
- boundary mode ``periodization``: ``ceil(H / 2)`` outputs, exactly half for even sizes, as a stride-2
  conv gives (32 -> 16 -> 8, 28 -> 14 -> 7);
- ``mean_preserving=True``: the LL band is divided by ``sum(dec_lo)^2 = 2`` so a constant map pools to
  itself, as option A's subsampling does; the shortcut then carries the signal at its own scale.
  With Haar this makes the pool exactly 2 x 2 average pooling (``(a + b + c + d) / 4``).

The pools hold no state (their filter is a non-persistent buffer): the ``state_dict`` keys are the
akamaster ResNet-20 keys, and the parameter count is ResNet-20's: 269,722 (3 input channels) and
269,434 (1 input channel).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from freqbench.models.base import ModelConfig
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.models.family import extra_value, register_architectures
from freqbench.nn.wavelet_pool import WaveletPool2d, wavelet_lowpass

ARCH = "resnet20_waveletpool"
WAVELET = "haar"
MODE = "periodization"


def wavelet_pool_factory(wavelet: str, mode: str, mean_preserving: bool) -> Callable[[], nn.Module]:
    """A factory of fresh wavelet pools with these settings (the wavelet name is checked now)."""
    wavelet_lowpass(wavelet)  # fail at build time, with the closest names, on an unknown wavelet
    return lambda: WaveletPool2d(wavelet, mode=mode, mean_preserving=mean_preserving)


def build(cfg: ModelConfig) -> CifarResNet:
    """The bare network of ``cfg`` (``extra``: depth, wavelet, mode, mean_preserving)."""
    factory = wavelet_pool_factory(
        extra_value(cfg, "wavelet", str),
        extra_value(cfg, "mode", str),
        extra_value(cfg, "mean_preserving", bool),
    )
    return CifarResNet(
        extra_value(cfg, "depth", int),
        num_classes=cfg.num_classes,
        in_channels=cfg.input_size[0],
        downsample=factory,
    )


register_architectures(
    ARCH,
    build,
    extra={
        "depth": 20,
        "wavelet": WAVELET,
        "mode": MODE,
        "mean_preserving": True,
    },
    paper="He et al. 2016 (arXiv:1512.03385) with wavelet (DWT low-pass) pooling; filters from "
    "PyWavelets (Lee et al., JOSS 2019)",
    notes="ResNet-20 whose stride-2 downsampling (main path and shortcut) is the Haar LL subband, "
    "mean-preserving.",
)
