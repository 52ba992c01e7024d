"""SampleGenerator.poisson_levels against scipy.stats.poisson.

The sampler inverts the Poisson CDF at one uniform per element, the uniform the generator would have
returned from ``uniform(shape, dtype=float64)`` at the same counter. So the strongest check is exact:
a twin generator reproduces the uniforms and ``scipy.stats.poisson.ppf(u, rate)`` must give the same
counts. Mean, variance and a chi-square goodness of fit add the distributional view.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from freqbench.ops.random import SampleGenerator

RATES = (0.0, 1e-3, 0.5, 3.0, 17.3, 50.0, 499.0, 5000.0)


def twin_uniforms(g: SampleGenerator, shape: tuple[int, ...]) -> np.ndarray:
    return SampleGenerator(g.keys.clone(), counter=g.counter).uniform(shape, dtype=torch.float64).numpy()


def test_poisson_levels_at_every_rate_is_the_scipy_quantile() -> None:
    g = SampleGenerator.from_seed(1, 16)
    rates = torch.tensor(RATES, dtype=torch.float64)
    index = torch.arange(len(RATES)).repeat_interleave(250).expand(16, -1).contiguous()
    u = twin_uniforms(g, tuple(index.shape[1:]))
    k = g.poisson_levels(index, rates)
    np.testing.assert_array_equal(k.numpy(), stats.poisson.ppf(u, rates[index].numpy()))
    assert g.counter == index.shape[1]  # exactly one uniform per element


def test_poisson_levels_is_the_scipy_quantile_of_its_uniform() -> None:
    g = SampleGenerator.from_seed(2, 16)
    rates = torch.tensor(RATES, dtype=torch.float64)
    index = torch.randint(0, len(RATES), (16, 3, 40), generator=torch.Generator().manual_seed(0))
    u = twin_uniforms(g, (3, 40))
    k = g.poisson_levels(index, rates)
    np.testing.assert_array_equal(k.numpy(), stats.poisson.ppf(u, rates[index].numpy()))


def chi_square_pvalue(k: np.ndarray, lam: float) -> float:
    """Chi-square goodness of fit to Poisson(lam) over bins expecting >= 20 counts, tails pooled."""
    n = k.size
    support = np.arange(int(lam + 10 * np.sqrt(lam) + 10))
    keep = stats.poisson.pmf(support, lam) * n >= 20
    lo, hi = support[keep][0], support[keep][-1]
    inner = np.arange(lo + 1, hi)
    observed = np.array(
        [(k <= lo).sum(), *[(k == v).sum() for v in inner], (k >= hi).sum()], dtype=np.float64
    )
    probs = np.array(
        [stats.poisson.cdf(lo, lam), *stats.poisson.pmf(inner, lam), stats.poisson.sf(hi - 1, lam)]
    )
    return float(stats.chisquare(observed, probs * n).pvalue)


@pytest.mark.parametrize("lam", [0.7, 4.0, 30.0, 250.0])
def test_poisson_mean_variance_and_chi_square(lam: float) -> None:
    g = SampleGenerator.from_seed(3, 40)
    index = torch.zeros((40, 1000), dtype=torch.int64)
    k = g.poisson_levels(index, torch.tensor([lam], dtype=torch.float64)).flatten().numpy()
    n = k.size
    # mean and variance both lam; 5 standard errors
    assert abs(k.mean() - lam) < 5 * np.sqrt(lam / n)
    assert abs(k.var() - lam) < 5 * lam * np.sqrt(2.0 / n + 1.0 / (lam * n))
    assert chi_square_pvalue(k, lam) > 1e-3


def test_poisson_levels_distribution_on_8bit_rates() -> None:
    # the shot-noise use: 256 levels times lambda = 50
    g = SampleGenerator.from_seed(4, 64)
    index = torch.full((64, 2000), 200, dtype=torch.int64)
    k = g.poisson_levels(index, torch.arange(256, dtype=torch.float64) / 255 * 50).flatten().numpy()
    lam = 200 / 255 * 50
    assert abs(k.mean() - lam) < 5 * np.sqrt(lam / k.size)
    assert chi_square_pvalue(k, lam) > 1e-3


def test_poisson_is_batch_size_invariant() -> None:
    rate = torch.linspace(0, 300, 7 * 50).reshape(7, 50)
    levels = SampleGenerator.from_seed(5, 7).poisson_levels((rate / 10).long(), torch.arange(31.0) * 10)
    assert torch.equal(
        levels[2:4],
        SampleGenerator.from_seed(5, [2, 3]).poisson_levels((rate[2:4] / 10).long(), torch.arange(31.0) * 10),
    )


def test_poisson_rejects_bad_input() -> None:
    g = SampleGenerator.from_seed(0, 2)
    with pytest.raises(ValueError, match="non-negative"):
        g.poisson_levels(torch.zeros((2, 1), dtype=torch.int64), torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="shape"):
        g.poisson_levels(torch.zeros((3, 4), dtype=torch.int64), torch.ones(3))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        g.poisson_levels(torch.tensor([[0], [3]]), torch.ones(3))
    with pytest.raises(ValueError, match="int64"):
        g.poisson_levels(torch.zeros(2, 1), torch.ones(3))
