"""The dataset contract and its registry.

A dataset is held as uint8 images (N, H, W, C) in a fixed canonical order plus integer labels; the
sample index is the position in that order and is stable across runs (``--limit N`` takes a fixed,
seed-independent subset of N of them: :meth:`ArrayDataset.subset`).
Loaders never fall back silently: a missing file raises :class:`~freqbench.errors.MissingDataError`
naming the path expected and the command that provides it.

``DATASETS`` maps a name to a factory ``(DataRequest) -> ArrayDataset``; ``imagefolder:PATH`` is a prefix
family.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from freqbench.errors import DataFormatError
from freqbench.ops.random import sample_keys
from freqbench.registry import Registry

__all__ = ["DATASETS", "ArrayDataset", "DataFormatError", "DataRequest", "DatasetInfo"]


@dataclass(frozen=True)
class DataRequest:
    """What the caller asks of a dataset factory.

    Attributes:
        split: ``test`` or ``train``.
        root: explicit ``--data-root`` searched before the cache and system locations.
        download: allow a network download (with pinned checksum) when nothing is found locally.
    """

    split: str = "test"
    root: Path | None = None
    download: bool = True


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    split: str
    num_classes: int
    classes: tuple[str, ...]
    source: str  # where the files were read from


@dataclass(frozen=True)
class ArrayDataset:
    """Images and labels in canonical order.

    Attributes:
        info: name, split, classes, source.
        images: uint8 array (N, H, W, C) (may be a memory map).
        labels: int64 array (N,).
        index: the stable sample index of each row in the full dataset (None: ``arange(N)``); a
            subset keeps its rows' original indices, which seed per-sample randomness and address
            C dataset files.
    """

    info: DatasetInfo
    images: np.ndarray
    labels: np.ndarray
    index: np.ndarray | None = None
    _fingerprint: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, H, W, C), got {self.images.shape} {self.images.dtype}"
            )
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def indices(self) -> np.ndarray:
        """Stable sample indices of the rows (int64, (N,))."""
        return np.arange(len(self), dtype=np.int64) if self.index is None else self.index

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        _, h, w, c = self.images.shape
        return (c, h, w)

    def subset(self, limit: int | None) -> ArrayDataset:
        """The documented, stable ``--limit`` subset: a fixed pseudo-random choice of ``limit`` samples.

        Sample *i* gets the rank ``sample_keys(0, "freqbench-subset", [i])`` (a hash of its index alone),
        and the ``limit`` samples of smallest rank are kept, in index order. The choice is identical on
        every machine and run, independent of ``--seed``, roughly class-balanced even when the
        canonical order is sorted by class (image folders), and nested (``--limit 100`` is part of
        ``--limit 1000``).
        """
        if limit is None or limit >= len(self):
            return self
        ranks = sample_keys(0, "freqbench-subset", torch.from_numpy(self.indices)).numpy()
        rows = np.sort(np.argsort(ranks, kind="stable")[:limit])
        return ArrayDataset(self.info, self.images[rows], self.labels[rows], self.indices[rows])

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0, 1] (B, C, H, W) and int64 labels (B,) for sample ``indices``.

        Shape:
            returns (B, C, H, W) float32, (B,) int64.
        """
        imgs = torch.from_numpy(np.ascontiguousarray(self.images[indices]))
        x = imgs.permute(0, 3, 1, 2).float().div_(255.0).contiguous()
        return x, torch.from_numpy(np.asarray(self.labels[indices], dtype=np.int64))

    def fingerprint(self) -> str:
        """sha256 of the image and label bytes (enters result keys)."""
        if not self._fingerprint:
            h = hashlib.sha256()
            h.update(str(self.images.shape).encode())
            for start in range(0, len(self), 4096):
                h.update(np.ascontiguousarray(self.images[start : start + 4096]).tobytes())
            h.update(np.asarray(self.labels, dtype=np.int64).tobytes())
            h.update(self.indices.tobytes())
            self._fingerprint.append(h.hexdigest())
        return self._fingerprint[0]


DatasetFactory = Callable[[DataRequest], ArrayDataset]
DATASETS: Registry[DatasetFactory] = Registry("dataset")
