"""Frequency response of learned convolution filters, per layer, without running data.

For every convolution layer with kernels of 3x3 or larger, the radial statistic of REFERENCE.md
section 4 (kakshak07/Frequency-response-characterization-of-CNNs) of each 2-D kernel slice (one input
channel of one filter): the slice is zero-padded to 33 x 33, ``P = fftshift(|fft2|^2)`` normalised to
sum 1, statistic ``mean(r * P)`` with ``r`` the radius on the folded integer grid. The computation is the
one in :mod:`freqbench.ops.filter_stats`; its unit values (centred delta 0.011590, 3x3 box 0.005552,
4-neighbour Laplacian 0.014838, checkerboard 0.016889) are checked through this probe in
``tests/probes/test_probes_filter_spectrum.py``.

Which layers: every module whose ``weight`` is a 4-D tensor ``(O, I, kh, kw)`` with ``kh, kw >= 3``:
``nn.Conv2d``, and layers that expose their effective spatial filters as ``weight`` though they store
something else (:class:`freqbench.nn.SpectralConv2d`, :class:`freqbench.nn.FrequencyModulation`, timm's
standardised convolutions expose their raw weight). When such a module contains others that also
expose a weight (``FrequencyModulation`` holds the ``SpectralConv2d`` of its unmodulated spectra), only
the outer one, whose weight is what the model computes with, is analysed. Layers are listed in module
order (``named_modules``), and the first of them is "the first layer" whose normalised power spectra
are kept as images.

Histograms: one per layer, on bin edges shared by every layer and model, from 0 to the largest value
the statistic can take on the grid (``max r / grid^2``, 0.0208 for 33), so histograms compare across
models. An all-zero slice has no spectrum: its statistic is NaN, it is left out of the histogram, and
the layer's ``zero_slices`` count says so.

Shape:
    statistic of a layer (O, I); first-layer spectra (O, I, grid, grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from freqbench.errors import ConfigError, IncompatibleError
from freqbench.ops.filter_stats import (
    DEFAULT_GRID,
    folded_radius,
    kernel_power_spectrum,
    radial_frequency_statistic,
)
from freqbench.probes.base import PROBES, Measure, Probe, ProbeInputs
from freqbench.store.aggregate import mean

#: kernels smaller than this on either side are not analysed (a 1x1 kernel has a flat spectrum)
MIN_KERNEL = 3
#: the metric name of the per-slice statistic in records
STATISTIC = "filter_statistic"


@dataclass(frozen=True)
class FilterSpectrumOptions:
    """Options of ``filter_spectrum``.

    Attributes:
        grid: the zero-padded size (33 in the reference); at least the largest kernel.
        bins: histogram bins per layer.
    """

    grid: int = DEFAULT_GRID
    bins: int = 64

    def __post_init__(self) -> None:
        if self.grid < MIN_KERNEL:
            raise ConfigError(f"filter_spectrum: grid must be >= {MIN_KERNEL}, got {self.grid}")
        if self.bins < 1:
            raise ConfigError(f"filter_spectrum: bins must be >= 1, got {self.bins}")


@dataclass(frozen=True)
class LayerStatistic:
    """The statistic of one layer.

    Attributes:
        name: the module's qualified name (``layer1.0.conv1``).
        kind: the module's class name.
        weight_shape: ``(O, I, kh, kw)``.
        statistic: ``mean(r * P)`` per slice, (O, I) float64 (NaN for all-zero slices).
        histogram: counts on the shared edges, (bins,) int64.
    """

    name: str
    kind: str
    weight_shape: tuple[int, int, int, int]
    statistic: np.ndarray
    histogram: np.ndarray

    @property
    def zero_slices(self) -> int:
        return int(np.isnan(self.statistic).sum())


@dataclass(frozen=True)
class FilterSpectrum:
    """Result of ``filter_spectrum``.

    Attributes:
        layers: one entry per analysed layer, in module order.
        bin_edges: the shared histogram edges, (bins + 1,).
        first_layer_spectra: normalised power spectra of the first layer's slices, centred,
            (O, I, grid, grid) float64.
        grid: the padded size.
        info: options and counts.
    """

    layers: tuple[LayerStatistic, ...]
    bin_edges: np.ndarray
    first_layer_spectra: np.ndarray
    grid: int
    info: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> LayerStatistic:
        for entry in self.layers:
            if entry.name == name:
                return entry
        known = ", ".join(e.name for e in self.layers)
        raise KeyError(f"no analysed layer {name!r}; the layers are {known}")

    def arrays(self) -> dict[str, np.ndarray]:
        """``statistic``: every layer's values flattened and concatenated, ``layer_offsets`` (L + 1,)
        delimiting them; ``histograms`` (L, bins); ``bin_edges``; ``first_layer_spectra``."""
        flat = [layer.statistic.reshape(-1) for layer in self.layers]
        sizes = np.array([0] + [f.size for f in flat], dtype=np.int64)
        return {
            "statistic": np.concatenate(flat) if flat else np.zeros(0),
            "layer_offsets": np.cumsum(sizes),
            "histograms": np.stack([layer.histogram for layer in self.layers]),
            "bin_edges": self.bin_edges,
            "first_layer_spectra": self.first_layer_spectra,
        }

    def measures(self) -> list[Measure]:
        """Per layer (``layer=<name>``): the mean statistic over its non-zero slices, n = those slices,
        a normal 95% interval; the first analysed layer is tagged ``first_layer``."""
        return [
            Measure(
                f"layer={layer.name}",
                mean(STATISTIC, layer.statistic[np.isfinite(layer.statistic)]),
                {"layer": layer.name, "order": i, "first_layer": i == 0, "layer_kind": layer.kind},
            )
            for i, layer in enumerate(self.layers)
            if layer.zero_slices < layer.statistic.size
        ]

    def meta(self) -> dict[str, Any]:
        return {
            "layers": [
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "weight_shape": list(layer.weight_shape),
                    "mean": float(np.nanmean(layer.statistic))
                    if layer.zero_slices < layer.statistic.size
                    else None,
                    "zero_slices": layer.zero_slices,
                }
                for layer in self.layers
            ],
            "first_layer": self.layers[0].name,
            "first_layer_mean": self.info["first_layer_mean"],
            **{k: v for k, v in self.info.items() if k != "first_layer_mean"},
        }


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """The analysed layers of ``model`` with their effective 4-D weights (module docstring).

    Returns:
        ``(qualified name, module, weight)`` in module order, outermost weight-exposing modules only.
    """
    found: list[tuple[str, nn.Module, torch.Tensor]] = []
    taken: list[str] = []
    with torch.no_grad():
        for name, module in model.named_modules():
            if any(prefix == "" or name.startswith(prefix + ".") for prefix in taken):
                continue
            weight = getattr(module, "weight", None)
            if isinstance(weight, nn.parameter.UninitializedParameter):
                if isinstance(module, nn.modules.conv._ConvNd):
                    raise IncompatibleError(
                        f"filter_spectrum: layer {name!r} ({type(module).__name__}) has no weights yet; "
                        "run one forward pass to initialise the lazy module first"
                    )
                continue
            if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
                continue
            taken.append(name)
            if min(weight.shape[-2:]) >= MIN_KERNEL:
                found.append((name, module, weight.detach()))
    return found


def filter_spectrum(model: nn.Module, options: FilterSpectrumOptions | None = None) -> FilterSpectrum:
    """The radial statistic of every conv layer's slices, its histograms, and the first layer's spectra.

    Args:
        model: any model; only its weights are read.
        options: grid and bins.

    Raises:
        IncompatibleError: the model has no convolution with kernels of 3x3 or larger, or one larger
            than the grid.
    """
    opts = options or FilterSpectrumOptions()
    layers = conv_layers(model)
    if not layers:
        raise IncompatibleError(
            f"filter_spectrum found no layer with a 4-D weight of {MIN_KERNEL}x{MIN_KERNEL} or larger in "
            f"{type(model).__name__}; it analyses convolution kernels"
        )
    biggest = max(max(w.shape[-2:]) for _, _, w in layers)
    if biggest > opts.grid:
        raise IncompatibleError(
            f"filter_spectrum: a {biggest}-pixel kernel does not fit the {opts.grid} grid; "
            f"pass grid >= {biggest}"
        )
    top = float(folded_radius(opts.grid, torch.device("cpu")).max()) / opts.grid**2
    edges = np.linspace(0.0, top, opts.bins + 1)
    out: list[LayerStatistic] = []
    for name, module, weight in layers:
        stat = radial_frequency_statistic(weight.to(torch.float64), grid=opts.grid).cpu().numpy()
        values = stat[np.isfinite(stat)]
        out.append(
            LayerStatistic(
                name=name,
                kind=type(module).__name__,
                weight_shape=(
                    int(weight.shape[0]),
                    int(weight.shape[1]),
                    int(weight.shape[2]),
                    int(weight.shape[3]),
                ),
                statistic=stat,
                histogram=np.histogram(values, bins=edges)[0].astype(np.int64),
            )
        )
    first = layers[0][2]
    spectra = kernel_power_spectrum(first.to(torch.float64), grid=opts.grid).cpu().numpy()
    first_stat = out[0].statistic
    return FilterSpectrum(
        layers=tuple(out),
        bin_edges=edges,
        first_layer_spectra=spectra,
        grid=opts.grid,
        info={
            "grid": opts.grid,
            "bins": opts.bins,
            "num_layers": len(out),
            "first_layer_mean": float(np.nanmean(first_stat)) if np.isfinite(first_stat).any() else None,
        },
    )


def _run(inputs: ProbeInputs, options: FilterSpectrumOptions) -> FilterSpectrum:
    assert inputs.model is not None  # Probe.__call__ checked it
    return filter_spectrum(inputs.model, options)


PROBES.register(
    "filter_spectrum",
    Probe(
        name="filter_spectrum",
        summary="radial statistic mean(r*P) of every conv kernel >= 3x3, per-layer histograms (no data)",
        needs=frozenset({"model"}),
        options=FilterSpectrumOptions,
        run=_run,
    ),
)
