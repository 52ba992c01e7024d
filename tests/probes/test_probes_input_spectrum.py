"""input_spectrum against an independent numpy computation of the seed procedure (BT.601 grey,
numpy's Hamming window, |fft2|^2 averaged per class, log10 of the shifted mean; mean(r * P) per image)."""

from __future__ import annotations

import numpy as np
import pytest

from freqbench.data.base import ArrayDataset
from freqbench.errors import IncompatibleError
from freqbench.probes import PROBES, ProbeInputs
from freqbench.probes.input_spectrum import InputSpectrumOptions, input_spectrum


def numpy_reference(data: ArrayDataset, classes: int) -> tuple[np.ndarray, np.ndarray]:
    x = data.images.astype(np.float64) / 255.0
    grey = x @ np.array([0.299, 0.587, 0.114]) if x.shape[-1] == 3 else x[..., 0]
    h, w = grey.shape[1:]
    windowed = grey * np.outer(np.hamming(h), np.hamming(w))
    power = np.abs(np.fft.fft2(windowed)) ** 2
    spectra = np.stack(
        [np.log10(np.fft.fftshift(power[data.labels == k].mean(axis=0))) for k in range(classes)]
    )
    p = np.fft.fftshift(power, axes=(-2, -1))
    p /= p.sum(axis=(-2, -1), keepdims=True)
    fy, fx = np.abs(np.arange(h) - h // 2), np.abs(np.arange(w) - w // 2)
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return spectra, (r * p).mean(axis=(-2, -1))


@pytest.mark.parametrize(("size", "channels"), [((8, 8), 3), ((9, 9), 1)])
def test_matches_numpy(make_data, size: tuple[int, int], channels: int) -> None:
    data = make_data(20, size, channels=channels, classes=3)
    result = PROBES.get("input_spectrum")(ProbeInputs(data=data), InputSpectrumOptions(bins=7, batch_size=6))
    spectra, stats = numpy_reference(data, 3)
    # the probe reads images as ArrayDataset.batch gives them, float32 k / 255: 6e-8 relative
    np.testing.assert_allclose(result.log_spectrum, spectra, rtol=0, atol=1e-6)  # log10: absolute
    np.testing.assert_allclose(result.statistic, stats, rtol=1e-6)
    np.testing.assert_array_equal(result.counts, np.bincount(data.labels, minlength=3))
    edges = np.histogram_bin_edges(stats, bins=7)
    np.testing.assert_allclose(result.bin_edges, edges, rtol=1e-6)
    for k in range(3):
        own = result.statistic[data.labels == k]
        np.testing.assert_array_equal(result.histograms[k], np.histogram(own, bins=result.bin_edges)[0])
    assert result.histograms.sum() == 20
    np.testing.assert_array_equal(result.indices, data.indices)
    assert result.meta()["classes"] == ["c0", "c1", "c2"]


def test_empty_class_is_nan_and_bad_channels_refused(make_data) -> None:
    data = make_data(6, (6, 6), classes=2)
    labels = np.zeros(6, dtype=np.int64)
    info = type(data.info)("tiny", "test", 3, ("a", "b", "c"), "memory")
    result = input_spectrum(ArrayDataset(info, data.images, labels, data.indices))
    assert np.isnan(result.log_spectrum[1:]).all() and np.isfinite(result.log_spectrum[0]).all()
    np.testing.assert_allclose(result.log_spectrum_all, result.log_spectrum[0])
    with pytest.raises(IncompatibleError, match="grey or RGB"):
        input_spectrum(make_data(2, (6, 6), channels=2))
