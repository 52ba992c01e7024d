"""Per-class mean power spectra of the input images, and the per-image radial statistic.

The seed procedure (REFERENCE.md section 4, kakshak07/Frequency-response-characterization-of-CNNs):
each image is converted to greyscale, multiplied by a 2-D Hamming window, and its power spectrum
``|fft2|^2`` is averaged over the images of each class; the result is shown as ``log10`` of the
centred (``fftshift``) mean, low frequencies in the middle.

Conventions (the seed does not pin them down; these are freqbench's):

- pixels are floats in [0, 1] (``ArrayDataset.batch``); on the 8-bit scale every spectrum is
  ``255^2`` times larger, i.e. ``log10`` shifted by ``2 log10(255)``;
- greyscale is ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (what PIL's ``convert("L")`` and
  OpenCV's ``RGB2GRAY`` compute, without their rounding to 8 bits); one-channel images are used as
  they are;
- the window is the symmetric Hamming window ``0.54 - 0.46 cos(2 pi n / (N - 1))`` on each axis
  (``numpy.hamming``), its outer product in 2-D;
- a class with no images has a NaN spectrum; a bin of zero mean power has ``log10 = -inf``.

The per-image statistic is the radial statistic of REFERENCE.md section 4 applied to the windowed
greyscale image's power spectrum: ``mean(r * P)`` with ``P`` normalised to sum 1 and ``r`` the radius on
the folded integer frequency grid, computed by the one implementation in
:func:`freqbench.ops.filter_stats.radial_frequency_statistic` with the grid equal to the image size (no
padding; a non-square image is zero-padded to a square of its larger side). Its histogram per class uses
bin edges shared by all classes, spanning the values of the whole dataset.

Shape:
    spectra (K, H, W) for K classes; statistic (N,).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from freqbench.data.base import ArrayDataset
from freqbench.errors import ConfigError, IncompatibleError
from freqbench.ops.filter_stats import radial_frequency_statistic
from freqbench.probes.base import (
    PROBES,
    Measure,
    Probe,
    ProbeInputs,
    Progress,
    check_image_size,
    class_names,
)
from freqbench.store.aggregate import mean

#: ITU-R BT.601 luma weights (R, G, B)
LUMA = (0.299, 0.587, 0.114)
#: the metric name of the per-image statistic in records
STATISTIC = "spectral_statistic"


@dataclass(frozen=True)
class InputSpectrumOptions:
    """Options of ``input_spectrum``.

    Attributes:
        bins: number of histogram bins of the per-image statistic.
        batch_size: images per block (memory only; results do not depend on it).
    """

    bins: int = 50
    batch_size: int = 512

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise ConfigError(f"input_spectrum: bins must be >= 1, got {self.bins}")
        if self.batch_size < 1:
            raise ConfigError(f"input_spectrum: batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class InputSpectrum:
    """Result of ``input_spectrum``.

    Attributes:
        classes: class names, in label order.
        log_spectrum: ``log10`` of the centred mean power spectrum per class, (K, H, W) float64.
        log_spectrum_all: the same over all images, (H, W).
        counts: images per class, (K,) int64.
        statistic: ``mean(r * P)`` per image, (N,) float64.
        labels: label of each image, (N,) int64.
        indices: stable sample index of each image, (N,) int64.
        bin_edges: shared histogram edges, (bins + 1,).
        histograms: counts of the statistic per class, (K, bins) int64.
        info: options and sizes.
    """

    classes: tuple[str, ...]
    log_spectrum: np.ndarray
    log_spectrum_all: np.ndarray
    counts: np.ndarray
    statistic: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    bin_edges: np.ndarray
    histograms: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "log_spectrum": self.log_spectrum,
            "log_spectrum_all": self.log_spectrum_all,
            "counts": self.counts,
            "statistic": self.statistic,
            "labels": self.labels,
            "indices": self.indices,
            "bin_edges": self.bin_edges,
            "histograms": self.histograms,
        }

    def meta(self) -> dict[str, Any]:
        return {"classes": list(self.classes), **self.info}

    def measures(self) -> list[Measure]:
        """Mean of the per-image statistic per class (``class=<name>``) and over all images (``all``),
        with a normal 95% interval."""
        out = [
            Measure(
                f"class={name}",
                mean(STATISTIC, self.statistic[self.labels == k]),
                {"class": name, "label": k},
            )
            for k, name in enumerate(self.classes)
            if int(self.counts[k]) > 0
        ]
        return [*out, Measure("all", mean(STATISTIC, self.statistic), {"class": "all"})]


def greyscale(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB images, or the single channel of grey images.

    Shape:
        (B, C, H, W) with C in {1, 3} -> (B, H, W).
    """
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise IncompatibleError(
            f"input_spectrum needs grey or RGB images (B, 1 or 3, H, W), got {tuple(x.shape)}"
        )
    if x.shape[1] == 1:
        return x[:, 0]
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
    return torch.einsum("bchw,c->bhw", x, w)


def hamming_2d(height: int, width: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Outer product of symmetric Hamming windows (``numpy.hamming`` on each axis).

    Shape:
        (H, W).
    """
    wy = torch.hamming_window(height, periodic=False, dtype=dtype)
    wx = torch.hamming_window(width, periodic=False, dtype=dtype)
    return wy[:, None] * wx[None, :]


def input_spectrum(
    data: ArrayDataset,
    options: InputSpectrumOptions | None = None,
    *,
    progress: Progress | None = None,
) -> InputSpectrum:
    """Per-class mean power spectra and the per-image radial statistic (module docstring).

    Args:
        data: the images; labels choose the class.
        options: bins and block size.
        progress: ``progress(images done, total)``.

    Returns:
        The spectra, the statistic per image and its histograms per class.
    """
    opts = options or InputSpectrumOptions()
    _, height, width = check_image_size(data, "input_spectrum")
    classes = class_names(data)
    n, k = len(data), len(classes)
    window = hamming_2d(height, width)
    grid = max(height, width)
    sums = torch.zeros(k, height, width, dtype=torch.float64)
    stats = np.empty(n, dtype=np.float64)
    labels = np.asarray(data.labels, dtype=np.int64)
    for start in range(0, n, opts.batch_size):
        rows = np.arange(start, min(n, start + opts.batch_size))
        x, y = data.batch(rows)
        g = greyscale(x.double()) * window
        power = torch.fft.fft2(g).abs().square()
        sums.index_add_(0, y, power)
        stats[rows] = radial_frequency_statistic(g, grid=grid).numpy()
        if progress is not None:
            progress(int(rows[-1]) + 1, n)
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums.numpy() / counts[:, None, None]
        log_spec = np.log10(np.fft.fftshift(mean, axes=(-2, -1)))
        log_all = np.log10(np.fft.fftshift(sums.numpy().sum(0) / n, axes=(-2, -1)))
    finite = stats[np.isfinite(stats)]
    edges = np.histogram_bin_edges(finite if finite.size else np.zeros(1), bins=opts.bins)
    hists = np.stack([np.histogram(stats[labels == c], bins=edges)[0] for c in range(k)]).astype(np.int64)
    return InputSpectrum(
        classes=classes,
        log_spectrum=log_spec,
        log_spectrum_all=log_all,
        counts=counts,
        statistic=stats,
        labels=labels,
        indices=np.asarray(data.indices, dtype=np.int64),
        bin_edges=edges,
        histograms=hists,
        info={
            "n": n,
            "size": [height, width],
            "greyscale": "bt601" if data.shape[0] == 3 else "single-channel",
            "window": "hamming",
            "pixel_scale": "[0, 1]",
            "bins": opts.bins,
        },
    )


def _run(inputs: ProbeInputs, options: InputSpectrumOptions) -> InputSpectrum:
    assert inputs.data is not None  # Probe.__call__ checked it
    return input_spectrum(inputs.data, options, progress=inputs.progress)


PROBES.register(
    "input_spectrum",
    Probe(
        name="input_spectrum",
        summary="per-class mean power spectrum (grey, Hamming, log10) and the per-image mean(r*P)",
        needs=frozenset({"data"}),
        options=InputSpectrumOptions,
        run=_run,
    ),
)
