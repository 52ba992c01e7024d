"""SampleGenerator: batch-size invariance, independence of streams, distributions vs scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from freqbench.ops.random import SampleGenerator, sample_keys


def test_same_sample_same_numbers_whatever_the_batch() -> None:
    full = SampleGenerator.from_seed(7, 10, stream="c")
    a = full.normal((5, 3))
    b = SampleGenerator.from_seed(7, torch.tensor([3, 4]), stream="c").normal((5, 3))
    c = SampleGenerator.from_seed(7, 10, stream="c")[torch.tensor([4])].normal((5, 3))
    assert torch.equal(a[3:5], b)
    assert torch.equal(a[4:5], c)


def test_streams_differ_by_seed_condition_and_index() -> None:
    idx = torch.arange(4)
    k = sample_keys(0, "fog@3", idx)
    assert len(set(k.tolist())) == 4
    assert not torch.equal(k, sample_keys(1, "fog@3", idx))
    assert not torch.equal(k, sample_keys(0, "fog@4", idx))
    g = SampleGenerator(k)
    assert not torch.equal(g.uniform(8), g.uniform(8))  # the counter advances


def test_uniform_and_normal_distributions() -> None:
    g = SampleGenerator.from_seed(0, 64)
    u = g.uniform(2000).flatten().double().numpy()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    z = g.normal(2000).flatten().double().numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    # neighbouring samples are uncorrelated
    zz = SampleGenerator.from_seed(0, 2).normal(50000)
    assert abs(np.corrcoef(zz.numpy())[0, 1]) < 0.02


def test_integers_cover_range_uniformly() -> None:
    v = SampleGenerator.from_seed(3, 100).integers(2, 7, 1000).flatten().numpy()
    assert v.min() == 2 and v.max() == 6
    counts = np.bincount(v - 2)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_bad_keys_rejected() -> None:
    with pytest.raises(ValueError, match="1-D int64"):
        SampleGenerator(torch.zeros(3))
