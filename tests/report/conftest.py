"""Fixtures of the report tests: one hand-built run with its plots written, shared by the plot and HTML
tests (drawing is the slow part, and these tests only read it). The run is :mod:`_plot_store`'s."""

from __future__ import annotations

import pytest
from _plot_store import Written, build_store

from freqbench.report.plots import build_plots, write_plots


@pytest.fixture(scope="session")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """The run, its plots written once to ``RUN_DIR/plots``, and the plots as drawn (read-only)."""
    run = build_store(tmp_path_factory.mktemp("report-plots") / "run")
    files = write_plots(run.store)
    return Written(run, files, {p.name: p for p in build_plots(run.store)})
