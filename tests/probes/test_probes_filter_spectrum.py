"""filter_spectrum: REFERENCE.md section 4's unit values through the probe, the statistic and spectra
against numpy, which layers are analysed, and registry models of three kinds without data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.errors import IncompatibleError
from freqbench.models import load_model
from freqbench.nn import FrequencyModulation, SpectralConv2d
from freqbench.probes import PROBES, ProbeInputs
from freqbench.probes.filter_spectrum import FilterSpectrumOptions, conv_layers, filter_spectrum

# REFERENCE.md section 4: 3x3 kernels on the 33-grid
UNIT_VALUES = {"delta": 0.011590, "box": 0.005552, "laplacian": 0.014838, "checkerboard": 0.016889}


def unit_kernels() -> torch.Tensor:
    delta = torch.zeros(3, 3)
    delta[1, 1] = 1.0
    box = torch.ones(3, 3) / 9.0
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    checker = torch.tensor([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])
    return torch.stack([delta, box, laplacian, checker])


def numpy_statistic(kernel: np.ndarray, grid: int = 33) -> float:
    """mean(r * P) the seed's way: pad, fft2, |.|^2, fftshift, normalise, folded radius."""
    padded = np.zeros((grid, grid))
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    p = np.fft.fftshift(np.abs(np.fft.fft2(padded)) ** 2)
    p /= p.sum()
    f = np.abs(np.arange(grid) - grid // 2)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return float(np.mean(r * p))


def test_unit_values_through_the_probe() -> None:
    conv = nn.Conv2d(1, 4, 3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(unit_kernels()[:, None])
    result = PROBES.get("filter_spectrum")(ProbeInputs(model=nn.Sequential(conv)))
    (layer,) = result.layers
    assert layer.name == "0" and layer.weight_shape == (4, 1, 3, 3)
    np.testing.assert_allclose(layer.statistic[:, 0], list(UNIT_VALUES.values()), atol=5e-7)
    assert layer.histogram.sum() == 4


def test_statistic_histogram_and_first_layer_spectra_against_numpy() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 3, 5), nn.ReLU(), nn.Conv2d(3, 4, 3))
    result = filter_spectrum(net, FilterSpectrumOptions(bins=10))
    assert [layer.name for layer in result.layers] == ["0", "2"]
    for layer, module in zip(result.layers, (net[0], net[2])):
        w = module.weight.detach().double().numpy()
        want = np.array([[numpy_statistic(w[o, i]) for i in range(w.shape[1])] for o in range(w.shape[0])])
        np.testing.assert_allclose(layer.statistic, want, rtol=1e-10)
        top = np.sqrt(2) * 16 / 33**2  # largest folded radius over grid^2
        np.testing.assert_array_equal(layer.histogram, np.histogram(want, bins=10, range=(0, top))[0])
    w0 = net[0].weight.detach().double().numpy()
    padded = np.zeros((3, 2, 33, 33))
    padded[..., :5, :5] = w0
    p = np.fft.fftshift(np.abs(np.fft.fft2(padded)) ** 2, axes=(-2, -1))
    np.testing.assert_allclose(
        result.first_layer_spectra, p / p.sum(axis=(-2, -1), keepdims=True), atol=1e-12
    )
    arrays = result.arrays()
    offsets = arrays["layer_offsets"]
    assert offsets.tolist() == [0, 6, 18]
    np.testing.assert_array_equal(arrays["statistic"][6:18], result.layers[1].statistic.reshape(-1))


def test_layer_selection_outer_weights_only_and_small_kernels_skipped() -> None:
    fm = FrequencyModulation(3, 4, 3, padding=1)
    with torch.no_grad():
        fm.gain_logits.normal_()  # gains away from 1: the effective filters differ from the raw ones
    net = nn.Sequential(fm, nn.Conv2d(4, 4, 1), SpectralConv2d(4, 2, 3), nn.Flatten(), nn.LazyLinear(2))
    # an uninitialised lazy layer that is not a convolution is simply not analysed
    found = conv_layers(net)
    assert [(name, type(m).__name__) for name, m, _ in found] == [
        ("0", "FrequencyModulation"),
        ("2", "SpectralConv2d"),
    ]
    result = filter_spectrum(net)
    want = np.array([[numpy_statistic(k) for k in row] for row in fm.weight.detach().double().numpy()])
    np.testing.assert_allclose(result.layers[0].statistic, want, rtol=1e-9)
    assert result.meta()["first_layer"] == "0"


def test_zero_slices_are_nan_and_left_out_of_the_histogram() -> None:
    conv = nn.Conv2d(2, 1, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 1] = unit_kernels()[0]
    (layer,) = filter_spectrum(conv).layers
    assert np.isnan(layer.statistic[0, 0]) and layer.zero_slices == 1
    assert layer.histogram.sum() == 1


def test_no_conv_layer_is_a_typed_error() -> None:
    with pytest.raises(IncompatibleError, match="no layer with a 4-D weight"):
        filter_spectrum(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(IncompatibleError, match="run one forward pass"):
        filter_spectrum(nn.Sequential(nn.LazyConv2d(2, 3)))
    with pytest.raises(IncompatibleError, match="grid >= 7"):
        filter_spectrum(nn.Conv2d(1, 1, 7), FilterSpectrumOptions(grid=5))


@pytest.mark.parametrize(
    ("spec", "layers", "first"),
    [
        ("resnet20_cifar10", 19, ("net.conv1", "Conv2d", (16, 3, 3, 3))),
        # the 1x1 downsample convolutions are not analysed: 1 stem + 16 block convolutions
        ("timm:resnet18?pretrained=false", 17, ("net.conv1", "Conv2d", (64, 3, 7, 7))),
        ("resnet20_freqmod_cifar10", 19, ("net.conv1", "FrequencyModulation", (16, 3, 3, 3))),
    ],
)
def test_registry_models_without_data(
    spec: str, layers: int, first: tuple[str, str, tuple[int, ...]]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random initialisation warnings
        model, _ = load_model(spec, pretrained=False)
    result = PROBES.get("filter_spectrum")(ProbeInputs(model=model))
    assert len(result.layers) == layers
    head = result.layers[0]
    assert (head.name, head.kind, head.weight_shape) == first
    assert result.first_layer_spectra.shape == (first[2][0], first[2][1], 33, 33)
    for layer in result.layers:
        assert layer.histogram.sum() == layer.statistic.size - layer.zero_slices
    weight = dict(model.named_modules())[head.name].weight.detach().double().numpy()
    np.testing.assert_allclose(head.statistic[0, 0], numpy_statistic(weight[0, 0]), rtol=1e-9)
    assert result.meta()["first_layer_mean"] == pytest.approx(float(np.nanmean(head.statistic)))
