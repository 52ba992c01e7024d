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


@pytest.mark.parametrize("n", [3, 6, 7, 10, 12, 13, 25, 1000, 10_007])
def test_wilson_end_points_are_exact(n) -> None:
    # the closed form gives e.g. 5.6e-17 for 0 of 3 and 0.9999999999999999 for 10 of 10
    lo0, hi0 = wilson_interval(0, n)
    lon, hin = wilson_interval(n, n)
    assert lo0 == 0.0 and hin == 1.0
    z = stats.norm.ppf(0.975)
    assert hi0 == pytest.approx(z * z / (n + z * z), rel=1e-12)  # Wilson's upper end at p = 0
    assert lon == pytest.approx(n / (n + z * z), rel=1e-12)
    assert proportion("accuracy", np.ones(n, bool)).ci_high == 1.0


def test_mean_interval_is_clipped_to_the_metric_domain() -> None:
    v = np.array([0.0] * 9 + [5.0])  # mean 0.5, normal half-width ~1.0: the raw interval goes below 0
    half = stats.norm.ppf(0.975) * v.std(ddof=1) / np.sqrt(v.size)
    assert v.mean() - half < 0
    for metric in ("loss", "delta_linf", "delta_l2", "clamped_fraction", "clamp_error", "amplitude_error"):
        e = mean(metric, v if metric != "clamped_fraction" else v / 5)
        assert e.ci_low == 0.0 and e.value > 0, metric
    assert mean("loss", v).ci_high == pytest.approx(v.mean() + half)
    f = mean("clamped_fraction", np.array([1.0] * 9 + [0.0]))
    assert f.ci_high == 1.0 and f.ci_low == pytest.approx(0.9 - stats.norm.ppf(0.975) * np.sqrt(0.1 / 10))
    m = mean("margin", v - 3)  # a margin is signed: its interval is not clipped
    assert m.ci_low == pytest.approx(v.mean() - 3 - half)
    assert mean("x", v, domain=(0.2, 0.7)).ci_low == 0.2 and mean("x", v, domain=(0.2, 0.7)).ci_high == 0.7


def test_summarize_clips_every_non_negative_metric() -> None:
    loss = np.array([0.0] * 19 + [3.0])
    arrays = {
        "correct": np.zeros(20, bool),
        "loss": loss,
        "margin": -loss,
        "delta_linf": loss,
        "delta_l2": loss,
        "diag_clamped_fraction": loss / 3,
    }
    out = {e.metric: e for e in summarize(arrays)}
    assert out["accuracy"].ci_low == 0.0
    for metric in ("loss", "delta_linf", "delta_l2", "clamped_fraction"):
        assert out[metric].ci_low == 0.0
    assert out["margin"].ci_low < -0.15
