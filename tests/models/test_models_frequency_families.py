"""The frequency model families and seed 000's ResNet-18s: registered as honest architectures, their
stated parameter counts (derived independently or taken from the seed's own Keras summaries), the
downsampling really done by spectral / wavelet pooling on both ResNet paths (against scipy and
PyWavelets), the Rippel et al. network's sizes, widths and frequency-dropout schedule, eval determinism,
and the frequency-modulated stem's band split."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from types import ModuleType

import numpy as np
import pytest
import pywt
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from freqbench.errors import ConfigError
from freqbench.models import (
    MODELS,
    ModelConfig,
    load_model,
    resnet20_freqmod,
    resnet20_spectralpool,
    resnet20_waveletpool,
    seed_resnet18,
)
from freqbench.models import spectral_cnn as spectral_cnn_module
from freqbench.models.cifar_resnet import CifarResNet, PadShortcut
from freqbench.nn.frequency_modulation import FrequencyModulation
from freqbench.nn.spectral_conv import SpectralConv2d
from freqbench.nn.spectral_pool import SpectralPool2d
from freqbench.nn.wavelet_pool import WaveletPool2d

DATASETS = {"cifar10": (3, 32, 32), "fashion_mnist": (1, 28, 28)}
FAMILIES = ["spectral_cnn", "resnet20_spectralpool", "resnet20_waveletpool", "resnet20_freqmod", "resnet18"]
NAMES = [f"{arch}_{ds}" for arch in FAMILIES for ds in DATASETS]

RESNET20 = 269_722  # REFERENCE.md section 9 (He et al. 2016), 3 input channels
RESNET20_1CH = RESNET20 - 2 * 16 * 9  # two input channels fewer in the 16-filter 3x3 stem


def _spectral_cnn_params(in_channels: int) -> int:
    widths = [min(96 + 32 * m, 288) for m in range(1, 7)]
    ins = [in_channels, *widths[:-1]]
    # a 3x3 slice's half spectrum is 3 x 2 complex = 12 reals; biases; 1x1 head 288->288->10
    blocks = sum(12 * i * o + o for i, o in zip(ins, widths))
    return blocks + (288 * 288 + 288) + (288 * 10 + 10)


def _freqmod_params(in_channels: int, plain: int) -> int:
    # the stem's 16 x C x 9 weights become 16 x C x 12 theta reals plus 16 x 2 gain logits
    return plain - 16 * in_channels * 9 + 16 * in_channels * 12 + 16 * 2


# Expected trainable parameter counts, each derived independently of the code under test; the
# ResNet-18 numbers are the "Trainable params" the seed notebooks' Keras summaries print.
EXPECTED_PARAMS: dict[str, tuple[int, ModuleType]] = {
    "spectral_cnn_cifar10": (_spectral_cnn_params(3), spectral_cnn_module),
    "spectral_cnn_fashion_mnist": (_spectral_cnn_params(1), spectral_cnn_module),
    "resnet20_spectralpool_cifar10": (RESNET20, resnet20_spectralpool),
    "resnet20_spectralpool_fashion_mnist": (RESNET20_1CH, resnet20_spectralpool),
    "resnet20_waveletpool_cifar10": (RESNET20, resnet20_waveletpool),
    "resnet20_waveletpool_fashion_mnist": (RESNET20_1CH, resnet20_waveletpool),
    "resnet20_freqmod_cifar10": (_freqmod_params(3, RESNET20), resnet20_freqmod),
    "resnet20_freqmod_fashion_mnist": (_freqmod_params(1, RESNET20_1CH), resnet20_freqmod),
    "resnet18_cifar10": (11_173_962, seed_resnet18),
    "resnet18_fashion_mnist": (11_178_378, seed_resnet18),
}


def _net(name: str, *, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    entry = MODELS.get(name)
    return entry.build(entry.cfg)


def _sizes_through(net: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor) -> dict[str, tuple]:
    """(input H, W) -> (output H, W) of each named module during one forward pass."""
    seen: dict[str, tuple] = {}
    handles = [
        m.register_forward_hook(
            lambda _m, inp, out, key=key: seen.__setitem__(
                key, (tuple(inp[0].shape[-2:]), tuple(out.shape[-2:]))
            )
        )
        for key, m in modules.items()
    ]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return seen


def _numpy_pad_channels(x: np.ndarray, out_channels: int) -> np.ndarray:
    extra = out_channels - x.shape[1]
    return np.pad(x, ((0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0)))


# -- registration ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_entries_are_honest_architectures(name: str) -> None:
    cfg = MODELS.get(name).cfg
    assert cfg.weights is None, "no trained weights exist for these entries: no weight source may be claimed"
    assert cfg.notes.startswith("Architecture only: no trained weights")
    assert cfg.dataset in DATASETS and name.endswith(cfg.dataset)
    assert cfg.input_size == DATASETS[cfg.dataset] and cfg.num_classes == 10
    with pytest.warns(UserWarning, match="randomly initialised"):
        load_model(name)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_the_independent_count_and_the_docstring(name: str) -> None:
    expected, module = EXPECTED_PARAMS[name]
    assert sum(p.numel() for p in _net(name).parameters()) == expected
    assert module.__doc__ is not None and f"{expected:,}" in module.__doc__, (
        f"{module.__name__}'s docstring must state the parameter count {expected:,}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_training_forward_shape_and_every_parameter_learns(name: str) -> None:
    net = _net(name).train()
    c, h, w = DATASETS[MODELS.get(name).cfg.dataset]
    out = net(torch.rand(2, c, h, w))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not dead, f"parameters without a finite gradient: {dead[:5]}"


def test_builder_parameters_enter_the_result_spec() -> None:
    cfg = MODELS.get("resnet20_freqmod_cifar10").cfg
    other = replace(cfg, extra={**cfg.extra, "proportion": 0.25})
    assert cfg.result_spec() != other.result_spec()
    assert cfg.result_spec()["extra"]["proportion"] == 0.5


# -- ResNet-20 with spectral pooling ---------------------------------------------------------------


@pytest.mark.parametrize(("dataset", "sizes"), [("cifar10", (32, 16, 8)), ("fashion_mnist", (28, 14, 7))])
def test_spectralpool_resnet_stage_sizes_and_pool_placement(
    dataset: str, sizes: tuple[int, int, int]
) -> None:
    net = _net(f"resnet20_spectralpool_{dataset}").eval()
    assert isinstance(net, CifarResNet)
    c, h, w = DATASETS[dataset]
    blocks = {"layer2": net.layer2[0], "layer3": net.layer3[0]}
    modules: dict[str, nn.Module] = {"layer1": net.layer1, "layer2": net.layer2, "layer3": net.layer3}
    for key, block in blocks.items():
        assert block.conv1.stride == (1, 1), "the main path conv must run at stride 1"
        assert isinstance(block.pool, SpectralPool2d) and block.pool.dropout_lower is None
        assert isinstance(block.shortcut.pool, SpectralPool2d)
        modules[f"{key}.pool"], modules[f"{key}.shortcut"] = block.pool, block.shortcut
    seen = _sizes_through(net, modules, torch.rand(2, c, h, w))
    s0, s1, s2 = sizes
    assert [seen[k][1] for k in ("layer1", "layer2", "layer3")] == [(s0, s0), (s1, s1), (s2, s2)]
    assert seen["layer2.pool"] == ((s0, s0), (s1, s1)) and seen["layer3.pool"] == ((s1, s1), (s2, s2))
    assert seen["layer2.shortcut"] == ((s0, s0), (s1, s1))
    # the non-downsampling blocks are plain: no pool, identity shortcut
    assert net.layer1[0].pool is None and isinstance(net.layer2[1].shortcut, nn.Identity)


def test_spectralpool_shortcut_is_spectral_pooling_against_scipy() -> None:
    shortcut = _net("resnet20_spectralpool_cifar10").layer2[0].shortcut
    x = torch.randn(2, 16, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = scipy.signal.resample(scipy.signal.resample(x.numpy(), 16, axis=-2), 16, axis=-1)
    np.testing.assert_allclose(shortcut(x).numpy(), _numpy_pad_channels(expected, 32), atol=1e-12)
    # a checkerboard lies above the kept band: pooled away, where option A's subsampling keeps it
    board = torch.tensor((-1.0) ** np.add.outer(np.arange(32), np.arange(32))).expand(1, 16, 32, 32)
    assert float(shortcut(board).abs().max()) < 1e-6
    assert torch.equal(
        PadShortcut(16, 32, stride=2)(board).abs()[:, 8:24], torch.ones(1, 16, 16, 16, dtype=torch.float64)
    )


def test_spectralpool_block_equals_an_independent_computation() -> None:
    block = _net("resnet20_spectralpool_cifar10", seed=2).layer2[0].double().eval()
    gen = torch.Generator().manual_seed(3)
    for bn in (block.bn1, block.bn2):  # non-trivial running statistics
        bn.running_mean.copy_(torch.randn(32, generator=gen, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(32, generator=gen, dtype=torch.float64) + 0.5)
    x = torch.randn(2, 16, 32, 32, generator=gen, dtype=torch.float64)

    def bn(t: np.ndarray, layer: nn.BatchNorm2d) -> np.ndarray:
        scale = (layer.weight / torch.sqrt(layer.running_var + layer.eps)).detach().numpy()
        shift = (
            layer.bias - layer.running_mean * layer.weight / torch.sqrt(layer.running_var + layer.eps)
        ).detach()
        return t * scale[None, :, None, None] + shift.numpy()[None, :, None, None]

    conv1 = F.conv2d(x, block.conv1.weight, padding=1).detach().numpy()  # stride 1, full size
    pooled = scipy.signal.resample(scipy.signal.resample(conv1, 16, axis=-2), 16, axis=-1)
    mid = torch.from_numpy(np.maximum(bn(pooled, block.bn1), 0.0))
    main = bn(F.conv2d(mid, block.conv2.weight, padding=1).detach().numpy(), block.bn2)
    short = _numpy_pad_channels(
        scipy.signal.resample(scipy.signal.resample(x.numpy(), 16, axis=-2), 16, axis=-1), 32
    )
    with torch.no_grad():
        np.testing.assert_allclose(block(x).numpy(), np.maximum(main + short, 0.0), atol=1e-10)


@pytest.mark.parametrize("arch", ["resnet20_spectralpool", "resnet20_waveletpool"])
def test_pooled_resnets_keep_the_resnet20_state_dict_layout(arch: str) -> None:
    for dataset, (c, _, _) in DATASETS.items():
        pooled, plain = _net(f"{arch}_{dataset}"), CifarResNet(20, in_channels=c)
        assert [(k, v.shape) for k, v in pooled.state_dict().items()] == [
            (k, v.shape) for k, v in plain.state_dict().items()
        ]


def test_default_resnet20_still_strides() -> None:
    block = CifarResNet(20).layer2[0]
    assert block.conv1.stride == (2, 2) and block.pool is None and block.shortcut.pool is None


# -- ResNet-20 with wavelet pooling ----------------------------------------------------------------


def test_waveletpool_shortcut_is_the_mean_preserving_haar_ll_band() -> None:
    net = _net("resnet20_waveletpool_fashion_mnist")
    block = net.layer2[0]
    assert isinstance(block.pool, WaveletPool2d) and isinstance(block.shortcut.pool, WaveletPool2d)
    assert block.pool.wavelet == "haar" and block.pool.mean_preserving and block.conv1.stride == (1, 1)
    x = torch.randn(2, 16, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    ll = pywt.dwt2(x.numpy(), "haar", mode="periodization")[0] / 2.0  # sum(dec_lo)^2 = 2
    out = block.shortcut(x)
    np.testing.assert_allclose(out.numpy(), _numpy_pad_channels(ll, 32), atol=1e-12)
    # the documented identity: mean-preserving Haar LL is 2x2 average pooling
    torch.testing.assert_close(out[:, 8:24], F.avg_pool2d(x, 2))
    seen = _sizes_through(net, {"l2": net.layer2, "l3": net.layer3}, torch.rand(1, 1, 28, 28))
    assert seen["l2"][1] == (14, 14) and seen["l3"][1] == (7, 7)


def test_waveletpool_wavelet_is_a_checked_builder_parameter() -> None:
    cfg = MODELS.get("resnet20_waveletpool_cifar10").cfg
    db2 = resnet20_waveletpool.build(replace(cfg, extra={**cfg.extra, "wavelet": "db2"}))
    assert db2.layer3[0].pool.lowpass.numel() == len(pywt.Wavelet("db2").dec_lo)
    with pytest.raises(ConfigError, match="unknown discrete wavelet 'haarr'"):
        resnet20_waveletpool.build(replace(cfg, extra={**cfg.extra, "wavelet": "haarr"}))
    with pytest.raises(ConfigError, match=r"lacks the builder parameter extra\['mode'\]"):
        resnet20_waveletpool.build(replace(cfg, extra={k: v for k, v in cfg.extra.items() if k != "mode"}))


# -- Rippel et al.'s spectral CNN ------------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_spectral_cnn_widths_sizes_and_dropout_schedule(dataset: str) -> None:
    net = _net(f"spectral_cnn_{dataset}")
    c, h, w = DATASETS[dataset]
    blocks = list(net.features)
    assert len(blocks) == 6
    assert [b.conv.out_channels for b in blocks] == [128, 160, 192, 224, 256, 288]
    assert all(isinstance(b.conv, SpectralConv2d) and b.conv.kernel_size == (3, 3) for b in blocks)
    # c_m = alpha + (m / M)(beta - alpha), m = 1..M, alpha 0.30, beta 0.15
    np.testing.assert_allclose(
        [b.pool.dropout_lower for b in blocks], 0.30 + np.arange(1, 7) / 6 * (0.15 - 0.30)
    )
    sizes, s = [], h
    for _ in range(6):
        s = int(np.floor(0.85 * s))
        sizes.append(s)
    seen = _sizes_through(net, {str(i): b for i, b in enumerate(blocks)}, torch.rand(1, c, h, w))
    assert [seen[str(i)][1] for i in range(6)] == [(s, s) for s in sizes]
    assert sizes[-1] >= 9


def test_spectral_cnn_eval_is_deterministic_and_frequency_dropout_only_in_training() -> None:
    net = _net("spectral_cnn_cifar10")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    no_dropout = copy.deepcopy(net).train()
    for block in no_dropout.features:
        block.pool.dropout_lower = None
    with torch.no_grad():
        net.eval()
        first, second = net(x), net(x)
        assert torch.equal(first, second)
        # no batch norm: eval differs from training only by frequency dropout, so eval == no dropout
        torch.testing.assert_close(first, no_dropout(x), rtol=0, atol=0)
        net.train()
        torch.manual_seed(7)
        a = net(x)
        b = net(x)
        torch.manual_seed(7)
        a_again = net(x)
    assert not torch.allclose(a, b), "frequency dropout must act in training"
    assert torch.equal(a, a_again), "training draws come from torch's global generator"
    assert not torch.allclose(a, first)


def test_spectral_cnn_convs_compute_the_plain_convolution() -> None:
    block = _net("spectral_cnn_fashion_mnist").features[0]
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    block = block.double()
    with torch.no_grad():
        torch.testing.assert_close(block.conv(x), F.conv2d(x, block.conv.weight, block.conv.bias, padding=1))


def test_spectral_cnn_refuses_too_many_blocks() -> None:
    cfg = MODELS.get("spectral_cnn_fashion_mnist").cfg
    with pytest.raises(ConfigError, match="pool a 28-pixel side down to 2 < 3 pixels"):
        spectral_cnn_module.build(replace(cfg, extra={**cfg.extra, "blocks": 11}))


# -- ResNet-20 with the frequency-modulated stem ---------------------------------------------------


@pytest.mark.parametrize("proportion", [0.5, 0.25])
def test_freqmod_stem_band_split(proportion: float) -> None:
    cfg = MODELS.get("resnet20_freqmod_cifar10").cfg
    torch.manual_seed(0)
    net = resnet20_freqmod.build(replace(cfg, extra={**cfg.extra, "proportion": proportion}))
    stem = net.conv1
    assert isinstance(stem, FrequencyModulation) and stem.conv.bias is None
    n_low = math.floor(proportion * 16 + 0.5)
    assert stem.is_low.tolist() == [True] * n_low + [False] * (16 - n_low)
    w = stem.weight.detach().numpy()  # effective filters (16, 3, 3, 3)
    # cutoff 0.75 on a 3x3 grid: low filters keep only DC (constant slices), high ones have zero mean
    np.testing.assert_allclose(
        w[:n_low], np.broadcast_to(w[:n_low].mean(axis=(-2, -1), keepdims=True), w[:n_low].shape), atol=1e-6
    )
    np.testing.assert_allclose(w[n_low:].sum(axis=(-2, -1)), 0.0, atol=1e-6)
    assert float(np.abs(w[n_low:]).max()) > 0 and float(np.abs(w[:n_low]).max()) > 0
    out = net.eval()(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_freqmod_rejects_an_impossible_proportion() -> None:
    cfg = MODELS.get("resnet20_freqmod_fashion_mnist").cfg
    with pytest.raises(ConfigError, match="proportion must be in"):
        resnet20_freqmod.build(replace(cfg, extra={**cfg.extra, "proportion": 1.5}))


# -- seed 000's ResNet-18s -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "stem", "stages"),
    [("cifar10", (32, 32), [32, 16, 8, 4]), ("fashion_mnist", (14, 14), [14, 7, 4, 2])],
)
def test_seed_resnet18_sizes_follow_the_seed_summaries(dataset: str, stem: tuple, stages: list[int]) -> None:
    net = _net(f"resnet18_{dataset}")
    c, h, w = DATASETS[dataset]
    modules = {"conv1": net.conv1, **{f"layer{i}": getattr(net, f"layer{i}") for i in range(1, 5)}}
    seen = _sizes_through(net.eval(), modules, torch.rand(1, c, h, w))
    assert seen["conv1"][1] == stem, "no max pool: the stem's output goes straight into stage 1"
    assert [seen[f"layer{i}"][1] for i in range(1, 5)] == [(s, s) for s in stages]


def test_seed_resnet18_topologies_differ_where_the_seed_does() -> None:
    cifar, fmnist = _net("resnet18_cifar10").state_dict(), _net("resnet18_fashion_mnist").state_dict()
    assert cifar["conv1.weight"].shape == (64, 3, 3, 3) and "conv1.bias" not in cifar
    assert fmnist["conv1.weight"].shape == (64, 1, 7, 7) and "conv1.bias" in fmnist
    assert "layer2.0.shortcut.1.running_mean" in cifar and "layer2.0.shortcut.0.bias" not in cifar
    assert "layer2.0.shortcut.0.bias" in fmnist and not any(
        k.startswith("layer2.0.shortcut.1") for k in fmnist
    )
    assert cifar["linear.weight"].shape == fmnist["linear.weight"].shape == (10, 512)


def test_extra_values_are_type_checked() -> None:
    cfg: ModelConfig = MODELS.get("resnet18_cifar10").cfg
    with pytest.raises(ConfigError, match=r"extra\['conv_bias'\] must be bool, got 0"):
        seed_resnet18.build(replace(cfg, extra={**cfg.extra, "conv_bias": 0}))
    with pytest.raises(ConfigError, match=r"extra\['stem_kernel'\] must be int, got True"):
        seed_resnet18.build(replace(cfg, extra={**cfg.extra, "stem_kernel": True}))
