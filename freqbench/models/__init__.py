"""The model registry: ``MODELS``, :class:`ModelConfig` and :func:`load_model`.

Family modules register their entries when ``MODELS`` is first queried, so importing
``freqbench.models`` builds nothing; timm itself is imported only for ``timm:`` names.

Registered: ``resnet{20,32,44,56}_cifar10.akamaster`` (pretrained CIFAR-10), ``resnet{20,32,44,56}_cifar10``
(architecture only, random initialisation), ``resnet20_fashion_mnist`` (the default model, weights bundled);
families ``timm:NAME`` and ``checkpoint:PATH``.

Architecture-only frequency families (random initialisation, no weights yet; each for ``cifar10`` and
``fashion_mnist``): ``spectral_cnn_*`` (Rippel et al.'s spectral-pooling CNN), ``resnet20_spectralpool_*``
and ``resnet20_waveletpool_*`` (ResNet-20 downsampling by spectral / Haar wavelet pooling),
``resnet20_freqmod_*`` (freqbench's frequency-modulated first layer); and seed 000's ResNet-18
topologies ``resnet18_cifar10`` and ``resnet18_fashion_mnist``.
"""

from __future__ import annotations

from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource
from freqbench.models.loading import adapt, import_weights, load_model

MODELS.register_module("freqbench.models.cifar_resnet")
MODELS.register_module("freqbench.models.checkpoint_file")
MODELS.register_module("freqbench.models.timm_adapter")
MODELS.register_module("freqbench.models.spectral_cnn")
MODELS.register_module("freqbench.models.resnet20_spectralpool")
MODELS.register_module("freqbench.models.resnet20_waveletpool")
MODELS.register_module("freqbench.models.resnet20_freqmod")
MODELS.register_module("freqbench.models.seed_resnet18")

__all__ = ["MODELS", "ModelConfig", "ModelEntry", "WeightSource", "adapt", "import_weights", "load_model"]
MODELS.register_module("freqbench.models.robustbench")
