"""Tiny in-memory datasets and models for the probe tests (real ``ArrayDataset`` objects, so the
probes read images exactly as they read a registered dataset)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.data.base import ArrayDataset, DatasetInfo


def make_dataset(
    n: int, size: tuple[int, int], channels: int = 3, classes: int = 3, *, seed: int = 0
) -> ArrayDataset:
    """``n`` random uint8 images with random labels; sample indices start at 100 (not 0..n-1, so a
    probe that confused rows with indices would be caught)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, *size, channels), dtype=np.uint8)
    labels = rng.integers(0, classes, n).astype(np.int64)
    info = DatasetInfo("tiny", "test", classes, tuple(f"c{k}" for k in range(classes)), "memory")
    return ArrayDataset(info, images, labels, np.arange(100, 100 + n, dtype=np.int64))


def tiny_net(channels: int = 3, classes: int = 3, *, seed: int = 0) -> nn.Module:
    """A small random CNN, in eval mode."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, classes),
    ).eval()


@pytest.fixture
def make_data() -> Callable[..., ArrayDataset]:
    """:func:`make_dataset` (test modules do not import conftest)."""
    return make_dataset


@pytest.fixture
def make_net() -> Callable[..., nn.Module]:
    """:func:`tiny_net`."""
    return tiny_net
