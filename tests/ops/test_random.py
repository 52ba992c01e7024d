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
    c = SampleGenerator.from_seed(7, [4], stream="c").normal((5, 3))
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


RAW = np.array([0, 1, 2**23 - 1, 2**23, 2**24 - 2, 2**24 - 1])  # the extreme 24-bit draws


@pytest.fixture
def raw_draws(monkeypatch):  # type: ignore[no-untyped-def]
    """A generator whose every draw is RAW (B = 1): uniform sees exactly these 24-bit integers."""

    def bits24(self, shape=()):  # type: ignore[no-untyped-def]
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        assert int(np.prod(shape)) == RAW.size
        return torch.from_numpy(RAW.astype(np.int32)).reshape(1, *shape)

    monkeypatch.setattr(SampleGenerator, "bits24", bits24)
    return SampleGenerator.from_seed(0, 1)


def _largest_below(high: float, dtype: type) -> float:
    h = dtype(high)
    return float(np.nextafter(h, dtype(-np.inf))) if float(h) >= high else float(h)


@pytest.mark.parametrize(
    "low,high,dtype",
    [(0.0, 1.0, np.float32), (0.0, 1.0, np.float64), (-1.0, 1.0, np.float32), (0.0, 0.1, np.float32)],
)
def test_uniform_stays_below_high_at_the_extreme_draws(raw_draws, low, high, dtype) -> None:
    tdtype = torch.float32 if dtype is np.float32 else torch.float64
    u = raw_draws.uniform(RAW.size, low=low, high=high, dtype=tdtype)[0].double().numpy()
    # the documented formula in float64, rounded once to the output dtype, kept below ``high``
    exact = low + (high - low) * ((RAW + 0.5) / 2**24)
    expected = np.minimum(exact.astype(dtype).astype(np.float64), _largest_below(high, dtype))
    np.testing.assert_array_equal(u, expected)
    assert u.min() >= low and u.max() < high
    # only the draws that rounded onto ``high`` moved, by one step of the dtype
    moved = exact.astype(dtype).astype(np.float64) >= high
    assert (u != exact.astype(dtype)).sum() == moved.sum()


def test_float32_unit_uniform_no_longer_returns_one(raw_draws) -> None:
    u = raw_draws.uniform(RAW.size)[0]
    assert float((torch.tensor(RAW[-1], dtype=torch.float64) + 0.5) / 2**24) < 1.0
    assert torch.tensor(1 - 2**-25, dtype=torch.float32).item() == 1.0  # why it used to: ties to even
    assert u[-1].item() == np.nextafter(np.float32(1), np.float32(0)) and u.max() < 1


def test_normal_keeps_its_draws_at_the_extremes(raw_draws) -> None:
    # Box-Muller takes u1 in (0, 1]: the top draw is u1 = 1 (radius 0) exactly as before the fix
    z = raw_draws.normal(2 * RAW.size)[0].double().numpy()
    u = ((RAW + 0.5) / 2**24).astype(np.float32).astype(np.float64)
    r = np.sqrt(-2 * np.log(u))
    expected = np.concatenate([r * np.cos(2 * np.pi * u), r * np.sin(2 * np.pi * u)])
    assert z[RAW.size - 1] == 0.0 and z[-1] == 0.0
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)


def test_uniform_refuses_an_empty_range() -> None:
    with pytest.raises(ValueError, match="low < high"):
        SampleGenerator.from_seed(0, 1).uniform(3, low=1.0, high=1.0)
