"""The delta-spectrum table: energy-weighted band shares and the out-of-band energy of band attacks.

Records come from per-sample arrays through :func:`freqbench.store.aggregate.summarize`, as the engine
writes them; expected numbers are computed here from hand-made band energies.
"""

from __future__ import annotations

import numpy as np
import pytest

from freqbench.report.summaries import SUMMARIES
from freqbench.report.tables import ReportContext
from freqbench.store.aggregate import summarize
from freqbench.store.run import Record


def _records(condition: str, arrays: dict[str, np.ndarray]) -> list[Record]:
    n = len(arrays["correct"])
    base = {k: np.zeros(n) for k in ("loss", "margin", "delta_linf", "delta_l2")}
    return [
        Record(
            model="m",
            dataset="cifar10",
            suite="s",
            condition=condition,
            metric=e.metric,
            value=e.value,
            n=e.n,
            ci_low=e.ci_low,
            ci_high=e.ci_high,
            key=condition,
            tags={},
            info={},
        )
        for e in summarize({**base, **arrays})
    ]


def test_table_shows_energy_weighted_shares_and_out_of_band_energy() -> None:
    # two images: a large all-low perturbation and a small all-high one
    energy = np.array([[9.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    per_sample = energy / energy.sum(1, keepdims=True)
    weighted = energy.sum(0) / energy.sum()  # 90% low, 10% high; the per-sample mean would be 50/50
    common = {"correct": np.ones(2, bool), "band_fractions": weighted, "delta_band_fractions": per_sample}
    leak = np.array([2e-6, 6e-6])
    records = _records("pgd_linf_band@eps=8/255,band=low,r=4", {**common, "diag_out_of_band_energy": leak})
    records += _records("low_pass_ideal@r=4", common)
    (table,) = SUMMARIES.get("delta_spectrum")(records, ReportContext({}))
    assert table.columns == ("low", "mid", "high", "outside band")
    cells = {label: cells for label, cells in table.rows}
    band_row = cells["m · pgd_linf_band@eps=8/255,band=low,r=4"]
    assert [c.value for c in band_row[:3]] == pytest.approx([90.0, 0.0, 10.0])
    assert band_row[3].value == pytest.approx(100 * leak.mean()) and band_row[3].text() == "0.0004"
    assert cells["m · low_pass_ideal@r=4"][3].text() == "–"  # not a band attack
    assert "energy-weighted" in table.note and "outside the attack's own band" in table.note
    # the per-sample mean is stored beside it, with an interval
    means = {r.metric: r for r in records if r.condition == "low_pass_ideal@r=4"}
    assert means["delta_energy_low_mean"].value == pytest.approx(0.5)
    assert means["delta_energy_low"].value == pytest.approx(0.9)
