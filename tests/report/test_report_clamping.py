"""The ``clamping`` summary: the clamp diagnostics of low-pass and phase scrambling, in percent."""

from __future__ import annotations

import pytest

from freqbench.report.render import to_markdown
from freqbench.report.summaries import SUMMARIES
from freqbench.report.tables import ReportContext
from freqbench.store.run import Record


def _rec(cond: str, metric: str, value: float, lo: float, hi: float) -> Record:
    return Record("m", "fashion_mnist", "frequency", cond, metric, value, 50, lo, hi, cond, {})


RECORDS = [
    _rec("clean", "accuracy", 0.9, 0.8, 0.95),
    _rec("low_pass_ideal@r=2", "accuracy", 0.5, 0.4, 0.6),
    _rec("low_pass_ideal@r=2", "clamped_fraction", 0.2, 0.18, 0.22),
    _rec("low_pass_ideal@r=2", "clamp_error", 0.086, 0.08, 0.09),
    _rec("phase_scramble@width=180", "clamped_fraction", 0.24, 0.23, 0.25),
    _rec("phase_scramble@width=180", "clamp_error", 0.1, 0.09, 0.11),
    _rec("phase_scramble@width=180", "amplitude_error", 0.21, 0.2, 0.22),
]


def test_clamping_table_in_percent_with_intervals() -> None:
    (t,) = SUMMARIES.get("clamping")(RECORDS, ReportContext({}))
    assert t.columns == ("clamped pixels", "image change", "amplitude error") and t.show_ci
    rows = dict(t.rows)
    low, phase = rows["m · low_pass_ideal@r=2"], rows["m · phase_scramble@width=180"]
    assert low[0].value == pytest.approx(20.0) and low[0].ci_low == pytest.approx(18.0)
    assert low[2].value is None  # low-pass has no amplitude claim to check
    assert [c.value for c in phase] == pytest.approx([24.0, 10.0, 21.0])
    assert "m · clean" not in rows
    md = to_markdown(RECORDS, {"summaries": ["clamping"]})
    assert (
        "| `m · phase_scramble@width=180` | 24.00 (23.00–25.00) | 10.00 (9.00–11.00) | 21.00 (20.00–22.00) |"
        in md
    )
    assert "amplitude spectrum that phase scrambling keeps only before it" in md


def test_no_clamping_table_without_diagnostics() -> None:
    assert SUMMARIES.get("clamping")(RECORDS[:2], ReportContext({})) == []
