"""freqbench's frequency-modulated first layer: radial gains, the low/high proportion and the filter
statistic, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.errors import ConfigError
from freqbench.nn.frequency_modulation import BandSplit, FrequencyModulation
from freqbench.ops.masks import Profile


def numpy_radius(kh: int, kw: int) -> np.ndarray:
    """Radius in cycles per kernel of the rfft2 half-plane bins (square kernels: integer distances)."""
    s = min(kh, kw)
    ky = np.fft.fftfreq(kh, 1.0 / kh) * s / kh
    kx = np.fft.rfftfreq(kw, 1.0 / kw) * s / kw
    return np.hypot(ky[:, None], kx[None, :])


def numpy_statistic(kernel: np.ndarray, grid: int = 33) -> float:
    padded = np.zeros((grid, grid))
    padded[: kernel.shape[0], : kernel.shape[1]] = kernel
    power = np.fft.fftshift(np.abs(np.fft.fft2(padded)) ** 2)
    folded = np.abs(np.arange(grid) - grid // 2)
    return float((np.hypot(folded[:, None], folded[None, :]) * power / power.sum()).mean())


def test_unit_gains_without_split_equal_the_conv() -> None:
    conv = nn.Conv2d(3, 8, 7, stride=2, padding=3).double()
    layer = FrequencyModulation.from_conv(conv)
    x = torch.randn(2, 3, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(layer(x), conv(x), atol=1e-12, rtol=0)
    assert set(layer.state_dict()) == {"conv.theta", "conv.bias", "gain_logits"}
    assert not layer.is_low.any()


@pytest.mark.parametrize("kernel_size", [3, 5, (5, 4)])
def test_radial_gain_is_the_interpolated_softplus_profile(kernel_size: int | tuple[int, int]) -> None:
    layer = FrequencyModulation(2, 4, kernel_size).double()
    with torch.no_grad():
        layer.gain_logits.normal_(generator=torch.Generator().manual_seed(0))
    kh, kw = layer.conv.kernel_size
    profile = np.log1p(np.exp(layer.gain_logits.detach().numpy() + np.log(np.e - 1)))  # softplus, 1 at 0
    assert (profile > 0).all()
    r = numpy_radius(kh, kw)
    expected = np.stack([np.interp(r, np.arange(profile.shape[1]), p) for p in profile])  # clamps at the ends
    np.testing.assert_allclose(layer.gains().detach().numpy()[:, 0], expected, atol=1e-13)
    # the effective filter is irfft2(theta * gain) and stays real: check it against numpy
    theta = layer.conv.spectrum().detach().numpy()
    reference = FrequencyModulation(2, 4, kernel_size).double()
    reference.conv.load_state_dict(layer.conv.state_dict())
    with torch.no_grad():
        reference.conv.theta.copy_(torch.view_as_real(torch.from_numpy(theta * expected[:, None])))
    torch.testing.assert_close(layer.weight, reference.conv.weight, atol=1e-13, rtol=0)


def test_proportion_fixes_filters_to_their_band_through_training() -> None:
    torch.manual_seed(0)
    layer = FrequencyModulation(3, 8, 5, padding=2, band_split=BandSplit(0.25)).double()  # cutoff 1.25
    assert layer.is_low.tolist() == [True, True] + [False] * 6
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        layer(torch.randn(2, 3, 12, 12, dtype=torch.float64)).square().mean().backward()
        opt.step()
    assert layer.gain_logits.grad is not None and layer.gain_logits.grad.abs().sum() > 0
    spectra = np.abs(np.fft.rfft2(layer.weight.detach().numpy()))  # independent of the layer's own spectrum
    r = numpy_radius(5, 5)
    low, high = spectra[:2], spectra[2:]
    assert np.abs(low[..., r > 1.25]).max() < 1e-12 and np.abs(low[..., r <= 1.25]).min() > 0
    assert np.abs(high[..., r <= 1.25]).max() < 1e-12 and np.abs(high[..., r > 1.25]).min() > 0


def test_smooth_band_profile() -> None:
    layer = FrequencyModulation(
        1, 2, 5, band_split=BandSplit(0.5, cutoff=1.0, profile=Profile.GAUSSIAN)
    ).double()
    r = numpy_radius(5, 5)
    low = np.exp(-(r**2) / 2.0)
    np.testing.assert_allclose(layer.band_mask[0, 0].numpy(), low, atol=1e-15)
    np.testing.assert_allclose(layer.band_mask[1, 0].numpy(), 1 - low, atol=1e-15)


def test_filter_statistics_per_filter_and_per_slice() -> None:
    torch.manual_seed(1)
    layer = FrequencyModulation(3, 6, 3, band_split=BandSplit(0.5))
    per_slice = layer.filter_statistics(per_slice=True)
    weight = layer.weight.detach().double().numpy()
    expected = np.array([[numpy_statistic(k) for k in f] for f in weight])
    np.testing.assert_allclose(per_slice.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(layer.filter_statistics().numpy(), expected.mean(axis=1), rtol=1e-5)
    # 3x3 low filters (cutoff 0.75) keep only DC: per-channel constants, the box value 0.005552
    np.testing.assert_allclose(per_slice[:3].numpy(), 0.005552, atol=5e-7)
    assert per_slice[3:].min() > per_slice[:3].max()


def test_band_split_validation() -> None:
    assert (
        BandSplit(0.5).num_low(5) == 3 and BandSplit(0.0).num_low(8) == 0 and BandSplit(1.0).num_low(8) == 8
    )
    with pytest.raises(ConfigError, match="proportion"):
        BandSplit(1.5)
    with pytest.raises(ConfigError, match="cutoff"):
        BandSplit(0.5, cutoff=0.0)
    with pytest.raises(ConfigError, match="high band at cutoff 2.0 is empty"):
        FrequencyModulation(3, 4, 3, band_split=BandSplit(0.5, cutoff=2.0))
    FrequencyModulation(3, 4, 3, band_split=BandSplit(1.0, cutoff=2.0))  # no high filters: allowed
