"""The spectral parameterisation of conv filters (Rippel et al. 2015) against ``nn.Conv2d`` and numpy."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.errors import ConfigError
from freqbench.nn.spectral_conv import SpectralConv2d

CONV_OPTIONS: list[dict[str, Any]] = [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"in_channels": 3, "out_channels": 6, "kernel_size": 4, "stride": 2, "padding": 1, "bias": False},
    {
        "in_channels": 4,
        "out_channels": 6,
        "kernel_size": (3, 5),
        "dilation": 2,
        "groups": 2,
        "padding": (2, 1),
    },
    {"in_channels": 2, "out_channels": 4, "kernel_size": 4, "padding": "same"},
    {"in_channels": 2, "out_channels": 4, "kernel_size": 5, "padding": "valid", "stride": (1, 2)},
    {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"},
    {"in_channels": 3, "out_channels": 4, "kernel_size": 2, "padding": 2, "padding_mode": "circular"},
    {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": "same", "padding_mode": "replicate"},
    {"in_channels": 1, "out_channels": 2, "kernel_size": 1},
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # nn.Conv2d warns alike
@pytest.mark.parametrize("norm", ["ortho", "backward"])
@pytest.mark.parametrize("options", CONV_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_from_conv_equals_conv2d(options: dict[str, Any], norm: str) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(**options).double()
    spectral = SpectralConv2d.from_conv(conv, norm=norm)  # type: ignore[arg-type]
    x = torch.randn(2, options["in_channels"], 11, 10, dtype=torch.float64, requires_grad=True)
    out, expected = spectral(x), conv(x)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    grad = torch.randn_like(out)
    (g_spectral,) = torch.autograd.grad(out, x, grad)
    (g_conv,) = torch.autograd.grad(expected, x, grad)
    torch.testing.assert_close(g_spectral, g_conv, atol=1e-12, rtol=0)


@pytest.mark.parametrize("norm", ["ortho", "backward"])
def test_theta_is_the_numpy_half_spectrum(norm: Literal["ortho", "backward"]) -> None:
    conv = nn.Conv2d(3, 5, (4, 3)).double()
    spectral = SpectralConv2d.from_conv(conv, norm=norm)
    expected = np.fft.rfft2(conv.weight.detach().numpy(), norm=norm)
    assert spectral.theta.shape == (5, 3, 4, 3 // 2 + 1, 2)
    np.testing.assert_allclose(spectral.spectrum().detach().numpy(), expected, atol=1e-13)


def numpy_hermitian_weight(half: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Complete the half spectrum to the full plane (bins kx > kw//2 from their conjugate partners),
    take the Hermitian part of the whole plane, inverse with the orthonormal DFT."""
    full = np.zeros((*half.shape[:-2], kh, kw), dtype=complex)
    ky = np.arange(kh)
    for kx in range(kw):
        if kx <= kw // 2:
            full[..., kx] = half[..., kx]
        else:
            full[..., kx] = np.conj(half[..., (-ky) % kh, kw - kx])
    mirror = np.conj(full[..., (-ky) % kh, :][..., (-np.arange(kw)) % kw])
    hermitian = (full + mirror) / 2
    weight = np.fft.ifft2(hermitian, norm="ortho")
    assert np.abs(weight.imag).max() < 1e-12
    return weight.real


@pytest.mark.parametrize("kernel_size", [(3, 3), (4, 4), (5, 2), (2, 5)])
def test_weight_of_an_arbitrary_theta_is_its_hermitian_part(kernel_size: tuple[int, int]) -> None:
    """Random theta is not Hermitian on the self-conjugate columns; only its Hermitian part acts."""
    layer = SpectralConv2d(2, 3, kernel_size).double()
    with torch.no_grad():
        layer.theta.normal_(generator=torch.Generator().manual_seed(3))
    expected = numpy_hermitian_weight(layer.spectrum().detach().numpy(), *kernel_size)
    np.testing.assert_allclose(layer.weight.detach().numpy(), expected, atol=1e-13)


def test_gradcheck_in_theta() -> None:
    layer = SpectralConv2d(2, 3, 4, padding=1).double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)

    def f(theta: torch.Tensor) -> torch.Tensor:
        return layer.conv(x, layer.spectrum_to_weight(torch.view_as_complex(theta)))

    assert torch.autograd.gradcheck(f, (layer.theta.detach().clone().requires_grad_(True),))


def test_init_draws_the_same_filters_as_conv2d() -> None:
    torch.manual_seed(5)
    conv = nn.Conv2d(3, 16, 3, padding=1)
    torch.manual_seed(5)
    spectral = SpectralConv2d(3, 16, 3, padding=1)
    torch.testing.assert_close(spectral.weight, conv.weight, atol=1e-6, rtol=0)
    assert spectral.bias is not None and conv.bias is not None
    torch.testing.assert_close(spectral.bias, conv.bias)


def test_state_dict_trains_and_moves() -> None:
    layer = SpectralConv2d(3, 4, 3, padding=1)
    assert set(layer.state_dict()) == {"theta", "bias"}
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    layer(torch.randn(2, 3, 8, 8)).square().mean().backward()
    opt.step()
    assert (layer.weight - before).abs().max() > 0
    assert layer.double().weight.dtype == torch.float64


def test_errors() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        SpectralConv2d(3, 4, 3, groups=2)
    with pytest.raises(ConfigError, match="padding string"):
        SpectralConv2d(3, 4, 3, padding="full")
    with pytest.raises(ConfigError, match="norm"):
        SpectralConv2d(3, 4, 3, norm="forward")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="weight shape"):
        SpectralConv2d(3, 4, 3).set_weight(torch.zeros(4, 3, 5, 5))
