"""Plots rebuilt from a stored run: files, sizes, what the lines show, labels, byte-stable rebuilds.

The run is the hand-built store of ``_plot_store.py`` (real suite conditions, records through
``summarize``, arrays through ``RunStore.write_condition``); expected values are its known accuracies
and radial energies, never the plots' own earlier output.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from _plot_store import (
    ACCURACY,
    CONDITIONS,
    DATASET,
    MODELS,
    PLOT_NAMES,
    PlotStore,
    Written,
    build_store,
    energy_of,
    fractions_of,
)
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from freqbench.errors import ConfigError, StoreError
from freqbench.report.plots import (
    DPI,
    PANEL,
    Plot,
    PlotContext,
    build_plots,
    draw,
    heatmap,
    render,
    style,
    write_plots,
)
from freqbench.report.render import render_run


@pytest.fixture
def plots(written: Written) -> dict[str, Plot]:
    return written.plots


def _restricted(root: Path, summaries: list[str]) -> PlotStore:
    """A fresh run whose manifest names only ``summaries`` (cheap to plot)."""
    ps = build_store(root)
    ps.store.write_manifest({**ps.store.read_manifest(), "summaries": summaries})
    return ps


def _acc(model: str, key: str) -> float:
    return 100 * ACCURACY[(model, key)]


def _data(values: object) -> list[float]:
    return np.asarray(values, dtype=float).tolist()


def _axes(plot: Plot) -> list[Axes]:
    return [ax for ax in plot.figure.axes if ax.get_visible()]


def test_every_kind_is_written_as_png_and_svg(written: Written) -> None:
    folder = written.run.root / "plots"
    assert sorted(written.files) == sorted(
        folder / f"{n}.{ext}" for n in PLOT_NAMES for ext in ("png", "svg")
    )
    panels = {  # (columns, rows) of the small multiples, from the fixture's conditions
        "accuracy_vs_severity-cifar10": (2, 1),  # gaussian_noise, fog
        "accuracy_vs_cutoff-cifar10": (2, 1),  # low_pass_ideal, high_pass_ideal (band-pass has no cutoff)
        "accuracy_vs_eps-cifar10": (3, 1),  # fgsm, pgd_linf, pgd_l2 (band attacks are not "full")
        "delta_spectrum-cifar10": (4, 2),  # 7 attack conditions
    }
    for name in PLOT_NAMES:
        png, svg = folder / f"{name}.png", folder / f"{name}.svg"
        assert png.stat().st_size > 10_000 and svg.stat().st_size > 10_000
        cols, rows = panels[name]
        legend = 0.45 + 0.16  # the title and one legend row (two short model names)
        with Image.open(png) as im:
            im.load()
            assert im.format == "PNG"
            assert im.size == (round(cols * PANEL[0] * DPI), round((rows * PANEL[1] + legend) * DPI))
            # not blank: the lines' colours are there
            rgb = np.asarray(im.convert("RGB")).astype(int)
            coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 80
            assert coloured.sum() > 200
        root = ET.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_accuracy_lines_show_the_stored_accuracies(plots: dict[str, Plot]) -> None:
    sev = _axes(plots["accuracy_vs_severity-cifar10"])
    assert [ax.get_title() for ax in sev] == ["gaussian_noise", "fog"]
    for ax, corruption in zip(sev, ("gaussian_noise", "fog")):
        for line, model in zip(ax.get_lines(), MODELS):
            assert _data(line.get_xdata()) == [0, 1, 3, 5]
            want = [_acc(model, "clean")] + [_acc(model, f"{corruption}@{s}") for s in (1, 3, 5)]
            assert _data(line.get_ydata()) == pytest.approx(want)
    cut = _axes(plots["accuracy_vs_cutoff-cifar10"])
    assert [ax.get_title() for ax in cut] == ["low_pass_ideal", "high_pass_ideal [signed]"]
    low = cut[0].get_lines()
    solid = [ln for ln in low if ln.get_linestyle() == "-"]
    assert _data(solid[1].get_xdata()) == [2, 8, 16]
    assert _data(solid[1].get_ydata()) == pytest.approx(
        [_acc(MODELS[1], f"low_pass_ideal@r={r}") for r in (2, 8, 16)]
    )
    dotted = [ln for ln in low if ln.get_linestyle() == ":"]  # the clean accuracy of each model
    assert [_data(ln.get_ydata())[0] for ln in dotted] == pytest.approx([_acc(m, "clean") for m in MODELS])
    eps = _axes(plots["accuracy_vs_eps-cifar10"])
    assert [ax.get_title() for ax in eps] == ["fgsm", "pgd_linf", "pgd_l2"]
    line = eps[1].get_lines()[0]
    assert _data(line.get_xdata()) == pytest.approx([0, 2 / 255, 8 / 255])
    want = [_acc(MODELS[0], k) for k in ("clean", "pgd_linf@eps=2/255", "pgd_linf@eps=8/255")]
    assert _data(line.get_ydata()) == pytest.approx(want)
    # eps as written on the ticks
    assert [t.get_text() for t in eps[1].get_xticklabels()] == ["0", "2/255", "8/255"]
    assert [t.get_text() for t in eps[2].get_xticklabels()] == ["0", "0.5"]


def test_spectra_show_the_stored_delta_energy_and_band_fractions(plots: dict[str, Plot]) -> None:
    spectra = _axes(plots["delta_spectrum-cifar10"])
    attacks = [(i, c) for i, (_, c, _) in enumerate(CONDITIONS) if c.kind == "attack"]
    assert [ax.get_title() for ax in spectra] == [c.key for _, c in attacks]
    for ax, (i, _) in zip(spectra, attacks):
        assert ax.get_yscale() == "log"
        for m, line in enumerate(ax.get_lines()):
            want = energy_of(m, i)
            got = np.asarray(line.get_ydata(), dtype=float)
            assert np.isnan(got[want == 0]).all()  # a zero is no point on a log scale
            np.testing.assert_allclose(got[want > 0], want[want > 0])
            assert _data(line.get_xdata()) == list(range(want.size))
        texts = [t.get_text() for t in ax.texts]
        assert texts[0] == "low · mid · high"
        for m in range(len(MODELS)):
            assert texts[1 + m] == " · ".join(f"{100 * f:.0f}" for f in fractions_of(m, i)) + " %"


def test_every_axis_is_labelled_with_its_unit(plots: dict[str, Plot]) -> None:
    units = {
        "accuracy_vs_severity-cifar10": ("severity", "accuracy (%)"),
        "accuracy_vs_cutoff-cifar10": ("cycles per image", "accuracy (%)"),
        "accuracy_vs_eps-cifar10": ("eps (", "accuracy (%)"),
        "delta_spectrum-cifar10": ("cycles per image", "|FFT|²"),
    }
    for name, plot in plots.items():
        x, y = units[name]
        for ax in _axes(plot):
            assert x in ax.get_xlabel() and y in ax.get_ylabel(), (name, ax.get_title())
        assert DATASET in plot.title and plot.caption
    eps = _axes(plots["accuracy_vs_eps-cifar10"])
    assert [ax.get_xlabel() for ax in eps][1:] == [
        "eps (Linf norm, images in [0, 1])",
        "eps (L2 norm, images in [0, 1])",
    ]


def test_rebuild_is_byte_stable_whatever_the_users_rcparams(written: Written) -> None:
    old = mpl.rcParams.copy()
    try:
        # a user's settings, and no salt: SVG ids would be random
        mpl.rcParams.update({"lines.linewidth": 5.0, "font.size": 20.0, "svg.hashsalt": None})
        store = written.run.store
        # one plot is enough (and cheap to draw); the HTML test compares all of them
        ctx = PlotContext(store.records(), {"summaries": ["per_corruption"]}, store.arrays)
        (plot,) = draw(ctx)
        svg = render(plot, "svg")
        assert mpl.rcParams["lines.linewidth"] == 5.0  # style() restores the user's settings
    finally:
        mpl.rcParams.update(old)
    assert svg == (written.run.root / "plots" / f"{plot.name}.svg").read_bytes()
    assert b"<dc:date>" not in svg and b"freqbench" in svg


def test_stale_plots_are_removed_and_other_files_kept(tmp_path: Path) -> None:
    ps = _restricted(tmp_path / "run", ["per_corruption"])
    folder = ps.root / "plots"
    folder.mkdir()
    (folder / "old_plot-cifar10.png").write_bytes(b"x")
    (folder / "old_plot-cifar10.svg").write_bytes(b"x")
    (folder / "notes.txt").write_text("mine")
    files = write_plots(ps.store)
    assert sorted(p.name for p in files) == [
        "accuracy_vs_severity-cifar10.png",
        "accuracy_vs_severity-cifar10.svg",
    ]
    assert not (folder / "old_plot-cifar10.png").exists() and not (folder / "old_plot-cifar10.svg").exists()
    assert (folder / "notes.txt").read_text() == "mine"
    # a run whose summaries have no plot: none drawn, the old ones removed, an empty index
    ps.store.write_manifest({**ps.store.read_manifest(), "summaries": ["mean_accuracy"]})
    assert build_plots(ps.store) == [] and write_plots(ps.store) == []
    assert sorted(p.name for p in folder.iterdir()) == ["index.json", "notes.txt"]
    assert "plots/" not in render_run(ps.root, "md")


def test_markdown_links_the_plots_that_were_written(written: Written, tmp_path: Path) -> None:
    assert "plots/" not in render_run(build_store(tmp_path / "fresh").root, "md")  # none written yet
    md = render_run(written.run.root, "md")
    for name in PLOT_NAMES:
        assert f"](plots/{name}.png)" in md
        assert (written.run.root / "plots" / f"{name}.png").is_file()
    assert "![accuracy vs severity · cifar10](plots/accuracy_vs_severity-cifar10.png)" in md
    assert md.index("## plots") < md.index("## accuracy per condition")


def test_a_damaged_plot_index_is_a_store_error(tmp_path: Path) -> None:
    ps = build_store(tmp_path / "run")
    (ps.root / "plots").mkdir()
    (ps.root / "plots" / "index.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"not a freqbench plot index.*--plots"):
        render_run(ps.root, "md")


def _map_png(array: np.ndarray, vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    with style():
        fig = Figure(figsize=(2, 2))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        heatmap(ax, array, vmin=vmin, vmax=vmax)
    png = render(Plot("map", "map", fig), "png")
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_heatmap_keeps_a_fixed_colour_scale() -> None:
    viridis = colormaps["viridis"]

    def colour(v: float) -> np.ndarray:
        return np.round(255 * np.asarray(viridis(v)[:3])).astype(int)

    # a map whose values span only 0.2..0.4 is not stretched to the full colour map
    narrow = np.array([[0.2, 0.3], [0.3, 0.4]])
    rgb = _map_png(narrow)  # 200 x 200 pixels, row 0 of the array at the bottom (origin lower)
    assert np.abs(rgb[150, 50] - colour(0.2)).max() <= 2
    assert np.abs(rgb[50, 150] - colour(0.4)).max() <= 2
    assert np.abs(rgb[150, 50] - colour(0.0)).max() > 20
    # another scale when asked for one
    rgb = _map_png(narrow, vmin=0.2, vmax=0.4)
    assert np.abs(rgb[150, 50] - colour(0.0)).max() <= 2
    with style():
        fig = Figure()
        ax = fig.add_subplot()
        im = heatmap(ax, narrow, colorbar_label="error rate")
        assert im.get_clim() == (0.0, 1.0)
        assert len(fig.axes) == 2  # the colour bar
        with pytest.raises(ConfigError, match="2-D"):
            heatmap(ax, np.zeros((2, 2, 2)))
        with pytest.raises(ConfigError, match="vmin < vmax"):
            heatmap(ax, narrow, vmin=1.0, vmax=1.0)
