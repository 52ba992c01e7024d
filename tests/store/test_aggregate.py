"""Aggregation against scipy's independent interval computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from freqbench.store.aggregate import mean, proportion, summarize, wilson_interval


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (917, 1000), (50, 50), (1, 7)])
def test_wilson_matches_scipy(k, n) -> None:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def test_mean_interval_matches_normal_approximation() -> None:
    v = np.random.default_rng(0).normal(2.0, 3.0, 400)
    e = mean("loss", v)
    half = stats.norm.ppf(0.975) * v.std(ddof=1) / np.sqrt(v.size)
    assert e.value == pytest.approx(v.mean()) and e.ci_high - e.value == pytest.approx(half)


def test_summarize_metrics() -> None:
    arrays = {
        "correct": np.array([1, 1, 0, 1], bool),
        "loss": np.ones(4),
        "margin": np.zeros(4),
        "delta_linf": np.zeros(4),
        "delta_l2": np.zeros(4),
        "band_fractions": np.array([0.5, 0.3, 0.2]),
    }
    out = {e.metric: e for e in summarize(arrays)}
    assert out["accuracy"].value == 0.75 and out["accuracy"].n == 4
    assert out["delta_energy_mid"].value == pytest.approx(0.3)
    assert proportion("x", np.array([], bool)).n == 0


def test_success_rate_counts_only_initially_correct_samples() -> None:
    clean = np.array([1, 1, 1, 0, 1], bool)
    now = np.array([0, 1, 0, 1, 1], bool)
    arrays = {
        "correct": now,
        "loss": np.ones(5),
        "margin": np.zeros(5),
        "delta_linf": np.zeros(5),
        "delta_l2": np.zeros(5),
        "clean_correct": clean,
        "success": clean & ~now,
    }
    rate = {e.metric: e for e in summarize(arrays)}["success_rate"]
    assert rate.value == 0.5 and rate.n == 4  # 2 of the 4 initially correct samples flipped
