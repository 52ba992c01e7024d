"""Pictures of probe results, rebuilt from stored records and arrays only (no torch).

Each function is registered in :data:`freqbench.report.plots.PLOTS` under its probe's name, so
:func:`~freqbench.report.plots.draw` draws it when a run's manifest lists the probe under ``probes``
(``plots.py`` declares the names; this module is imported on the first lookup of one). A probe's
records carry ``tags["probe"] == NAME``; the records of one *unit* (one model and probe, or the one
model-free unit of ``input_spectrum``) share its content key, under which the store holds exactly the
probe result's ``arrays()``; every record's ``info`` holds the result's ``meta()`` as ``info["meta"]``
and the resolved options as ``info["options"]`` (:mod:`freqbench.api.probe_runner`; each probe
result's ``measures()`` documents its records).

Pictures (file stems from :func:`~freqbench.report.plots.file_stem`; ``UNIT`` is ``dataset-model``):

- ``fourier_heatmap-DATASET``: the centred error-rate map of every model (one panel per model) on
  the fixed colour scale 0-1, cell (a, b) drawn at frequency ``(ky, kx) = (a - H'//2, b - W'//2)``
  cycles per image (kx horizontal, ky up), eps and basis in the titles.
- ``input_spectrum-DATASET``: ``log10`` of the centred mean power spectrum per class and over all
  images, one colour scale shared by the panels of the figure (the finite range of all of them);
  ``input_statistic-DATASET``: the histogram of the per-image statistic per class (and over all).
- ``filter_histograms-UNIT``: the histogram of the filter statistic per analysed layer (shared bin
  edges, so panels compare); ``filter_spectra-UNIT``: the first layer's normalised power spectra, one
  image per output filter, **the mean over its input channels** (each slice's spectrum sums to 1, so
  the mean does too, and a filter is one picture however many channels it reads; all-zero slices,
  whose spectrum is undefined, are left out of the mean), on one colour scale from 0 to the largest
  value shown.
- ``fourier_mask-UNIT``: the dataset-level mask on the full centred plane (fixed scale 0-1) and its
  radial profile, and, when the run trained single-image masks, their mean (each image's half-plane
  mask made full-plane, then averaged) and their mean radial profile with the interquartile range.

Units: spectra and masks of images are in cycles per image; kernel spectra, computed on the probe's
zero-padded ``g x g`` grid, in cycles per g pixels. The statistic ``mean(r * P)`` of ``input_spectrum``
and ``filter_spectrum`` (REFERENCE.md section 4) is the spectral centroid radius ``sum(r * P)``
divided by the number of grid cells ``g^2``, with ``r`` in cycles per image (per ``g`` pixels for
kernels), so its axis names the unit of ``r``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from freqbench.errors import StoreError
from freqbench.report.plots import (
    COLORS,
    PLOTS,
    Plot,
    PlotContext,
    dataset_label,
    file_stem,
    heatmap,
    suptitle,
)
from freqbench.report.tables import ordered
from freqbench.store.run import Record

CPI = "cycles per image"
RADIUS = f"radius ({CPI})"


# units ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeUnit:
    """The records of one (model, probe) unit and what they say about it.

    Attributes:
        probe: the probe's name.
        key: the unit's content key (its arrays are ``ctx.arrays(key)``).
        model: the model ("" for a model-free probe).
        dataset: the dataset of the records ("" where the probe read none).
        meta: the result's ``meta()`` (``info["meta"]``).
        options: the resolved probe options (``info["options"]``).
        label: the model (or the dataset for a model-free unit), with the key's start when two units
            of the probe share it.
        slug: ``dataset-model`` (with the key's start when needed), the unit's part of a file stem.
    """

    probe: str
    key: str
    model: str
    dataset: str
    meta: Mapping[str, Any]
    options: Mapping[str, Any]
    label: str
    slug: str

    def setting(self, name: str) -> Any:
        """An option as resolved (``options``), else as the result recorded it (``meta``), else None."""
        return self.options.get(name, self.meta.get(name))

    def arrays(self, ctx: PlotContext, *names: str) -> dict[str, np.ndarray]:
        """The unit's stored arrays, refusing a store that lacks one of ``names``.

        Raises:
            StoreError: a required array is missing.
        """
        arrays = dict(ctx.arrays(self.key))
        missing = [n for n in names if n not in arrays]
        if missing:
            raise StoreError(
                f"{self.probe} result {self.key} ({self.label}) has no array {', '.join(missing)} "
                f"(stored: {', '.join(sorted(arrays)) or 'none'}); the run directory is damaged or from "
                f"another freqbench version: run `freqbench probe {self.probe} ...` into a fresh "
                "--out directory"
            )
        return arrays


def probe_units(records: Sequence[Record], probe: str) -> list[ProbeUnit]:
    """The units of ``probe`` in stored order (records with ``tags["probe"] == probe``, by key)."""
    mine = [r for r in records if r.tags.get("probe") == probe]
    firsts: dict[str, Record] = {}
    for r in mine:
        firsts.setdefault(r.key, r)
    names = [(r.dataset, r.model) for r in firsts.values()]
    out = []
    for key, r in firsts.items():
        shared = names.count((r.dataset, r.model)) > 1
        label = (r.model or r.dataset or probe) + (f" [{key[:8]}]" if shared else "")
        slug = "-".join(p for p in (r.dataset, r.model, key[:8] if shared else "") if p) or key[:8]
        meta, options = r.info.get("meta", {}), r.info.get("options", {})
        out.append(
            ProbeUnit(
                probe=probe,
                key=key,
                model=r.model,
                dataset=r.dataset,
                meta=meta if isinstance(meta, Mapping) else {},
                options=options if isinstance(options, Mapping) else {},
                label=label,
                slug=slug,
            )
        )
    return out


def _by_dataset(units: Sequence[ProbeUnit]) -> list[tuple[str, list[ProbeUnit]]]:
    return [(d, [u for u in units if u.dataset == d]) for d in ordered(u.dataset for u in units)]


def _where(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


# shared pieces -------------------------------------------------------------------------------------
def panels(
    n: int, *, ncols: int, panel: tuple[float, float], title_room: float = 0.45
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure of ``n`` panels of ``panel`` inches, in rows of ``ncols``."""
    cols = max(1, min(n, ncols))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows + title_room), layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def centred_extent(shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """``imshow`` extent (left, right, bottom, top) of a centred map drawn with ``origin="lower"``:
    cell (a, b) is frequency ``(a - H//2, b - W//2)``, so the centre of cell (H//2, W//2) is (0, 0).

    >>> centred_extent((31, 31))
    (-15.5, 15.5, -15.5, 15.5)
    >>> centred_extent((32, 32))
    (-16.5, 15.5, -16.5, 15.5)
    """
    h, w = int(shape[-2]), int(shape[-1])
    return (-(w // 2) - 0.5, w - 1 - w // 2 + 0.5, -(h // 2) - 0.5, h - 1 - h // 2 + 0.5)


def _frequency_axes(ax: Axes, unit: str = CPI) -> None:
    ax.set_xlabel(f"kx ({unit})")
    ax.set_ylabel(f"ky ({unit})")


def finite_range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    """(min, max) of the finite values of ``arrays`` together, widened to a non-empty interval."""
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    if values.size == 0:  # nothing to show (every class empty): any interval draws the NaN colour
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)


def full_plane_centred(half: np.ndarray, width: int) -> np.ndarray:
    """The centred full-plane mask of ``rfft2`` half-plane masks: ``M(-k) = M(k)``, the self-conjugate
    columns (0, and W/2 for even W) replaced by their part symmetric in ky (the part that acts), then
    ``fftshift``-ed (the numpy twin of :func:`freqbench.probes.fourier_mask.centred`, which needs torch).

    Shape:
        (..., H, W//2+1) -> (..., H, W).

    Raises:
        StoreError: the half plane does not have W//2+1 columns.
    """
    m = np.asarray(half, dtype=np.float64)
    h, cols = m.shape[-2:]
    if cols != width // 2 + 1:
        raise StoreError(
            f"a half-plane mask of width {width} has {width // 2 + 1} columns, the stored one {cols}; "
            "the run's meta size and arrays disagree: run the probe into a fresh directory"
        )
    mirror = np.mod(-np.arange(h), h)
    selfc = [0, width // 2] if width % 2 == 0 and width > 1 else [0]
    sym = m.copy()
    sym[..., selfc] = 0.5 * (m[..., selfc] + m[..., mirror, :][..., selfc])
    rest = sym[..., mirror, :][..., width - np.arange(width // 2 + 1, width)]
    return np.fft.fftshift(np.concatenate([sym, rest], axis=-1), axes=(-2, -1))


def _colorbar(fig: Figure, image: AxesImage, axes: Sequence[Axes], label: str) -> None:
    fig.colorbar(image, ax=list(axes), label=label, shrink=0.9)


def _as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# fourier_heatmap -----------------------------------------------------------------------------------
def _heatmap_setting(unit: ProbeUnit) -> str:
    eps, basis = _as_float(unit.setting("eps")), unit.setting("basis")
    return _where(f"eps {eps:g}" if eps is not None else "", f"basis {basis}" if basis else "")


@PLOTS.register("fourier_heatmap")
def fourier_heatmap_plots(ctx: PlotContext) -> list[Plot]:
    """The Fourier heat map of every model (a panel each), on the fixed colour scale 0-1."""
    out = []
    for dataset, units in _by_dataset(probe_units(ctx.records, "fourier_heatmap")):
        settings = ordered(_heatmap_setting(u) for u in units)
        shared = settings[0] if len(settings) == 1 else ""
        fig, axes = panels(len(units), ncols=3, panel=(3.1, 2.6))
        for ax, unit in zip(axes, units):
            error = unit.arrays(ctx, "error")["error"]
            heatmap(ax, error, extent=centred_extent(error.shape), colorbar_label="error rate")
            _frequency_axes(ax)
            clean = _as_float(unit.meta.get("clean_error"))
            sub = _where(
                "" if shared else _heatmap_setting(unit),
                f"clean error {100 * clean:.1f}%" if clean is not None else "",
            )
            ax.set_title(unit.label + (f"\n{sub}" if sub else ""), fontsize=7)
        title = _where("Fourier heat map", dataset_label(dataset), shared)
        suptitle(fig, title)
        out.append(
            Plot(
                file_stem("fourier_heatmap", dataset),
                title,
                fig,
                "error rate of each model on images perturbed by eps times a unit-norm Fourier basis "
                "image of frequency (kx, ky) in cycles per image (random sign per image and channel; "
                "Yin et al. 2019), low frequencies at the centre; colour scale fixed at 0-1 so maps "
                "compare; one panel per model",
            )
        )
    return out


# input_spectrum ------------------------------------------------------------------------------------
def _classes(unit: ProbeUnit, k: int) -> list[str]:
    named = [str(c) for c in unit.meta.get("classes", [])]
    return named if len(named) == k else [str(i) for i in range(k)]


def _grid_size(unit: ProbeUnit, shape: tuple[int, ...]) -> int:
    size = unit.meta.get("size")
    if isinstance(size, Sequence) and len(size) == 2:
        return max(int(size[0]), int(size[1]))
    return max(int(shape[-2]), int(shape[-1]))


@PLOTS.register("input_spectrum")
def input_spectrum_plots(ctx: PlotContext) -> list[Plot]:
    """Per-class log mean power spectra (one colour scale per figure) and the statistic's histograms."""
    out = []
    for unit in probe_units(ctx.records, "input_spectrum"):
        a = unit.arrays(ctx, "log_spectrum", "log_spectrum_all", "counts", "bin_edges", "histograms")
        spectra = np.asarray(a["log_spectrum"], dtype=np.float64)
        counts = np.asarray(a["counts"], dtype=np.int64)
        classes = _classes(unit, spectra.shape[0])
        maps = [*spectra, np.asarray(a["log_spectrum_all"], dtype=np.float64)]
        names = [*classes, "all"]
        ns = [*(int(c) for c in counts), int(counts.sum())]
        vmin, vmax = finite_range(maps)
        where = _where(unit.label if unit.model else "", dataset_label(unit.dataset))

        fig, axes = panels(len(maps), ncols=6, panel=(2.0, 1.9))
        image = None
        for ax, spectrum, name, n in zip(axes, maps, names, ns):
            image = heatmap(ax, spectrum, vmin=vmin, vmax=vmax, extent=centred_extent(spectrum.shape))
            _frequency_axes(ax)
            ax.set_title(f"{name} (n={n})", fontsize=7)
        assert image is not None
        _colorbar(fig, image, axes, "log10 mean power (pixels in [0, 1])")
        title = _where("input power spectra", where)
        suptitle(fig, title)
        out.append(
            Plot(
                file_stem("input_spectrum", unit.slug),
                title,
                fig,
                "log10 of the mean power spectrum |fft2|^2 of the greyscale, Hamming-windowed images "
                "(pixels in [0, 1]) per class and over all images, frequencies in cycles per image with "
                "0 at the centre; one colour scale for all panels",
            )
        )

        edges = np.asarray(a["bin_edges"], dtype=np.float64)
        hists = np.asarray(a["histograms"], dtype=np.int64)
        stat = a.get("statistic")
        labels = a.get("labels")
        grid = _grid_size(unit, spectra.shape)
        fig, axes = panels(len(maps), ncols=6, panel=(2.0, 1.6))
        for i, (ax, name, n) in enumerate(zip(axes, names, ns)):
            counts_i = hists[i] if i < len(hists) else hists.sum(axis=0)
            ax.stairs(counts_i, edges, fill=True, color=COLORS[0], alpha=0.8)
            if stat is not None and labels is not None:
                values = stat if i == len(hists) else stat[labels == i]
                values = values[np.isfinite(values)]
                if values.size:
                    ax.axvline(float(values.mean()), color="black", linestyle=":", linewidth=0.9)
            ax.set_xlim(edges[0], edges[-1])
            ax.set_xlabel(f"mean(r·P) (r in {CPI})")
            ax.set_ylabel("images")
            ax.set_title(f"{name} (n={n})", fontsize=7)
        title = _where("input spectral statistic", where)
        suptitle(fig, title)
        out.append(
            Plot(
                file_stem("input_statistic", unit.slug),
                title,
                fig,
                f"histogram of the per-image statistic mean(r·P) per class and over all images: P the "
                f"windowed greyscale image's power spectrum normalised to sum 1, r its radius in cycles "
                f"per image, the mean over the {grid}x{grid} grid (= the spectral centroid radius / "
                f"{grid}²); bins shared by all panels; dotted: the mean",
            )
        )
    return out


# filter_spectrum -----------------------------------------------------------------------------------
@PLOTS.register("filter_spectrum")
def filter_spectrum_plots(ctx: PlotContext) -> list[Plot]:
    """Per model: the filter statistic's histogram per layer, and the first layer's spectra."""
    out = []
    for unit in probe_units(ctx.records, "filter_spectrum"):
        a = unit.arrays(ctx, "histograms", "bin_edges", "first_layer_spectra")
        hists = np.asarray(a["histograms"], dtype=np.int64)
        edges = np.asarray(a["bin_edges"], dtype=np.float64)
        layers = [x for x in unit.meta.get("layers", []) if isinstance(x, Mapping)]
        if len(layers) != len(hists):
            raise StoreError(
                f"filter_spectrum result {unit.key} ({unit.label}) lists {len(layers)} layers in its meta "
                f"but stores {len(hists)} histograms; run the probe into a fresh directory"
            )
        spectra = np.asarray(a["first_layer_spectra"], dtype=np.float64)
        grid = int(unit.meta.get("grid", spectra.shape[-1]))
        r_unit = f"cycles per {grid} px"
        where = _where(unit.label, dataset_label(unit.dataset))

        fig, axes = panels(len(layers), ncols=5, panel=(2.2, 1.7))
        for ax, layer, hist in zip(axes, layers, hists):
            ax.stairs(hist, edges, fill=True, color=COLORS[0], alpha=0.8)
            mean = _as_float(layer.get("mean"))
            if mean is not None:
                ax.axvline(mean, color="black", linestyle=":", linewidth=0.9)
            ax.set_xlim(edges[0], edges[-1])
            ax.set_xlabel(f"mean(r·P) (r in {r_unit})")
            ax.set_ylabel("kernel slices")
            shape = "×".join(str(s) for s in layer.get("weight_shape", []))
            ax.set_title(_where(str(layer.get("name", "?")), shape), fontsize=6.5)
        title = _where("filter statistic per layer", where)
        suptitle(fig, title)
        out.append(
            Plot(
                file_stem("filter_histograms", unit.slug),
                title,
                fig,
                f"histogram of mean(r·P) over the 2-D kernel slices of each conv layer with kernels of "
                f"3x3 or larger: P the slice's power spectrum zero-padded to {grid}x{grid} and "
                f"normalised to sum 1, r its radius in {r_unit} (= the spectral centroid radius / "
                f"{grid}²; larger: energy at higher frequencies); bins shared by all layers and models; "
                "dotted: the layer's mean; title: layer and weight shape (out×in×kh×kw)",
            )
        )

        per_filter = mean_over_inputs(spectra)
        first = str(unit.meta.get("first_layer", layers[0].get("name", "first layer")))
        ncols = min(8, len(per_filter))
        fig, axes = panels(len(per_filter), ncols=ncols, panel=(1.35, 1.3))
        vmax = finite_range([per_filter])[1] if np.isfinite(per_filter).any() else 1.0
        image = None
        for o, (ax, spectrum) in enumerate(zip(axes, per_filter)):
            image = heatmap(ax, spectrum, vmin=0.0, vmax=vmax, extent=centred_extent(spectrum.shape))
            ax.set_title(f"filter {o}", fontsize=6)
            if o % ncols == 0:
                ax.set_ylabel(f"ky ({r_unit})", fontsize=6)
            if o >= len(per_filter) - ncols:
                ax.set_xlabel(f"kx ({r_unit})", fontsize=6)
            ax.tick_params(labelsize=5)
        assert image is not None
        _colorbar(fig, image, axes, "normalised power P (sums to 1)")
        title = _where(f"first-layer filter spectra ({first})", where)
        suptitle(fig, title)
        out.append(
            Plot(
                file_stem("filter_spectra", unit.slug),
                title,
                fig,
                f"normalised power spectrum P of each output filter of the first analysed layer, the "
                f"mean over its {spectra.shape[1]} input channel(s) (each slice zero-padded to "
                f"{grid}x{grid}, |fft2|^2 / its sum), frequencies in {r_unit} with 0 at the centre; one "
                "colour scale from 0 to the largest value shown",
            )
        )
    return out


def mean_over_inputs(spectra: np.ndarray) -> np.ndarray:
    """The mean over input channels of (O, I, g, g) slice spectra, NaN (all-zero) slices left out;
    NaN for a filter with no finite slice.

    Shape:
        (O, I, g, g) -> (O, g, g).
    """
    finite = np.isfinite(spectra)
    total = np.where(finite, spectra, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# fourier_mask --------------------------------------------------------------------------------------
def _accuracy_note(summary: Any) -> str:
    if not isinstance(summary, Mapping):
        return ""
    clean, masked = _as_float(summary.get("clean_accuracy")), _as_float(summary.get("masked_accuracy"))
    if clean is None or masked is None:
        return ""
    return f"accuracy {100 * clean:.1f}% → {100 * masked:.1f}%"


def _radial_axes(ax: Axes, title: str) -> None:
    ax.set_xlabel(RADIUS)
    ax.set_ylabel("mean mask value (0-1)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=7)


@PLOTS.register("fourier_mask")
def fourier_mask_plots(ctx: PlotContext) -> list[Plot]:
    """Per model: the dataset mask and its radial profile; the mean single-image mask and profile."""
    out = []
    for unit in probe_units(ctx.records, "fourier_mask"):
        a = unit.arrays(ctx)
        has_dataset = "dataset_mask_full" in a
        has_single = "single_masks" in a
        if not (has_dataset or has_single):
            raise StoreError(
                f"fourier_mask result {unit.key} ({unit.label}) stores neither a dataset mask "
                f"(dataset_mask_full) nor single-image masks (single_masks), only {', '.join(sorted(a))}; "
                "the run directory is damaged: run `freqbench probe fourier_mask ...` into a fresh "
                "--out directory"
            )
        n = 2 * int(has_dataset) + 2 * int(has_single)
        fig, axes = panels(n, ncols=4, panel=(2.7, 2.4))
        where = _where(unit.label, dataset_label(unit.dataset))
        i = 0
        if has_dataset:
            full = np.asarray(unit.arrays(ctx, "dataset_mask_full", "dataset_radial")["dataset_mask_full"])
            heatmap(axes[0], full, extent=centred_extent(full.shape), colorbar_label="mask value")
            _frequency_axes(axes[0])
            note = _accuracy_note(unit.meta.get("dataset"))
            axes[0].set_title("dataset mask" + (f"\n{note}" if note else ""), fontsize=7)
            radial = np.asarray(a["dataset_radial"], dtype=np.float64)
            axes[1].plot(np.arange(radial.size), radial, color=COLORS[0], marker="o", markevery=4)
            _radial_axes(axes[1], "dataset mask:\nradial profile")
            i = 2
        if has_single:
            s = unit.arrays(ctx, "single_masks", "single_radial")
            size = unit.meta.get("size")
            if not (isinstance(size, Sequence) and len(size) == 2):
                raise StoreError(
                    f"fourier_mask result {unit.key} ({unit.label}) has no image size in its meta "
                    "(info['meta']['size'] = [H, W]); run the probe into a fresh directory"
                )
            masks = np.asarray(s["single_masks"], dtype=np.float64)
            mean = full_plane_centred(masks.mean(axis=0), int(size[1]))
            heatmap(axes[i], mean, extent=centred_extent(mean.shape), colorbar_label="mask value")
            _frequency_axes(axes[i])
            note = _accuracy_note(unit.meta.get("single"))
            axes[i].set_title(
                f"mean of {len(masks)} single-image masks" + (f"\n{note}" if note else ""), fontsize=7
            )
            radial = np.asarray(s["single_radial"], dtype=np.float64)
            r = np.arange(radial.shape[-1])
            q1, q3 = np.percentile(radial, [25, 75], axis=0)
            axes[i + 1].fill_between(r, q1, q3, color=COLORS[1], alpha=0.25, linewidth=0)
            axes[i + 1].plot(r, radial.mean(axis=0), color=COLORS[1], marker="o", markevery=4)
            _radial_axes(axes[i + 1], "single-image masks:\nmean radial profile")
        title = _where("Fourier masks", where)
        suptitle(fig, title)
        out.append(
            Plot(
                file_stem("fourier_mask", unit.slug),
                title,
                fig,
                "learned Fourier masks in front of the frozen model (Karantzas et al. 2022): the "
                "dataset-level mask on the full centred plane (frequencies in cycles per image, 0 at "
                "the centre; colour scale fixed at 0-1) and its mean per integer radius in cycles per "
                "image; the mean of the single-image masks and their mean radial profile (shaded: "
                "25-75% of the images); accuracy without → with the mask",
            )
        )
    return out


__all__ = [
    "ProbeUnit",
    "centred_extent",
    "filter_spectrum_plots",
    "finite_range",
    "fourier_heatmap_plots",
    "fourier_mask_plots",
    "full_plane_centred",
    "input_spectrum_plots",
    "mean_over_inputs",
    "panels",
    "probe_units",
]
