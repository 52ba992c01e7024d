"""Plots of a run, rebuilt from its stored records and arrays only (matplotlib, no pyplot, no torch).

``PLOTS`` maps a summary or probe name to a function ``(PlotContext) -> list[Plot]``, the way
``SUMMARIES`` maps names to tables: :func:`build_plots` draws every registered plot whose name the
manifest lists under ``summaries`` (and ``probes``, for probe results), one figure per (plot, dataset)
with one line per model. A probe's picture is a function in ``freqbench/report/`` (so it rebuilds
without torch) registered under the probe's name; image-like maps use :func:`heatmap`, whose fixed
colour scale (0 to 1 by default) keeps maps of different models comparable.

Registered today:

- ``per_corruption``: accuracy vs severity, one panel per corruption (severity 0 = clean).
- ``per_group``: accuracy vs cutoff radius for the frequency suite's low- and high-pass sweeps (every
  group whose conditions carry a numeric ``r`` tag), one panel per group, the clean accuracy dotted.
- ``accuracy_vs_eps``: accuracy vs eps per unconstrained attack, ticks showing eps as written.
- ``delta_spectrum``: radially summed energy of the perturbation ``delta = x' - x`` (the stored
  ``delta_energy`` arrays, :mod:`freqbench.ops.spectrum`) per condition, with the energy-weighted
  low / mid / high band fractions (``band_fractions``) printed in each panel.

**Files.** :func:`write_plots` writes ``RUN_DIR/plots/<name>.png`` and ``<name>.svg`` (atomically),
removes the PNG and SVG files of plots it no longer draws (``RUN_DIR/plots`` belongs to freqbench) and
writes the index last (:mod:`freqbench.report.plot_index`), from which report.md links them.

**Determinism.** Figures are drawn and saved under fixed rcParams (:data:`RC`, on top of matplotlib's
defaults, whatever the user's matplotlibrc says), with ``svg.hashsalt`` fixed and no date in the
metadata, so a rebuild of the same records gives byte-identical SVG (and PNG) files. Sizes are fixed
(no tight bounding box): a PNG is ``figsize * DPI`` pixels. The constrained layout is computed once,
when a plot is drawn, and frozen, so the PNG and the SVG share it and neither depends on the other.

PNG goes through matplotlib's Agg canvas and SVG through its SVG canvas, chosen per file by
``Figure.savefig``; no global backend is set, so importing this module changes nothing for pyplot users.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.typing import RcKeyType

from freqbench.budget import parse_budget
from freqbench.errors import ConfigError
from freqbench.registry import Registry
from freqbench.report.plot_index import PLOTS_DIR, PlotEntry, write_index
from freqbench.report.tables import is_signed, metric_records, ordered, signed_label
from freqbench.store.run import Record, RunStore, atomic_write_bytes, os_error

FORMATS = ("png", "svg")
DPI = 100
#: line colours by model order (matplotlib's tab10), the same model keeps its colour in every figure
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
#: rcParams every plot is drawn and saved under (after matplotlib's defaults)
RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "freqbench",
    "svg.fonttype": "path",  # glyphs as paths: the SVG looks the same on every machine
    "font.family": "DejaVu Sans",  # shipped with matplotlib
    "font.size": 8.0,
    "axes.titlesize": 8.0,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.3,
    "lines.markersize": 3.5,
    "axes.prop_cycle": cycler(color=list(COLORS)),
    "image.interpolation": "nearest",
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "path.simplify": False,
}
#: what each format records about itself: the creator only, never a date
_METADATA: dict[str, dict[str, str | None]] = {
    "png": {"Software": "freqbench"},
    "svg": {"Creator": "freqbench", "Date": None},
}
PANEL = (2.7, 2.1)  # inches per small-multiple panel
ACCURACY_LABEL = "accuracy (%)"


@dataclass(frozen=True)
class Plot:
    """One figure: ``name`` is its file stem (``plots/<name>.png``), ``caption`` says how to read it."""

    name: str
    title: str
    figure: Figure
    caption: str = ""


@dataclass(frozen=True)
class PlotContext:
    """What a plot function may read: the run's records, its manifest and its per-condition arrays."""

    records: Sequence[Record]
    manifest: Mapping[str, Any]
    arrays: Callable[[str], Mapping[str, np.ndarray]]


PlotFn = Callable[[PlotContext], list[Plot]]
PLOTS: Registry[PlotFn] = Registry("plot")
# the probes' pictures: imported on the first lookup of one of these names
PLOTS.register_lazy_module(
    "freqbench.report.probe_plots", ("fourier_heatmap", "input_spectrum", "filter_spectrum", "fourier_mask")
)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Matplotlib's defaults plus :data:`RC`, restored afterwards; draw and save figures inside it."""
    with mpl.rc_context():
        mpl.rcdefaults()
        mpl.rcParams.update(RC)
        yield


def render(plot: Plot, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes (deterministic, see the module docstring)."""
    if fmt not in FORMATS:
        raise ConfigError(f"plot format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    with style():
        plot.figure.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
    return buf.getvalue()


def pixel_size(plot: Plot) -> tuple[int, int]:
    """(width, height) of the plot's PNG in pixels."""
    w, h = plot.figure.get_size_inches()
    return round(w * DPI), round(h * DPI)


def heatmap(
    ax: Axes,
    array: np.ndarray,
    *,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "viridis",
    extent: tuple[float, float, float, float] | None = None,
    origin: Literal["upper", "lower"] = "lower",
    colorbar_label: str | None = None,
) -> AxesImage:
    """Draw an image-like map (a Fourier heat map, a mask) on a fixed colour scale ``[vmin, vmax]``.

    The scale never follows the data, so maps of different models and datasets compare colour for
    colour; values outside it take the end colours, NaN the colour map's "bad" colour.

    Args:
        ax: the axes to draw on.
        array: a 2-D array (rows are y).
        vmin, vmax: the ends of the colour scale.
        cmap: a matplotlib colour map name.
        extent: (left, right, bottom, top) in data units (e.g. cycles per image), else pixel indices.
        origin: where row 0 goes.
        colorbar_label: adds a colour bar with this label (say the unit) when given.

    Raises:
        ConfigError: ``array`` is not 2-D or ``vmin >= vmax``.
    """
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2:
        raise ConfigError(f"heatmap takes a 2-D array, got shape {a.shape}; pass one map at a time")
    if not vmin < vmax:
        raise ConfigError(f"heatmap needs vmin < vmax, got vmin={vmin}, vmax={vmax}")
    im = ax.imshow(a, vmin=vmin, vmax=vmax, cmap=cmap, extent=extent, origin=origin, interpolation="nearest")
    ax.grid(False)
    if colorbar_label is not None:
        fig = ax.get_figure()
        assert fig is not None
        fig.colorbar(im, ax=ax, label=colorbar_label)
    return im


def dataset_label(name: str) -> str:
    """A dataset's name for a figure title: ``imagefolder:PATH`` shortened to the path's last part
    (the report header names the full path)."""
    prefix, sep, path = name.partition(":")
    if sep and prefix == "imagefolder":
        return f"{prefix}:{Path(path).name or path}"
    return name


def suptitle(fig: Figure, title: str) -> None:
    """The figure's title, wrapped to the figure's width (long dataset names such as
    ``imagefolder:PATH`` would otherwise be cut at the edges)."""
    size = (
        float(mpl.rcParams["figure.titlesize"])
        if not isinstance(mpl.rcParams["figure.titlesize"], str)
        else float(mpl.rcParams["font.size"]) * 1.2
    )
    chars = max(20, int(fig.get_size_inches()[0] * 72 / (0.6 * size)))
    fig.suptitle("\n".join(textwrap.wrap(title, chars, break_long_words=True, break_on_hyphens=False)))


# building -----------------------------------------------------------------------------------------
def plot_names(manifest: Mapping[str, Any]) -> list[str]:
    """The registered plot names a run's manifest asks for (its summaries, then its probes)."""
    wanted = [*manifest.get("summaries", []), *manifest.get("probes", [])]
    return [n for n in ordered(str(n) for n in wanted) if n in PLOTS]


def build_plots(store: RunStore) -> list[Plot]:
    """Every plot of the run in ``store``, drawn from its committed records and arrays."""
    ctx = PlotContext(store.records(), store.read_manifest(), store.arrays)
    return draw(ctx)


def draw(ctx: PlotContext) -> list[Plot]:
    """The plots :func:`plot_names` selects, drawn under :func:`style`; names must not repeat."""
    out: list[Plot] = []
    with style():
        for name in plot_names(ctx.manifest):
            out += PLOTS.get(name)(ctx)
        for p in out:
            # lay out once and freeze it: a layout engine run at every save would start from the
            # previous save's positions, so the SVG would depend on whether a PNG was saved first
            p.figure.draw_without_rendering()
            p.figure.set_layout_engine("none")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"two plots share a file name: {sorted({n for n in names if names.count(n) > 1})}")
    return out


def write_plots(store: RunStore) -> list[Path]:
    """Write ``plots/<name>.png`` and ``.svg`` of every plot, remove stale ones, write the index.

    Returns the image files written (the index not included).

    Raises:
        StoreError: the folder cannot be created or a file cannot be written.
    """
    plots = build_plots(store)
    folder = store.root / PLOTS_DIR
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise os_error(e, "create", folder) from e
    written = []
    for plot in plots:
        for fmt in FORMATS:
            path = folder / f"{plot.name}.{fmt}"
            atomic_write_bytes(path, render(plot, fmt))
            written.append(path)
    keep = set(written)
    try:
        for fmt in FORMATS:
            for path in sorted(folder.glob(f"*.{fmt}")):
                if path not in keep:
                    path.unlink()
    except OSError as e:
        raise os_error(e, "remove old plots from", folder) from e
    write_index(store.root, [PlotEntry(p.name, p.title, p.caption) for p in plots])
    return written


# shared pieces ------------------------------------------------------------------------------------
def file_stem(kind: str, dataset: str) -> str:
    """``kind-dataset`` as a safe file name; a dataset name that had to change gets a short hash."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset).strip("_.")[:40]
    if slug != dataset:
        slug += "-" + hashlib.sha256(dataset.encode()).hexdigest()[:6]
    return f"{kind}-{slug}"


def by_dataset(records: Sequence[Record]) -> list[tuple[str, list[Record]]]:
    """Records grouped by dataset, in stored order."""
    return [(d, [r for r in records if r.dataset == d]) for d in ordered(r.dataset for r in records)]


def grid(n: int, *, ncols: int = 4, legend_rows: int = 1) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure of ``n`` panels in rows of ``ncols``, room below for a legend."""
    cols = max(1, min(n, ncols))
    rows = max(1, math.ceil(n / cols))
    size = (PANEL[0] * cols, PANEL[1] * rows + 0.45 + 0.16 * legend_rows)
    fig = Figure(figsize=size, layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def line_style(i: int) -> dict[str, Any]:
    """Colour and marker of the ``i``-th model."""
    return {"color": COLORS[i % len(COLORS)], "marker": MARKERS[i % len(MARKERS)]}


def model_legend(fig: Figure, models: Sequence[str], title: str) -> None:
    """One legend for the figure: a line per model, below the panels."""
    handles = [Line2D([], [], label=m, **line_style(i)) for i, m in enumerate(models)]
    ncols = 1 if max(len(m) for m in models) > 40 else min(len(models), 3)
    suptitle(fig, title)
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False)


def legend_rows(models: Sequence[str]) -> int:
    return len(models) if max(len(m) for m in models) > 40 else math.ceil(len(models) / 3)


def _accuracy_axes(ax: Axes, title: str, xlabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ACCURACY_LABEL)
    ax.set_ylim(0, 100)  # one scale for every panel and run


def _clean(recs: Sequence[Record], model: str) -> float | None:
    return next((100 * r.value for r in recs if r.model == model and r.condition == "clean"), None)


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v))
    except ValueError:
        return None


# accuracy plots -----------------------------------------------------------------------------------
@PLOTS.register("per_corruption")
def accuracy_vs_severity(ctx: PlotContext) -> list[Plot]:
    """Accuracy against severity, a panel per corruption, a line per model (severity 0 = clean)."""
    out = []
    for dataset, recs in by_dataset(metric_records(ctx.records, "accuracy")):
        cells = [r for r in recs if "corruption" in r.tags and _number(r.tags.get("severity")) is not None]
        if not cells:
            continue
        corruptions = ordered(str(r.tags["corruption"]) for r in cells)
        models = ordered(r.model for r in recs)
        fig, axes = grid(len(corruptions), legend_rows=legend_rows(models))
        for ax, corruption in zip(axes, corruptions):
            mine = [r for r in cells if str(r.tags["corruption"]) == corruption]
            for i, m in enumerate(models):
                pts = sorted(
                    (_number(r.tags["severity"]) or 0.0, 100 * r.value) for r in mine if r.model == m
                )
                clean = _clean(recs, m)
                if clean is not None:
                    pts.insert(0, (0.0, clean))
                if pts:
                    ax.plot(*zip(*pts), **line_style(i))
            sev = sorted({_number(r.tags["severity"]) or 0.0 for r in mine} | {0.0})
            ax.set_xticks(sev, [f"{s:g}" for s in sev])
            _accuracy_axes(
                ax, signed_label(corruption, any(is_signed(r) for r in mine)), "severity (0 = clean)"
            )
        title = f"accuracy vs severity · {dataset_label(dataset)}"
        model_legend(fig, models, title)
        out.append(
            Plot(
                file_stem("accuracy_vs_severity", dataset),
                title,
                fig,
                "accuracy (%) per corruption against its severity (1-5, the corruption's own scale; "
                "0 = the clean images), one line per model",
            )
        )
    return out


@PLOTS.register("per_group")
def accuracy_vs_cutoff(ctx: PlotContext) -> list[Plot]:
    """Accuracy against the cutoff radius of each low-/high-pass sweep (groups with a numeric ``r``)."""
    out = []
    for dataset, recs in by_dataset(metric_records(ctx.records, "accuracy")):
        swept = [r for r in recs if r.condition != "clean" and "group" in r.tags]
        groups = [
            g
            for g in ordered(str(r.tags["group"]) for r in swept)
            if all(_number(r.tags.get("r")) is not None for r in swept if str(r.tags["group"]) == g)
        ]
        if not groups:
            continue
        models = ordered(r.model for r in recs)
        fig, axes = grid(len(groups), ncols=3, legend_rows=legend_rows(models))
        for ax, group in zip(axes, groups):
            mine = [r for r in swept if str(r.tags["group"]) == group]
            for i, m in enumerate(models):
                pts = sorted((_number(r.tags["r"]) or 0.0, 100 * r.value) for r in mine if r.model == m)
                if pts:
                    ax.plot(*zip(*pts), **line_style(i))
                clean = _clean(recs, m)
                if clean is not None:
                    ax.axhline(clean, color=line_style(i)["color"], linestyle=":", linewidth=0.9)
            radii = sorted({_number(r.tags["r"]) or 0.0 for r in mine})
            ax.set_xticks(radii, [f"{v:g}" for v in radii])
            title = signed_label(group, any(is_signed(r) for r in mine))
            _accuracy_axes(ax, title, "cutoff radius r (cycles per image)")
        title = f"accuracy vs cutoff · {dataset_label(dataset)}"
        model_legend(fig, models, title)
        out.append(
            Plot(
                file_stem("accuracy_vs_cutoff", dataset),
                title,
                fig,
                "accuracy (%) against the filter's cutoff radius r in cycles per image (the scale of "
                "the Gaussian and Butterworth profiles), one panel per filter, one line per model; "
                "dotted: the model's clean accuracy; [signed]: inputs outside [0, 1]",
            )
        )
    return out


def _eps_value(r: Record) -> float | None:
    v = _number(r.tags.get("eps_value"))
    if v is None and r.tags.get("eps") is not None:
        v = parse_budget(str(r.tags["eps"])).value
    return v


@PLOTS.register("accuracy_vs_eps")
def accuracy_vs_eps(ctx: PlotContext) -> list[Plot]:
    """Accuracy against eps per unconstrained attack (eps 0 = clean), ticks with eps as written."""
    out = []
    for dataset, recs in by_dataset(metric_records(ctx.records, "accuracy")):
        attacked = [
            r
            for r in recs
            if r.tags.get("eps") is not None
            and r.tags.get("band", "full") == "full"
            and _eps_value(r) is not None
        ]
        if not attacked:
            continue
        attacks = ordered(str(r.tags.get("attack", r.condition.split("@")[0])) for r in attacked)
        models = ordered(r.model for r in recs)
        fig, axes = grid(len(attacks), ncols=3, legend_rows=legend_rows(models))
        for ax, attack in zip(axes, attacks):
            mine = [r for r in attacked if str(r.tags.get("attack", r.condition.split("@")[0])) == attack]
            for i, m in enumerate(models):
                pts = sorted((_eps_value(r) or 0.0, 100 * r.value) for r in mine if r.model == m)
                clean = _clean(recs, m)
                if clean is not None:
                    pts.insert(0, (0.0, clean))
                if pts:
                    ax.plot(*zip(*pts), **line_style(i))
            ticks = {0.0: "0"} | {_eps_value(r) or 0.0: str(r.tags["eps"]) for r in mine}
            xs = sorted(ticks)
            ax.set_xticks(xs, [ticks[x] for x in xs], rotation=45)
            norms = ", ".join(ordered(str(r.tags.get("norm", "Linf")) for r in mine))
            _accuracy_axes(ax, attack, f"eps ({norms} norm, images in [0, 1])")
        title = f"accuracy vs eps · {dataset_label(dataset)}"
        model_legend(fig, models, title)
        out.append(
            Plot(
                file_stem("accuracy_vs_eps", dataset),
                title,
                fig,
                "accuracy (%) under each attack against its budget eps (ticks as written in the "
                "condition; eps 0 = the clean images), one line per model",
            )
        )
    return out


# perturbation spectra -----------------------------------------------------------------------------
BANDS = ("low", "mid", "high")


@PLOTS.register("delta_spectrum")
def delta_spectrum(ctx: PlotContext) -> list[Plot]:
    """Radial energy of the perturbations, a panel per condition, a line per model."""
    out = []
    for dataset, recs in by_dataset(ctx.records):
        changed = [r for r in recs if r.metric == "delta_energy_low"]
        if not changed:
            continue
        conditions = ordered(r.condition for r in changed)
        models = ordered(r.model for r in recs)
        fig, axes = grid(len(conditions), legend_rows=legend_rows(models))
        for ax, cond in zip(axes, conditions):
            lines = []
            for i, m in enumerate(models):
                rec = next((r for r in changed if r.model == m and r.condition == cond), None)
                if rec is None:
                    continue
                arrays = ctx.arrays(rec.key)
                if "delta_energy" not in arrays:
                    continue
                energy = np.asarray(arrays["delta_energy"], dtype=np.float64)
                shown = np.where(energy > 0, energy, np.nan)  # log scale: a zero is no point
                ax.plot(np.arange(energy.size), shown, **line_style(i), markevery=4)
                if "band_fractions" in arrays:
                    fr = np.asarray(arrays["band_fractions"], dtype=np.float64)
                    lines.append((i, " · ".join(f"{100 * f:.0f}" for f in fr) + " %"))
            ax.set_yscale("log")
            ax.set_title(cond, fontsize=7)
            ax.set_xlabel("radius (cycles per image)")
            ax.set_ylabel("energy of delta (|FFT|², pixels in [0, 1])")
            if lines:  # the band fractions, a line per model in its colour under a grey key
                lines.insert(0, (-1, "low · mid · high"))
            for j, (i, text) in enumerate(lines):
                ax.text(
                    0.97,
                    0.95 - 0.09 * j,
                    text,
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=6,
                    color="#555555" if i < 0 else line_style(i)["color"],
                    bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 0.5},
                )
        title = f"perturbation spectra · {dataset_label(dataset)}"
        model_legend(fig, models, title)
        out.append(
            Plot(
                file_stem("delta_spectrum", dataset),
                title,
                fig,
                "energy of delta = x' - x per integer radius in cycles per image (|FFT|^2 with the "
                "orthonormal FFT, summed over the bins of each radius, averaged over channels and "
                "images; log scale), one panel per condition; numbers: the share of delta's energy "
                "in the low · mid · high band (<= 1/3, 1/3-2/3, > 2/3 of the Nyquist radius, "
                "energy-weighted over the dataset)",
            )
        )
    return out


__all__ = [
    "PLOTS",
    "Plot",
    "PlotContext",
    "build_plots",
    "draw",
    "heatmap",
    "render",
    "style",
    "write_plots",
]
