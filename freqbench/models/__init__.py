"""The model registry: ``MODELS``, :class:`ModelConfig` and :func:`load_model`.

Family modules register their entries when ``MODELS`` is first queried, so importing
``freqbench.models`` builds nothing; timm itself is imported only for ``timm:`` names.

Registered: ``resnet{20,32,44,56}_cifar10.akamaster`` (pretrained CIFAR-10), ``resnet{20,32,44,56}_cifar10``
(architecture only, random initialisation), ``resnet20_fmnist`` (the default model, weights bundled);
families ``timm:NAME`` and ``checkpoint:PATH``.
"""

from __future__ import annotations

from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource
from freqbench.models.loading import adapt, import_weights, load_model

MODELS.register_module("freqbench.models.cifar_resnet")
MODELS.register_module("freqbench.models.checkpoint_file")
MODELS.register_module("freqbench.models.timm_adapter")

__all__ = ["MODELS", "ModelConfig", "ModelEntry", "WeightSource", "adapt", "import_weights", "load_model"]
MODELS.register_module("freqbench.models.robustbench")
