"""Shared plumbing of the architecture-only model families: per-dataset defaults, typed access to a
config's builder parameters (``extra``), and the registration of ``<arch>_<dataset>`` entries.

The frequency families (:mod:`~freqbench.models.spectral_cnn`, :mod:`~freqbench.models.resnet20_spectralpool`,
:mod:`~freqbench.models.resnet20_waveletpool`, :mod:`~freqbench.models.resnet20_freqmod`) and seed 000's
ResNet-18 topologies (:mod:`~freqbench.models.seed_resnet18`) are registered as architectures: random
initialisations with ``weights=None``, built to be trained by ``freqbench train``. Every parameter that
changes what a builder makes lives in ``cfg.extra``, so it enters :meth:`ModelConfig.result_spec` and
the result keys.

**Normalisation.** CIFAR-10 entries use the ImageNet mean/std of the ResNet-20 baseline entries
(:data:`~freqbench.models.cifar_resnet.IMAGENET_MEAN`), so that a family differs from the baseline in
its architecture only; Fashion-MNIST entries use the training-set statistics of ``resnet20_fashion_mnist``
(:data:`~freqbench.models.cifar_resnet.FMNIST_MEAN`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from torch import nn

from freqbench.errors import ConfigError
from freqbench.models.base import MODELS, ModelConfig, ModelEntry
from freqbench.models.cifar_resnet import FMNIST_MEAN, FMNIST_STD, IMAGENET_MEAN, IMAGENET_STD

T = TypeVar("T")


@dataclass(frozen=True)
class DatasetDefaults:
    """What an architecture entry for a dataset expects: input size, classes and normalisation."""

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int = 10


DATASET_DEFAULTS: dict[str, DatasetDefaults] = {
    "cifar10": DatasetDefaults((3, 32, 32), IMAGENET_MEAN, IMAGENET_STD),
    "fashion_mnist": DatasetDefaults((1, 28, 28), FMNIST_MEAN, FMNIST_STD),
}
"""Dataset name (the suffix of the entry name) -> its defaults (module docstring: normalisation)."""

ARCHITECTURE_ONLY = (
    "Architecture only: no trained weights (random initialisation); train it with `freqbench train`."
)


def extra_value(cfg: ModelConfig, key: str, kind: type[T] | tuple[type, ...]) -> T:
    """``cfg.extra[key]``, checked to be of ``kind`` (bool is not accepted as an int or a float).

    Raises:
        ConfigError: the key is missing or holds a value of another type.
    """
    if key not in cfg.extra:
        raise ConfigError(
            f"model config {cfg.name!r} lacks the builder parameter extra[{key!r}]; "
            f"it has {sorted(cfg.extra)}: register the entry with it"
        )
    value = cfg.extra[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise ConfigError(f"model config {cfg.name!r}: extra[{key!r}] must be {names}, got {value!r}")
    return value  # type: ignore[return-value]


def register_architectures(
    arch: str,
    build: Callable[[ModelConfig], nn.Module],
    *,
    extra: dict[str, object],
    paper: str,
    license: str = "BSD-3-Clause (freqbench)",
    notes: str = "",
    datasets: tuple[str, ...] = tuple(DATASET_DEFAULTS),
) -> list[str]:
    """Register ``<arch>_<dataset>`` for each dataset as a random-initialisation architecture entry.

    Returns:
        The names registered.
    """
    names = []
    for dataset in datasets:
        d = DATASET_DEFAULTS[dataset]
        name = f"{arch}_{dataset}"
        cfg = ModelConfig(
            name=name,
            arch=arch,
            dataset=dataset,
            num_classes=d.num_classes,
            input_size=d.input_size,
            mean=d.mean,
            std=d.std,
            license=license,
            paper=paper,
            notes=f"{ARCHITECTURE_ONLY} {notes}".strip(),
            extra=dict(extra),
        )
        MODELS.register(name, ModelEntry(cfg=cfg, build=build))
        names.append(name)
    return names
