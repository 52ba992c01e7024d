"""Aggregation of per-sample results into records: accuracy with a Wilson interval, means with a
normal-approximation interval, band fractions of perturbation energy.

Per-sample results come first and are stored as arrays; every number in a table is computed here
from them, so a table can be recomputed from the arrays at any time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    >>> lo, hi = wilson_interval(0, 10)
    >>> round(lo, 6), round(hi, 4)
    (0.0, 0.2775)
    """
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(metric: str, flags: np.ndarray) -> Estimate:
    n = int(flags.size)
    k = int(np.count_nonzero(flags))
    lo, hi = wilson_interval(k, n)
    return Estimate(metric, k / n if n else float("nan"), n, lo, hi)


def mean(metric: str, values: np.ndarray) -> Estimate:
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    m = float(v.mean()) if n else float("nan")
    half = Z95 * float(v.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return Estimate(metric, m, n, m - half, m + half)


def summarize(arrays: Mapping[str, np.ndarray]) -> list[Estimate]:
    """Records for one condition from its per-sample arrays.

    Expects ``correct``, ``loss``, ``margin``, ``delta_linf``, ``delta_l2``; ``success`` and
    ``clean_correct`` for conditions after clean; ``band_fractions`` (3,) when the condition changed
    the input.
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
        for name, v in zip(("low", "mid", "high"), arrays["band_fractions"].tolist()):
            out.append(Estimate(f"delta_energy_{name}", float(v), n, float(v), float(v)))
    return out
