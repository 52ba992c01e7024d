"""Shared fixtures for engine tests: a tiny in-memory dataset and a tiny seeded model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.engine.loop import ModelUnderTest
from freqbench.models.base import ModelConfig


def tiny_dataset(n: int = 40, channels: int = 3, size: int = 16, classes: int = 4) -> ArrayDataset:
    rng = np.random.default_rng(0)
    return ArrayDataset(
        DatasetInfo("tiny", "test", classes, tuple(map(str, range(classes))), "memory"),
        rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8),
        rng.integers(0, classes, n),
    )


def tiny_model(channels: int = 3, size: int = 16, classes: int = 4) -> ModelUnderTest:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, classes),
    ).eval()
    cfg = ModelConfig(
        "tiny", "tinycnn", "tiny", classes, (channels, size, size), (0.5,) * channels, (0.5,) * channels
    )
    return ModelUnderTest("tiny", net, cfg, "sha-of-nothing")


@pytest.fixture
def data() -> ArrayDataset:
    return tiny_dataset()


@pytest.fixture
def model() -> ModelUnderTest:
    return tiny_model()
