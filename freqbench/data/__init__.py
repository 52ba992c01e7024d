"""Datasets: the registry, the loaders (registered lazily) and the CIFAR-10-C file layer.

``DATASETS`` holds ``cifar10``, ``cifar100`` (official python pickles), ``fashion_mnist``, ``mnist``
(IDX) and the ``imagefolder:PATH`` family; ``C_DATASETS`` holds the corrupted datasets ``cifar10c`` /
``cifar100c`` (the released corruption files), read one (corruption, severity) block at a time beside
their clean dataset by the suites of the same name. The loader modules are imported on the first lookup.
"""

from __future__ import annotations

from freqbench.data.base import DATASETS, ArrayDataset, DataFormatError, DataRequest, DatasetInfo
from freqbench.data.cifar_c import C_DATASETS, CBlock
from freqbench.data.sources import SOURCES

# SOURCES too: `data import mnist` may be the first lookup, before any DATASETS lookup imported them
for _module in ("cifar", "mnist", "imagefolder"):
    DATASETS.register_module(f"freqbench.data.{_module}")
    SOURCES.register_module(f"freqbench.data.{_module}")

__all__ = [
    "C_DATASETS",
    "DATASETS",
    "ArrayDataset",
    "CBlock",
    "DataFormatError",
    "DataRequest",
    "DatasetInfo",
]
