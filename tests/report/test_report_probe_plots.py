"""Probe plots drawn from real probe results (tiny data and CNNs), stored the way a probe run stores them.

Each probe runs on a few 8 x 8 images; its ``arrays()`` become the unit's stored arrays and its
``meta()`` (through JSON, as the store keeps it) ``info["meta"]`` of records shaped as in the probe-run
contract. What the figures show is compared with the stored arrays and with independent computations
(numpy FFTs of the kernels, the probe's own torch mask geometry, the heat map's stored frequency of
each cell), never with the plots' earlier output.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.image import AxesImage
from matplotlib.patches import StepPatch
from PIL import Image
from torch import nn

from freqbench.config import RunConfig
from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.errors import StoreError
from freqbench.probes.filter_spectrum import FilterSpectrumOptions, filter_spectrum
from freqbench.probes.fourier_heatmap import HeatmapOptions, fourier_heatmap, heatmap_grid
from freqbench.probes.fourier_mask import FourierMaskOptions, centred, fourier_mask
from freqbench.probes.input_spectrum import InputSpectrumOptions, input_spectrum
from freqbench.report.plots import Plot, PlotContext, draw, render, write_plots
from freqbench.report.probe_plots import centred_extent, full_plane_centred
from freqbench.store.run import Record, RunStore, content_key

DATASET = "tiny"
MODELS = ("net_a", "timm:net.b")  # the second needs a safe file name
SIZE = 8
N = 6
CLASSES = ("cat", "dog", "emu")
PROBES = ("fourier_heatmap", "input_spectrum", "filter_spectrum", "fourier_mask")


def make_data() -> ArrayDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 0], dtype=np.int64)
    info = DatasetInfo(DATASET, "test", len(CLASSES), CLASSES, "memory")
    return ArrayDataset(info, images, labels, np.arange(100, 100 + N, dtype=np.int64))


def tiny_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(5, 4, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, len(CLASSES)),
    ).eval()


def _options(opts: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in dataclasses.asdict(opts).items()}


def _records(probe: str, model: str, key: str, result: Any, opts: Any, rows: list[tuple]) -> list[Record]:
    """Records of one unit as the probe-run contract shapes them (condition, metric, value, tags)."""
    info = {"meta": json.loads(json.dumps(result.meta())), "options": _options(opts)}
    return [
        Record(
            model=model,
            dataset=DATASET,
            suite=f"probe:{probe}",
            condition=cond,
            metric=metric,
            value=float(value),
            n=N,
            ci_low=float(value),
            ci_high=float(value),
            key=key,
            tags={"kind": "probe", "probe": probe, **tags},
            info=info,
        )
        for cond, metric, value, tags in rows
    ]


@dataclass
class Units:
    records: list[Record]
    arrays: dict[str, dict[str, np.ndarray]]
    keys: dict[tuple[str, str], str]  # (probe, model) -> key
    results: dict[tuple[str, str], Any]
    nets: dict[str, nn.Module]

    def ctx(self, probes: tuple[str, ...] = PROBES, arrays: Mapping[str, Any] | None = None) -> PlotContext:
        stored = self.arrays if arrays is None else arrays
        manifest = {"config": {"suite": f"probe:{probes[0]}"}, "probes": list(probes), "summaries": []}
        return PlotContext(self.records, manifest, lambda key: stored[key])


def build_units() -> Units:
    """Every probe on the tiny data: a unit per (probe, model), records and arrays as a run stores them."""
    data = make_data()
    nets = {m: tiny_net(i) for i, m in enumerate(MODELS)}
    out = Units([], {}, {}, {}, nets)

    def add(probe: str, model: str, result: Any, opts: Any, rows: list[tuple]) -> None:
        key = content_key({"probe": probe, "model": model})
        out.records += _records(probe, model, key, result, opts, rows)
        out.arrays[key] = result.arrays()
        out.keys[(probe, model)] = key
        out.results[(probe, model)] = result

    spec_opts = InputSpectrumOptions(bins=5)
    spec = input_spectrum(data, spec_opts)
    rows = [
        (
            f"class={c}",
            "spectral_statistic",
            np.mean(spec.statistic[spec.labels == k]),
            {"class": c, "label": k},
        )
        for k, c in enumerate(CLASSES)
    ]
    add(
        "input_spectrum",
        "",
        spec,
        spec_opts,
        [*rows, ("all", "spectral_statistic", spec.statistic.mean(), {})],
    )
    for model, net in nets.items():
        heat_opts = HeatmapOptions(eps=2.0, batch_size=256)
        heat = fourier_heatmap(net, data, heat_opts, seed=1)
        add(
            "fourier_heatmap",
            model,
            heat,
            heat_opts,
            [("map", "clean_error", heat.clean_error, {}), ("map", "mean_error", heat.error.mean(), {})],
        )
        filt_opts = FilterSpectrumOptions()
        filt = filter_spectrum(net, filt_opts)
        rows = [
            (f"layer={x.name}", "filter_statistic", np.nanmean(x.statistic), {"layer": x.name, "order": i})
            for i, x in enumerate(filt.layers)
        ]
        add("filter_spectrum", model, filt, filt_opts, rows)
    mask_opts = FourierMaskOptions(dataset_epochs=2, dataset_batch_size=3, single_steps=3)
    # a fresh copy of the first net: fourier_heatmap (channels_last) leaves inference-mode parameters
    # behind, which a mask's autograd refuses (reported to the lead)
    mask = fourier_mask(tiny_net(0), data, mask_opts, seed=0)
    rows = [("dataset_mask", "clean_accuracy", 0.5, {}), ("single_masks", "prediction_kept", 1.0, {})]
    add("fourier_mask", MODELS[0], mask, mask_opts, rows)
    return out


@pytest.fixture(scope="module")
def units() -> Units:
    return build_units()


@pytest.fixture(scope="module")
def plots(units: Units) -> dict[str, Plot]:
    return {p.name: p for p in draw(units.ctx())}


def _panels(plot: Plot) -> list[Axes]:
    """The plot's axes without its colour bars."""
    bars = {im.colorbar.ax for ax in plot.figure.axes for im in ax.images if im.colorbar is not None}
    return [ax for ax in plot.figure.axes if ax not in bars]


def _bar_labels(plot: Plot) -> list[str]:
    return [im.colorbar.ax.get_ylabel() for ax in plot.figure.axes for im in ax.images if im.colorbar]


def _image(ax: Axes) -> AxesImage:
    (im,) = ax.images
    return im


def _shown(ax: Axes) -> np.ndarray:
    data = _image(ax).get_array()
    assert data is not None
    return np.ma.getdata(data).astype(np.float64)


def _stairs(ax: Axes) -> tuple[np.ndarray, np.ndarray]:
    """(values, edges) of the panel's one histogram."""
    (patch,) = ax.patches
    assert isinstance(patch, StepPatch)
    values, edges, _ = patch.get_data()
    return np.asarray(values), np.asarray(edges)


NAMES = {
    "fourier_heatmap-tiny",
    "input_spectrum-tiny",
    "input_statistic-tiny",
    "filter_histograms-tiny-net_a",
    "filter_spectra-tiny-net_a",
    "fourier_mask-tiny-net_a",
}


def test_every_probe_has_its_figures_and_they_render(plots: dict[str, Plot]) -> None:
    others = set(plots) - NAMES  # the second model's filter plots: a file name made safe
    assert NAMES <= set(plots) and len(others) == 2
    assert all(
        n.startswith(("filter_histograms-tiny-timm_net.b-", "filter_spectra-tiny-timm_net.b-"))
        for n in others
    )
    for plot in plots.values():
        png = render(plot, "png")
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG"
            rgb = np.asarray(im.convert("RGB")).astype(int)
        assert len(png) > 8_000
        assert ((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum() > 300  # coloured pixels: not blank
        root = ET.fromstring(render(plot, "svg"))
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert plot.title and plot.caption


def test_heatmap_shows_the_stored_map_on_a_fixed_scale(units: Units, plots: dict[str, Plot]) -> None:
    plot = plots["fourier_heatmap-tiny"]
    panels = _panels(plot)
    assert len(panels) == len(MODELS)
    assert "eps 2" in plot.title and "basis pi4" in plot.title
    assert _bar_labels(plot) == ["error rate"] * len(MODELS)
    for ax, model in zip(panels, MODELS):
        stored = units.arrays[units.keys[("fourier_heatmap", model)]]
        np.testing.assert_array_equal(_shown(ax), stored["error"])
        assert _image(ax).get_clim() == (0.0, 1.0)
        assert ax.get_title().startswith(model)
        assert ax.get_xlabel() == "kx (cycles per image)" and ax.get_ylabel() == "ky (cycles per image)"
        _check_frequencies(_image(ax), stored["error"].shape, stored["frequencies"], stored["cells"])


def _check_frequencies(im: AxesImage, shape: tuple[int, ...], freqs: np.ndarray, cells: np.ndarray) -> None:
    """The centre of each evaluated cell lies at its stored frequency (kx right, ky up)."""
    left, right, bottom, top = im.get_extent()
    assert im.origin == "lower"
    x = left + (cells[:, 1] + 0.5) * (right - left) / shape[1]
    y = bottom + (cells[:, 0] + 0.5) * (top - bottom) / shape[0]
    np.testing.assert_allclose(x, freqs[:, 1])
    np.testing.assert_allclose(y, freqs[:, 0])


@pytest.mark.parametrize(("h", "w", "nyquist"), [(7, 7, False), (8, 8, False), (8, 8, True), (6, 9, True)])
def test_centred_extent_puts_every_cell_at_its_frequency(h: int, w: int, nyquist: bool) -> None:
    g = heatmap_grid(h, w, include_nyquist=nyquist)
    left, right, bottom, top = centred_extent(g.shape)

    def at(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # (kx, ky) of each cell's centre
        x = left + (cells[:, 1] + 0.5) * (right - left) / g.shape[1]
        y = bottom + (cells[:, 0] + 0.5) * (top - bottom) / g.shape[0]
        return x, y

    x, y = at(g.cells)
    np.testing.assert_allclose(x, g.frequencies[:, 1])
    np.testing.assert_allclose(y, g.frequencies[:, 0])
    # a mirror cell lies at -(ky, kx), wrapped into the official range (the Nyquist row is its own mirror)
    x, y = at(g.mirrors)
    np.testing.assert_allclose(x, np.mod(-g.frequencies[:, 1] + w // 2, w) - w // 2)
    np.testing.assert_allclose(y, np.mod(-g.frequencies[:, 0] + h // 2, h) - h // 2)


def test_input_spectra_share_one_scale_and_show_the_stored_spectra(
    units: Units, plots: dict[str, Plot]
) -> None:
    stored = units.arrays[units.keys[("input_spectrum", "")]]
    plot = plots["input_spectrum-tiny"]
    panels = _panels(plot)
    want = [*stored["log_spectrum"], stored["log_spectrum_all"]]
    assert [ax.get_title() for ax in panels] == ["cat (n=3)", "dog (n=2)", "emu (n=1)", "all (n=6)"]
    values = np.concatenate([np.ravel(a) for a in want])
    clim = (values[np.isfinite(values)].min(), values[np.isfinite(values)].max())
    for ax, spectrum in zip(panels, want):
        np.testing.assert_array_equal(_shown(ax), spectrum)
        assert _image(ax).get_clim() == pytest.approx(clim)
        assert ax.get_xlabel() == "kx (cycles per image)" and ax.get_ylabel() == "ky (cycles per image)"
        assert _image(ax).get_extent() == [-4.5, 3.5, -4.5, 3.5]  # 8 x 8: frequencies -4..3
    (bar,) = _bar_labels(plot)
    assert "log10" in bar

    hist = plots["input_statistic-tiny"]
    panels = _panels(hist)
    assert len(panels) == len(CLASSES) + 1
    counts = [*stored["histograms"], stored["histograms"].sum(axis=0)]
    for k, (ax, want_counts) in enumerate(zip(panels, counts)):
        values, edges = _stairs(ax)
        np.testing.assert_array_equal(values, want_counts)
        np.testing.assert_array_equal(edges, stored["bin_edges"])
        assert "cycles per image" in ax.get_xlabel() and "mean(r·P)" in ax.get_xlabel()
        assert ax.get_ylabel() == "images"
        (mean,) = ax.get_lines()  # the mean of the class's statistic, from the stored per-image values
        chosen = stored["statistic"] if k == len(CLASSES) else stored["statistic"][stored["labels"] == k]
        assert np.asarray(mean.get_xdata(), dtype=float)[0] == pytest.approx(chosen.mean())


def test_filter_histograms_per_layer_and_first_layer_spectra(units: Units, plots: dict[str, Plot]) -> None:
    stored = units.arrays[units.keys[("filter_spectrum", MODELS[0])]]
    panels = _panels(plots["filter_histograms-tiny-net_a"])
    assert [ax.get_title() for ax in panels] == ["0 · 5×3×3×3", "2 · 4×5×3×3"]  # the two conv layers
    for ax, counts in zip(panels, stored["histograms"]):
        values, edges = _stairs(ax)
        np.testing.assert_array_equal(values, counts)
        np.testing.assert_array_equal(edges, stored["bin_edges"])
        assert ax.get_xlabel() == "mean(r·P) (r in cycles per 33 px)" and ax.get_ylabel() == "kernel slices"

    # the spectra from the weights by numpy: zero-padded to 33 x 33, |fft2|^2 / sum, centred, mean over inputs
    conv = units.nets[MODELS[0]].get_submodule("0")
    assert isinstance(conv, nn.Conv2d)
    w = conv.weight.detach().double().numpy()
    power = np.abs(np.fft.fft2(w, s=(33, 33))) ** 2
    want = np.fft.fftshift(power / power.sum(axis=(-2, -1), keepdims=True), axes=(-2, -1)).mean(axis=1)
    plot = plots["filter_spectra-tiny-net_a"]
    panels = _panels(plot)
    assert len(panels) == w.shape[0]
    for ax, spectrum in zip(panels, want):
        np.testing.assert_allclose(_shown(ax), spectrum, rtol=1e-9, atol=1e-15)
        assert _image(ax).get_clim() == pytest.approx((0.0, want.max()))
        assert _image(ax).get_extent() == [-16.5, 16.5, -16.5, 16.5]
    assert panels[0].get_ylabel() == "ky (cycles per 33 px)"
    assert all(ax.get_xlabel() == "kx (cycles per 33 px)" for ax in panels)  # 5 filters: one row
    (bar,) = _bar_labels(plot)
    assert "normalised power" in bar


def test_fourier_masks_show_the_stored_masks_and_profiles(units: Units, plots: dict[str, Plot]) -> None:
    stored = units.arrays[units.keys[("fourier_mask", MODELS[0])]]
    plot = plots["fourier_mask-tiny-net_a"]
    ds_map, ds_radial, single_map, single_radial = _panels(plot)
    np.testing.assert_array_equal(_shown(ds_map), stored["dataset_mask_full"])
    # the mean single-image mask: each half-plane mask made full-plane by the probe's own torch code
    want = centred(torch.from_numpy(stored["single_masks"]).double(), SIZE).mean(dim=0).numpy()
    np.testing.assert_allclose(_shown(single_map), want, atol=1e-12)
    for ax in (ds_map, single_map):
        assert _image(ax).get_clim() == (0.0, 1.0)
        assert ax.get_xlabel() == "kx (cycles per image)" and ax.get_ylabel() == "ky (cycles per image)"
    assert _bar_labels(plot) == ["mask value", "mask value"]
    (line,) = ds_radial.get_lines()
    np.testing.assert_array_equal(np.asarray(line.get_ydata()), stored["dataset_radial"])
    np.testing.assert_array_equal(np.asarray(line.get_xdata()), np.arange(stored["dataset_radial"].size))
    (line,) = single_radial.get_lines()
    np.testing.assert_allclose(
        np.asarray(line.get_ydata(), dtype=float), stored["single_radial"].mean(axis=0)
    )
    for ax in (ds_radial, single_radial):
        assert ax.get_xlabel() == "radius (cycles per image)" and "mask value" in ax.get_ylabel()
    assert "accuracy" in ds_map.get_title()


def test_full_plane_matches_the_probes_torch_geometry() -> None:
    rng = np.random.default_rng(3)
    for h, w in ((8, 8), (7, 7), (6, 9), (5, 4)):
        half = rng.random((2, h, w // 2 + 1))
        want = centred(torch.from_numpy(half), w).numpy()
        np.testing.assert_allclose(full_plane_centred(half, w), want, atol=1e-15)
    with pytest.raises(StoreError, match="has 5 columns, the stored one 4"):
        full_plane_centred(np.ones((8, 4)), 8)


@pytest.mark.parametrize("kind", ["dataset", "single"])
def test_a_mask_run_of_one_kind_draws_its_two_panels(units: Units, kind: str) -> None:
    key = units.keys[("fourier_mask", MODELS[0])]
    arrays = {key: {k: v for k, v in units.arrays[key].items() if not k.startswith(f"{kind}_")}}
    (plot,) = draw(units.ctx(("fourier_mask",), arrays))
    left, right = _panels(plot)
    assert left.get_title().startswith("mean of 6 single" if kind == "dataset" else "dataset mask")
    assert right.get_xlabel() == "radius (cycles per image)"


def test_a_missing_array_is_a_store_error_that_names_it(units: Units) -> None:
    key = units.keys[("fourier_heatmap", MODELS[0])]
    arrays = {**units.arrays, key: {k: v for k, v in units.arrays[key].items() if k != "error"}}
    with pytest.raises(
        StoreError, match=r"has no array error \(stored: .*cells.*\).*freqbench probe fourier_heatmap"
    ):
        draw(units.ctx(("fourier_heatmap",), arrays))


def test_a_mask_run_without_masks_is_a_store_error(units: Units) -> None:
    key = units.keys[("fourier_mask", MODELS[0])]
    arrays = {key: {k: v for k, v in units.arrays[key].items() if k in ("indices", "labels")}}
    with pytest.raises(StoreError, match="stores neither a dataset mask .* only indices, labels"):
        draw(units.ctx(("fourier_mask",), arrays))


def test_written_through_a_run_store_and_rebuilt_byte_identically(units: Units, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    config = RunConfig(suite="probe:fourier_heatmap", models=MODELS, dataset=DATASET, out=store.root, limit=N)
    store.write_manifest({"config": config.to_dict(), "probes": ["fourier_heatmap"], "summaries": []})
    with store.writing():
        store.recover()
        for model in MODELS:
            key = units.keys[("fourier_heatmap", model)]
            store.write_condition(key, [r for r in units.records if r.key == key], units.arrays[key])
    files = write_plots(store)
    assert sorted(p.name for p in files) == ["fourier_heatmap-tiny.png", "fourier_heatmap-tiny.svg"]
    assert all(p.stat().st_size > 8_000 for p in files)
    (again,) = draw(PlotContext(store.records(), store.read_manifest(), store.arrays))
    assert render(again, "svg") == (tmp_path / "run" / "plots" / "fourier_heatmap-tiny.svg").read_bytes()


def test_probe_plots_are_declared_lazily_and_never_import_torch() -> None:
    code = (
        "import sys\n"
        "from freqbench.report.plots import PLOTS\n"
        f"assert set({PROBES!r}) <= set(PLOTS.names()), PLOTS.names()\n"
        "assert 'freqbench.report.probe_plots' not in sys.modules\n"
        "PLOTS.get('fourier_mask')\n"
        "assert 'freqbench.report.probe_plots' in sys.modules\n"
        "PLOTS.load_all()\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
