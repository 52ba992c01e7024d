"""Band-constrained PGD: delta confined to its band (checked with numpy's FFT), budget, box, invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from freqbench.attacks import ATTACKS
from freqbench.errors import ConfigError
from freqbench.ops.random import SampleGenerator

EPS = 8 / 255
H = W = 16


def numpy_band(kind: str, r: float | tuple[float, float]) -> np.ndarray:
    """Ideal band on the full (H, W) FFT grid, radius in cycles per image, written from the formula."""
    fy = np.fft.fftfreq(H) * H
    fx = np.fft.fftfreq(W) * W
    rad = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    if kind == "low":
        return rad <= r
    if kind == "high":
        return rad > r
    lo, hi = r  # type: ignore[misc]
    return (rad > lo) & (rad <= hi)


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * H * W, 10)
    ).eval()


@pytest.fixture(scope="module")
def data() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = net()
    gen = torch.Generator().manual_seed(2)
    x = 0.2 + 0.6 * torch.rand(5, 3, H, W, generator=gen)  # >= eps away from 0 and 1: box inactive
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


CASES = [
    ("pgd_linf_band", "low", 4.0),
    ("pgd_linf_band", "high", 6.0),
    ("pgd_linf_band", "band", (3.0, 6.0)),
    ("pgd_l2_band", "low", 3.0),
    ("pgd_l2_band", "band", (2.0, 5.0)),
]


@pytest.mark.parametrize(("name", "band", "r"), CASES)
def test_delta_has_no_energy_outside_band(name: str, band: str, r, data) -> None:  # type: ignore[no-untyped-def]
    model, x, y = data
    eps = EPS if "linf" in name else 0.5
    attack = ATTACKS.get(name)(eps=eps, band=band, r=list(r) if isinstance(r, tuple) else r)
    x_adv = attack(model, x, y, generator=SampleGenerator.from_seed(0, len(x)))
    delta = (x_adv - x).double().numpy()
    spec = np.abs(np.fft.fft2(delta)) ** 2
    outside = spec[..., ~numpy_band(band, r)].sum()
    assert outside <= 1e-10 * spec.sum()
    assert spec.sum() > 0
    flat = torch.from_numpy(delta).flatten(1)
    if "linf" in name:
        assert float(flat.abs().max()) <= eps + 1e-6
    else:
        assert float(flat.norm(dim=1).max()) <= eps * (1 + 1e-5)
    with torch.no_grad():
        loss_adv = F.cross_entropy(model(x_adv), y)
        loss = F.cross_entropy(model(x), y)
    assert float(loss_adv) > float(loss)


def test_box_kept_and_batch_size_invariant(data) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = data
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(6, 3, H, W, generator=gen).round()  # saturated pixels: the box is active everywhere
    x[:, :, :4] = torch.rand(6, 3, 4, W, generator=gen)
    y = torch.arange(6) % 10
    attack = ATTACKS.get("pgd_linf_band")(eps=EPS, band="low", r=4)
    g = SampleGenerator.from_seed(7, torch.arange(10, 16), stream="k")
    whole = attack(model, x, y, generator=g)
    assert float(whole.min()) >= 0.0 and float(whole.max()) <= 1.0
    assert float((whole - x).abs().max()) <= EPS + 1e-6
    parts = [
        attack(
            model,
            x[i : i + 2],
            y[i : i + 2],
            generator=SampleGenerator.from_seed(7, torch.arange(10 + i, 12 + i), stream="k"),
        )
        for i in range(0, 6, 2)
    ]
    torch.testing.assert_close(torch.cat(parts), whole, atol=1e-5, rtol=0)


def test_determinism_and_errors(data) -> None:  # type: ignore[no-untyped-def]
    model, x, y = data
    a = ATTACKS.get("pgd_linf_band")(eps="8/255", band="high", r=4)
    one = a(model, x, y, generator=SampleGenerator.from_seed(1, len(x)))
    two = a(model, x, y, generator=SampleGenerator.from_seed(1, len(x)))
    other = a(model, x, y, generator=SampleGenerator.from_seed(2, len(x)))
    assert torch.equal(one, two) and not torch.equal(one, other)
    with pytest.raises(ConfigError, match="cutoff"):
        ATTACKS.get("pgd_linf_band")(eps=EPS, band="band", r=4)
    with pytest.raises(ConfigError, match="generator"):
        a(model, x, y)
    assert a.spec()["band"] == "high" and a.norm == "Linf"
