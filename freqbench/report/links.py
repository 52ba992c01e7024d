"""Cross-model links: Spearman rank correlation between probe statistics and suite metrics.

Across the models stored in one or more run directories (a *model* here is a (model name, dataset)
pair: records of suite runs and probe runs are joined on both), :func:`links` correlates each probe
statistic with each suite metric (issue 11, item 2 ``links``).

Probe statistics (:data:`PROBE_STATISTICS`; records tagged ``{"kind": "probe", "probe": NAME}``,
:mod:`freqbench.api.probe_runner` and each probe result's ``measures()``):

- ``filter_spectrum``: the first analysed layer's mean filter statistic (the ``filter_statistic``
  record tagged ``first_layer``);
- ``fourier_heatmap``: the error in the high-frequency ring (``map`` / ``high_frequency_error``);
- ``fourier_mask``: the dataset mask's energy above its radius (``dataset_mask`` / ``mask_energy_above``).

Suite metrics (``accuracy`` records of suite runs), each per suite, so that values measured on
different samples or data (an adversarial run on fewer images, CIFAR-10-C files against on-the-fly
corruptions) are never mixed: clean accuracy (condition ``clean``); mean corruption accuracy (the
mean over the conditions tagged ``corruption``, for the models holding the set of corruption
conditions most models hold; the others are left out and named); robust accuracy, one metric per
attack condition (tag ``kind == "attack"``: one per attack, eps and band).

A value stored twice for one model (two runs, or two suites of one name) must agree; two runs that
disagree are a :class:`~freqbench.errors.ConfigError`, never averaged.

Statistics: Spearman's rho (ties get average ranks, as :func:`scipy.stats.spearmanr`), its two-sided
p-value from the t approximation with n - 2 degrees of freedom (scipy's), and a 95% percentile
bootstrap interval: ``resamples`` draws of n models with replacement from
``numpy.random.default_rng(seed)`` (a fresh generator per row, so a row's interval does not depend on
the other rows), as one ``rng.integers(0, n, size=(resamples, n))`` array; draws where either side is
constant are skipped; the interval is ``np.percentile`` (linear) at 2.5 and 97.5. With fewer than
:data:`MIN_MODELS` models holding both values no number is given. Torch-free.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from freqbench.errors import ConfigError, MissingResultError
from freqbench.report.frame import StoredRun
from freqbench.report.tables import Cell, Table, join_notes, ordered
from freqbench.store.run import Record

#: (model name, dataset): what one point of a correlation is
Unit = tuple[str, str]
#: a stored quantity of a unit: ("probe", statistic), ("clean", suite), ("corruption", suite,
#: condition) or ("attack", suite, condition)
Key = tuple[str, ...]
MIN_MODELS = 4
LEVEL = 0.95


@dataclass(frozen=True)
class ProbeStatistic:
    """Which probe record holds a statistic: probe name, condition (None: any), metric, tag values."""

    name: str
    label: str
    probe: str
    condition: str | None
    metric: str
    tags: tuple[tuple[str, Any], ...] = ()

    def matches(self, r: Record) -> bool:
        return (
            r.tags.get("kind") == "probe"
            and r.tags.get("probe") == self.probe
            and r.metric == self.metric
            and (self.condition is None or r.condition == self.condition)
            and all(r.tags.get(k) == v for k, v in self.tags)
        )


PROBE_STATISTICS: tuple[ProbeStatistic, ...] = (
    ProbeStatistic(
        "first_layer_filter_statistic",
        "first-layer filter statistic",
        "filter_spectrum",
        None,
        "filter_statistic",
        (("first_layer", True),),
    ),
    ProbeStatistic(
        "high_frequency_error",
        "heat-map high-frequency error",
        "fourier_heatmap",
        "map",
        "high_frequency_error",
    ),
    ProbeStatistic(
        "mask_energy_above",
        "dataset-mask energy above r",
        "fourier_mask",
        "dataset_mask",
        "mask_energy_above",
    ),
)


@dataclass(frozen=True)
class Link:
    """One (probe statistic, suite metric) correlation, or the reason it was not computed (``note``).

    ``models`` are the (model, dataset) pairs behind it, in the order first met; ``resamples_used`` the
    bootstrap draws kept (draws where either side is constant are skipped).
    """

    statistic: str
    metric: str
    n_models: int
    rho: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    note: str = ""
    models: tuple[Unit, ...] = ()
    resamples_used: int = 0


@dataclass(frozen=True)
class Links:
    """Every link of :func:`links`, with the bootstrap settings; :attr:`table` renders them."""

    rows: tuple[Link, ...]
    resamples: int
    seed: int
    runs: tuple[Path, ...] = ()

    @property
    def table(self) -> Table:
        """One row per (statistic, metric): models, rho, its 95% interval, p; notes say why a row is empty."""
        rows = tuple(
            (
                f"{k.statistic} vs {k.metric}",
                (
                    Cell(float(k.n_models), digits=0),
                    Cell(k.rho),
                    Cell(k.ci_low),
                    Cell(k.ci_high),
                    Cell(k.p_value, digits=3),
                ),
            )
            for k in self.rows
        )
        method = (
            "Spearman rank correlation across models (a model = name and dataset); 95% percentile "
            f"bootstrap over {self.resamples} resamples of the models (seed {self.seed}); p: two-sided"
        )
        by_note: dict[str, list[str]] = {}
        for k in self.rows:
            if k.note:
                by_note.setdefault(k.note, []).append(f"{k.statistic} vs {k.metric}")
        notes = [
            f"{note} ({'every row' if len(labels) == len(self.rows) else '; '.join(labels)})"
            for note, labels in by_note.items()
        ]
        return Table(
            title="probe statistics vs suite metrics (Spearman rho)",
            columns=("models", "rho", "95% low", "95% high", "p"),
            rows=rows,
            unit="",
            note=join_notes(method, *notes),
            row_header="probe statistic vs suite metric",
        )


class _Values:
    """Each unit's stored quantities with the run they came from; a second, different value is an error."""

    def __init__(self) -> None:
        self.by_unit: dict[Unit, dict[Key, tuple[float, Path]]] = {}
        self.keys: dict[Key, None] = {}  # in first-seen order

    def add(self, unit: Unit, key: Key, value: float, root: Path, what: str) -> None:
        held = self.by_unit.setdefault(unit, {})
        if key in held:
            old, where = held[key]
            if not (old == value or (math.isnan(old) and math.isnan(value))):
                raise ConfigError(
                    f"{unit[0]} on {unit[1]}: {what} is {old!r} in {where} but {value!r} in {root}: the "
                    "runs disagree (other options or samples); pass only one of them to links, or rerun one "
                    "to match"
                )
            return
        held[key] = (value, root)
        self.keys.setdefault(key, None)

    def of(self, key: Key) -> dict[Unit, float]:
        return {u: held[key][0] for u, held in self.by_unit.items() if key in held}


def _suite_key(r: Record) -> Key | None:
    """The suite quantity an accuracy record of a suite run holds (None: not one links uses)."""
    if r.metric != "accuracy" or r.tags.get("kind") == "probe":
        return None
    if r.condition == "clean":
        return ("clean", r.suite)
    if "corruption" in r.tags:
        return ("corruption", r.suite, r.condition)
    if r.tags.get("kind") == "attack":
        return ("attack", r.suite, r.condition)
    return None


def _collect(runs: Sequence[StoredRun]) -> _Values:
    values = _Values()
    for run in runs:
        for r in run.records:
            if not r.model:  # a model-free probe (input_spectrum)
                continue
            unit = (r.model, r.dataset)
            for s in PROBE_STATISTICS:
                if s.matches(r):
                    values.add(unit, ("probe", s.name), r.value, run.root, f"{s.label} ({s.probe})")
            key = _suite_key(r)
            if key is not None:
                values.add(unit, key, r.value, run.root, f"accuracy under {r.condition} ({r.suite})")
    return values


def _names(units: Sequence[Unit]) -> str:
    return ", ".join(f"{m} ({d})" for m, d in units)


def _mean_corruption(values: _Values, suite: str) -> tuple[dict[Unit, float], str]:
    """Mean corruption accuracy of the units holding the commonest set of conditions, and a note."""
    sets: dict[Unit, frozenset[str]] = {}
    for unit, held in values.by_unit.items():
        conds = frozenset(k[2] for k in held if k[:2] == ("corruption", suite))
        if conds:
            sets[unit] = conds
    common = Counter(sets.values()).most_common()
    if len(common) > 1 and common[0][1] == common[1][1]:
        sizes = ", ".join(f"{m} ({d}): {len(c)}" for (m, d), c in sets.items())
        return {}, (
            f"the models hold different sets of corruption conditions in {suite} and no set is held by "
            f"more models than another (conditions per model: {sizes}): no mean"
        )
    ref = sorted(common[0][0])
    out = {
        u: float(np.mean([values.by_unit[u][("corruption", suite, c)][0] for c in ref]))
        for u, c in sets.items()
        if c == common[0][0]
    }
    left = [u for u in sets if u not in out]
    note = (
        f"left out of the mean corruption accuracy: {_names(left)} (other corruption conditions in "
        f"{suite} than the {len(ref)} the other models share)"
        if left
        else ""
    )
    return out, note


def _metrics(values: _Values) -> list[tuple[str, dict[Unit, float], str]]:
    """(label, value per unit, note) of every suite metric found: clean, mean corruption, attacks."""
    keys = list(values.keys)
    out = [(f"clean accuracy ({k[1]})", values.of(k), "") for k in keys if k[0] == "clean"]
    for suite in ordered(k[1] for k in keys if k[0] == "corruption"):
        mean, note = _mean_corruption(values, suite)
        out.append((f"mean corruption accuracy ({suite})", mean, note))
    out += [(f"robust accuracy {k[2]} ({k[1]})", values.of(k), "") for k in keys if k[0] == "attack"]
    return out


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rank correlation of each row of ``x`` with the same row of ``y`` (ties: average ranks).

    Shape: x, y (B, n) -> (B,).
    """
    rx = stats.rankdata(x, axis=-1)
    ry = stats.rankdata(y, axis=-1)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    rho = (rx * ry).sum(-1) / np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))
    return np.clip(rho, -1.0, 1.0)


def _p_value(rho: float, n: int) -> float:
    """Two-sided p of rho under independence: t = rho sqrt((n-2)/(1-rho^2)) on n - 2 df (scipy's)."""
    if abs(rho) >= 1.0:
        return 0.0
    t = rho * math.sqrt((n - 2) / ((1.0 - rho) * (1.0 + rho)))
    return float(2.0 * stats.t.sf(abs(t), n - 2))


def _link(
    statistic: str,
    x: Mapping[Unit, float],
    metric: str,
    y: Mapping[Unit, float],
    note: str,
    *,
    resamples: int,
    seed: int,
) -> Link:
    both = [u for u in x if u in y]
    units = tuple(u for u in both if math.isfinite(x[u]) and math.isfinite(y[u]))
    if len(units) < len(both):
        note = join_notes(note, f"left out (value not finite): {_names([u for u in both if u not in units])}")
    n = len(units)

    def empty(why: str) -> Link:
        return Link(statistic, metric, n, None, None, None, None, join_notes(note, why), units)

    if n < MIN_MODELS:
        return empty(f"fewer than four models (n={n}): no correlation")
    xv = np.array([x[u] for u in units], dtype=np.float64)
    yv = np.array([y[u] for u in units], dtype=np.float64)
    if np.ptp(xv) == 0 or np.ptp(yv) == 0:
        side = statistic if np.ptp(xv) == 0 else metric
        return empty(f"{side} is the same for all {n} models: no correlation")
    rho = float(_spearman(xv[None], yv[None])[0])
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    xs, ys = xv[idx], yv[idx]
    keep = (np.ptp(xs, axis=1) > 0) & (np.ptp(ys, axis=1) > 0)
    lo: float | None = None
    hi: float | None = None
    if keep.any():
        tail = 100.0 * (1.0 - LEVEL) / 2.0
        lo, hi = (float(v) for v in np.percentile(_spearman(xs[keep], ys[keep]), [tail, 100.0 - tail]))
    else:
        note = join_notes(note, "every bootstrap resample was constant on one side: no interval")
    return Link(statistic, metric, n, rho, lo, hi, _p_value(rho, n), note, units, int(keep.sum()))


def links(runs: Sequence[StoredRun], *, resamples: int = 2000, seed: int = 0) -> Links:
    """Spearman correlations between the probe statistics and the suite metrics of the models in ``runs``.

    Args:
        runs: stored runs (:func:`freqbench.report.frame.read_run`), suite and probe runs in any mix.
        resamples: bootstrap resamples of the models per correlation.
        seed: seed of each correlation's bootstrap generator.

    Returns:
        One :class:`Link` per (probe statistic found, suite metric found), statistics in
        :data:`PROBE_STATISTICS` order, metrics clean, mean corruption, then attacks, as first met.

    Raises:
        ConfigError: no runs, ``resamples`` < 1, or two runs disagree on a value of one model.
        MissingResultError: the runs hold no probe statistic, or no suite metric.
    """
    if not runs:
        raise ConfigError("links needs at least one run directory; pass the suite and probe runs to join")
    if resamples < 1:
        raise ConfigError(f"links: resamples must be >= 1, got {resamples}; the default is 2000")
    values = _collect(runs)
    roots = ", ".join(str(r.root) for r in runs)
    found = [(s, values.of(("probe", s.name))) for s in PROBE_STATISTICS]
    found = [(s, v) for s, v in found if v]
    if not found:
        wanted = "; ".join(
            f"{s.probe} {s.condition or ''}{' ' if s.condition else ''}{s.metric}" for s in PROBE_STATISTICS
        )
        raise MissingResultError(
            f"links: the runs {roots} hold no probe statistic (expected records of {wanted}); store some "
            "with `freqbench probe filter_spectrum --model M --dataset D --out DIR` and pass DIR too"
        )
    metrics = _metrics(values)
    if not metrics:
        raise MissingResultError(
            f"links: the runs {roots} hold no suite accuracy (clean, corruption or attack conditions); "
            "evaluate the models with `freqbench run --suite corruptions --model M --dataset D --out DIR` "
            "and pass DIR too"
        )
    rows = tuple(
        _link(s.label, x, label, y, note, resamples=resamples, seed=seed)
        for s, x in found
        for label, y, note in metrics
    )
    return Links(rows, resamples, seed, tuple(r.root for r in runs))
