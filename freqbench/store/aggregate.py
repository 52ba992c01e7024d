"""Aggregation of per-sample results into records: accuracy with a Wilson interval, means with a
normal-approximation interval, band fractions of perturbation energy.

The Wilson interval is exact at its ends: [0, hi] for 0 successes, [lo, 1] for n of n. A
normal-approximation interval is clipped to the metric's domain (:data:`METRIC_DOMAINS`: a loss, a
norm or a fraction of pixels cannot be negative), so no interval claims values the metric cannot take.

Per-sample results come first and are stored as arrays; every number in a table is computed here
from them, so a table can be recomputed from the arrays at any time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from freqbench.errors import ConfigError

Z95 = 1.959963984540054
#: the radial bands of ``band_fractions`` (split at ``freqbench.ops.spectrum.DEFAULT_BAND_EDGES``)
BAND_NAMES = ("low", "mid", "high")
#: per-sample arrays named ``diag_<name>`` are a transform's diagnostics, summarised as metric ``<name>``
DIAGNOSTIC_PREFIX = "diag_"
#: the values a mean metric can take; its interval is clipped to them (unlisted: the whole real line)
METRIC_DOMAINS: dict[str, tuple[float, float]] = {
    "loss": (0.0, math.inf),
    "delta_linf": (0.0, math.inf),
    "delta_l2": (0.0, math.inf),
    # diagnostics of the clamped frequency perturbations (freqbench.perturbations.frequency)
    "clamped_fraction": (0.0, 1.0),
    "clamp_error": (0.0, math.inf),
    "amplitude_error": (0.0, math.inf),
    **{f"delta_energy_{band}_mean": (0.0, 1.0) for band in BAND_NAMES},
}


@dataclass(frozen=True)
class Estimate:
    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    The lower end at 0 successes is exactly 0 and the upper end at ``n`` successes exactly 1 (the
    closed form's centre minus half-width is 0 or 1 there only up to rounding).

    >>> lo, hi = wilson_interval(0, 10)
    >>> lo, round(hi, 4)
    (0.0, 0.2775)
    """
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def proportion(metric: str, flags: np.ndarray) -> Estimate:
    n = int(flags.size)
    k = int(np.count_nonzero(flags))
    lo, hi = wilson_interval(k, n)
    return Estimate(metric, k / n if n else float("nan"), n, lo, hi)


def mean(metric: str, values: np.ndarray, *, domain: tuple[float, float] | None = None) -> Estimate:
    """Mean with a normal-approximation 95% interval, clipped to ``domain``.

    Args:
        metric: the record's metric name.
        values: per-sample values.
        domain: (low, high) the metric can take; default :data:`METRIC_DOMAINS` for ``metric``, else
            unbounded.
    """
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    m = float(v.mean()) if n else float("nan")
    half = Z95 * float(v.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    lo, hi = domain or METRIC_DOMAINS.get(metric, (-math.inf, math.inf))
    return Estimate(metric, m, n, min(max(m - half, lo), hi), max(min(m + half, hi), lo))


def summarize(arrays: Mapping[str, np.ndarray]) -> list[Estimate]:
    """Records for one condition from its per-sample arrays.

    Expects ``correct``, ``loss``, ``margin``, ``delta_linf``, ``delta_l2``; ``success`` and
    ``clean_correct`` for conditions after clean; ``band_fractions`` (3,) and ``delta_band_fractions``
    (n, 3) when the condition changed the input; any ``diag_<name>`` (n,) a transform reported.

    Band fractions give two records per band: ``delta_energy_<band>`` is energy-weighted over the
    dataset (the band's share of all perturbation energy; no interval), ``delta_energy_<band>_mean``
    the mean of the per-sample fractions over the images that were changed, with a 95% interval.
    A diagnostic ``diag_<name>`` becomes the record ``<name>``: its mean with a 95% interval.
    """
    out = [
        proportion("accuracy", arrays["correct"]),
        mean("loss", arrays["loss"]),
        mean("margin", arrays["margin"]),
        mean("delta_linf", arrays["delta_linf"]),
        mean("delta_l2", arrays["delta_l2"]),
    ]
    n = int(arrays["correct"].size)
    if "success" in arrays:
        # success rate among the samples the model got right without the condition
        out.append(proportion("success_rate", arrays["success"][arrays["clean_correct"]]))
    if "band_fractions" in arrays:
        for name, v in zip(BAND_NAMES, arrays["band_fractions"].tolist()):
            out.append(Estimate(f"delta_energy_{name}", float(v), n, float(v), float(v)))
    if "delta_band_fractions" in arrays:
        per_sample = np.asarray(arrays["delta_band_fractions"], dtype=np.float64)
        changed = np.isfinite(per_sample).all(axis=1)
        if changed.any():
            for j, name in enumerate(BAND_NAMES):
                out.append(mean(f"delta_energy_{name}_mean", per_sample[changed, j]))
    for key in sorted(k for k in arrays if k.startswith(DIAGNOSTIC_PREFIX)):
        out.append(mean(key.removeprefix(DIAGNOSTIC_PREFIX), arrays[key]))
    names = [e.metric for e in out]
    if len(set(names)) != len(names):
        clash = sorted({m for m in names if names.count(m) > 1})
        raise ConfigError(
            f"metric names {clash} appear twice: rename the diagnostic that reuses a metric's name"
        )
    return out
