"""``MODEL+FILTER``: a model behind a frequency-suite filter is attacked *through* the filter.

The filter is differentiable, so the input gradient of the wrapped model is the filter applied to the
upstream gradient: for an ideal low-pass it has no energy above the cutoff (checked with numpy's FFT).
An attack that used the bare model's gradient would not have that property.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from freqbench.api import build_model
from freqbench.attacks import ATTACKS
from freqbench.errors import ConfigError
from freqbench.ops.random import SampleGenerator


def _radius(n: int) -> np.ndarray:
    k = np.fft.fftfreq(n) * n
    return np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)


def test_gradient_flows_through_the_filter() -> None:
    wrapped = build_model("resnet20_cifar10+low_pass_ideal@r=4", seed=0)
    assert wrapped.weights_sha256.endswith("+low_pass_ideal@r=4")
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3])
    F.cross_entropy(wrapped.module(x), y).backward()
    spec = np.abs(np.fft.fft2(x.grad.double().numpy())) ** 2
    outside = spec[..., _radius(32) > 4].sum() / spec.sum()
    assert spec.sum() > 0 and outside < 1e-12


def test_attack_through_the_filter_flips_predictions() -> None:
    wrapped = build_model("resnet20_cifar10+low_pass_ideal@r=4", seed=0).module
    x = torch.rand(8, 3, 32, 32)
    with torch.no_grad():
        y = wrapped(x).argmax(1)  # the model's own predictions: clean accuracy 100%
    attack = ATTACKS.get("pgd_linf")(eps=8 / 255)
    x_adv = attack(wrapped, x, y, generator=SampleGenerator.from_seed(0, 8))
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6
    with torch.no_grad():
        assert (wrapped(x_adv).argmax(1) == y).float().mean() < 1.0


def test_random_filters_cannot_wrap_a_model() -> None:
    with pytest.raises(ConfigError, match="only deterministic filters"):
        build_model("resnet20_cifar10+phase_scramble@width=30")
