"""The numbers of the per-group, robust-accuracy, accuracy-vs-eps and delta-spectrum summaries.

Records are built as the engine builds them: conditions (and their tags) from the real suites, the
engine's ``signed`` tag, and for the interval-bearing tables per-sample arrays aggregated by
:func:`freqbench.store.aggregate.summarize`. Every expected number is computed here from the inputs
the test chose (numpy means, Wilson intervals from ``scipy.stats.binomtest``, band shares from
hand-made per-sample band energies) and compared with the table's cells, found by row label and
column name, so the checks hold whatever the rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest

from freqbench.report.summaries import SUMMARIES
from freqbench.report.tables import SIGNED_MARK, Cell, ReportContext, Table
from freqbench.store.aggregate import summarize
from freqbench.store.run import Record
from freqbench.suites.base import Condition, build_suite, condition

CTX = ReportContext({})
MODELS = ("net_a", "net_b")
N = 60
#: the groups whose conditions feed the model values outside [0, 1] (the engine's ``signed`` tag)
SIGNED_GROUPS = ("high_pass", "band_pass", "gaussian_residual")


def _record(model: str, cond: Condition, metric: str, value: float, **extra: Any) -> Record:
    signed = str(cond.tags.get("group", "")).startswith(SIGNED_GROUPS)
    return Record(
        model=model,
        dataset="cifar10",
        suite="s",
        condition=cond.key,
        metric=metric,
        value=value,
        n=extra.pop("n", N),
        ci_low=extra.pop("ci_low", value),
        ci_high=extra.pop("ci_high", value),
        key=f"{model}|{cond.key}",
        tags={"signed": signed, **cond.tags},
        info=extra.pop("info", {}),
    )


def _from_arrays(model: str, cond: Condition, arrays: Mapping[str, np.ndarray], **info: Any) -> list[Record]:
    """The records of one condition from its per-sample arrays, through the store's aggregation."""
    n = len(arrays["correct"])
    zeros = {k: np.zeros(n) for k in ("loss", "margin", "delta_linf", "delta_l2")}
    return [
        _record(model, cond, e.metric, e.value, n=e.n, ci_low=e.ci_low, ci_high=e.ci_high, info=info)
        for e in summarize({**zeros, **arrays})
    ]


def _cells(table: Table) -> dict[tuple[str, str], Cell]:
    return {(label, col): cell for label, cells in table.rows for col, cell in zip(table.columns, cells)}


def _wilson_pct(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return 100 * float(ci.low), 100 * float(ci.high)


# --- per_group ---------------------------------------------------------------------------------------
def test_per_group_places_each_accuracy_under_its_group_and_parameter() -> None:
    suite = build_suite("frequency")
    rng = np.random.default_rng(0)
    acc = {(m, c.key): float(rng.uniform(0.1, 0.95)) for m in MODELS for c in suite.conditions}
    dropped = ("net_b", "low_pass_ideal@r=4")  # a cell the run lacks
    records = [
        _record(m, c, "accuracy", acc[(m, c.key)])
        for m in MODELS
        for c in suite.conditions
        if (m, c.key) != dropped
    ]
    records.append(_record("net_a", suite.conditions[1], "loss", 9.0))  # other metrics are ignored
    tables = SUMMARIES.get("per_group")(records, CTX)

    groups = list(dict.fromkeys(str(c.tags["group"]) for c in suite.conditions if c.key != "clean"))
    assert [t.title.removesuffix(SIGNED_MARK).removesuffix(": accuracy") for t in tables] == groups
    for table, group in zip(tables, groups):
        conds = [c for c in suite.conditions if c.tags.get("group") == group]
        assert table.columns == ("clean", *(c.key.partition("@")[2] for c in conds))
        assert table.title.endswith(SIGNED_MARK) is group.startswith(SIGNED_GROUPS)
        cells = _cells(table)
        for m in MODELS:
            assert cells[(m, "clean")].value == pytest.approx(100 * acc[(m, "clean")])
            for c in conds:
                want = None if (m, c.key) == dropped else pytest.approx(100 * acc[(m, c.key)])
                assert cells[(m, c.key.partition("@")[2])].value == want, (m, c.key)


def test_per_group_falls_back_to_the_condition_name_without_a_group_tag() -> None:
    a, b = condition("blur", k=3), condition("blur", k=5)
    (table,) = SUMMARIES.get("per_group")(
        [_record("m", a, "accuracy", 0.25), _record("m", b, "accuracy", 0.5)], CTX
    )
    assert table.columns == ("clean", "k=3", "k=5")
    cells = _cells(table)
    assert cells[("m", "clean")].value is None
    assert (cells[("m", "k=3")].value, cells[("m", "k=5")].value) == (25.0, 50.0)


# --- robust_accuracy ---------------------------------------------------------------------------------
def _attack_run() -> tuple[list[Record], dict[tuple[str, str], dict[str, np.ndarray]]]:
    """Two models on the adversarial suite: per-sample correctness drawn here, aggregated by the store."""
    suite = build_suite("adversarial")
    rng = np.random.default_rng(1)
    records, arrays = [], {}
    for m, p_clean in zip(MODELS, (0.9, 0.7)):
        clean = rng.random(N) < p_clean
        for i, cond in enumerate(suite.conditions):
            if cond.key == "clean":
                a: dict[str, np.ndarray] = {"correct": clean}
            else:
                # accuracy falls along the grid; the last condition breaks every sample (k = 0)
                keep = np.zeros(N, bool) if i == len(suite.conditions) - 1 else rng.random(N) < 1 / (1 + i)
                correct = clean & keep
                a = {"correct": correct, "clean_correct": clean, "success": clean & ~correct}
            arrays[(m, cond.key)] = a
            records += _from_arrays(m, cond, a, implementation=f"impl-of-{cond.transform}")
    return records, arrays


def test_robust_accuracy_and_success_rate_with_wilson_intervals() -> None:
    records, arrays = _attack_run()
    accuracy, success = SUMMARIES.get("robust_accuracy")(records, CTX)
    keys = list(dict.fromkeys(k for _, k in arrays))
    assert accuracy.columns == tuple(keys) and success.columns == tuple(keys[1:])
    assert accuracy.show_ci and success.show_ci
    acc_cells, rate_cells = _cells(accuracy), _cells(success)
    for (m, key), a in arrays.items():
        k = int(a["correct"].sum())
        cell = acc_cells[(m, key)]
        assert cell.value == pytest.approx(100 * k / N)
        assert (cell.ci_low, cell.ci_high) == pytest.approx(_wilson_pct(k, N), abs=1e-9)
        if key == "clean":
            continue
        flags = a["success"][a["clean_correct"]]
        cell = rate_cells[(m, key)]
        assert cell.value == pytest.approx(100 * flags.mean())
        assert (cell.ci_low, cell.ci_high) == pytest.approx(
            _wilson_pct(int(flags.sum()), flags.size), abs=1e-9
        )
    last = keys[-1]
    assert acc_cells[(MODELS[0], last)].value == 0.0 and acc_cells[(MODELS[0], last)].ci_low == 0.0
    assert rate_cells[(MODELS[0], last)].value == 100.0 and rate_cells[(MODELS[0], last)].ci_high == 100.0
    assert "impl-of-pgd_linf" in accuracy.note


# --- accuracy_vs_eps ---------------------------------------------------------------------------------
def test_accuracy_vs_eps_one_table_per_attack_with_clean_at_zero() -> None:
    conds = [*build_suite("adversarial").conditions, *build_suite("frequency_attacks").conditions[1:]]
    rng = np.random.default_rng(2)
    acc = {(m, c.key): float(rng.uniform(0.0, 1.0)) for m in MODELS for c in conds}
    dropped = ("net_b", "pgd_l2@eps=0.5")
    records = [
        _record(m, c, "accuracy", acc[(m, c.key)]) for m in MODELS for c in conds if (m, c.key) != dropped
    ]
    tables = SUMMARIES.get("accuracy_vs_eps")(records, CTX)

    # band-constrained attacks are not on the eps axis of an unconstrained attack
    full = [c for c in conds if c.tags.get("band") == "full"]
    attacks = list(dict.fromkeys(str(c.tags["attack"]) for c in full))
    assert attacks == ["fgsm", "pgd_linf", "pgd_l2"]
    assert [t.title for t in tables] == [f"{a}: accuracy vs eps" for a in attacks]
    for table, attack in zip(tables, attacks):
        grid = [c for c in full if c.tags["attack"] == attack]
        assert table.columns == ("0", *(str(c.tags["eps"]) for c in grid))
        cells = _cells(table)
        for m in MODELS:
            assert cells[(m, "0")].value == pytest.approx(100 * acc[(m, "clean")])
            for c in grid:
                want = None if (m, c.key) == dropped else pytest.approx(100 * acc[(m, c.key)])
                assert cells[(m, str(c.tags["eps"]))].value == want, (m, c.key)


# --- delta_spectrum ----------------------------------------------------------------------------------
def test_delta_spectrum_shows_the_energy_weighted_band_shares() -> None:
    """Columns low / mid / high: each band's share of all perturbation energy of the condition (the
    energy-weighted fraction), not the mean of the per-sample fractions; one row per (model, condition)."""
    conds = [c for c in build_suite("adversarial").conditions if c.key != "clean"][:3]
    rng = np.random.default_rng(3)
    records, energy = [], {}
    for m in MODELS:
        for c in conds:
            e = rng.uniform(0.0, 1.0, (N, 3)) ** 3  # per-sample band energies
            e[0] *= 50.0  # one sample with most of the energy: weighted and mean shares then differ
            energy[(m, c.key)] = e
            arrays = {
                "correct": np.ones(N, bool),
                "band_fractions": e.sum(0) / e.sum(),
                "delta_band_fractions": e / e.sum(1, keepdims=True),
            }
            records += _from_arrays(m, c, arrays)
    records += _from_arrays("net_a", build_suite("adversarial").conditions[0], {"correct": np.ones(N, bool)})
    (table,) = SUMMARIES.get("delta_spectrum")(records, CTX)
    cells = _cells(table)
    assert [label for label, _ in table.rows] == [f"{m} · {c.key}" for m in MODELS for c in conds]
    for (m, key), e in energy.items():
        weighted = 100 * e.sum(0) / e.sum()
        per_sample = 100 * (e / e.sum(1, keepdims=True)).mean(0)
        assert np.abs(weighted - per_sample).max() > 5  # the two readings are far apart here
        for j, band in enumerate(("low", "mid", "high")):
            assert cells[(f"{m} · {key}", band)].value == pytest.approx(weighted[j]), (m, key, band)
        assert sum(cells[(f"{m} · {key}", b)].value or 0 for b in ("low", "mid", "high")) == pytest.approx(
            100
        )
