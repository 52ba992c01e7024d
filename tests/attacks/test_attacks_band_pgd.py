"""Band-constrained PGD against independent computations.

- the band projector against a projector matrix built with numpy's FFT from the formula;
- Dykstra's projection onto band ∩ ball ∩ box against scipy's SLSQP on a tiny problem;
- the exact L2-ball ∩ box projection against SLSQP;
- the all-pass band against torchattacks 3.5.1 PGD from the same start: identical tensors;
- on every band: the eps budget and the box exactly, out-of-band energy <= 1e-4 (numpy's FFT),
  the ``out_of_band_energy`` diagnostic equal to numpy's value; batch-size invariance.

The same checks on the akamaster ResNet-20 and real CIFAR-10 images are marked ``real``.
"""

from __future__ import annotations

import io
import tarfile
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchattacks
from PIL import Image
from scipy.optimize import minimize
from torch import nn

from freqbench.attacks import ATTACKS
from freqbench.attacks.band_pgd import BallBox, BandPGD, dykstra, pgd_l2_band, pgd_linf_band
from freqbench.attacks.base import Norm
from freqbench.errors import ConfigError
from freqbench.ops.random import SampleGenerator

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

EPS = 8 / 255
H = W = 16
ULP = 2.0**-24  # float32 rounding of x + delta near 1: |x_adv - x| may exceed eps by at most this


def numpy_band(kind: str, r: float | tuple[float, float], h: int = H, w: int = W) -> np.ndarray:
    """Ideal band on the full (h, w) FFT grid, radius in cycles per image, written from the formula."""
    s = min(h, w)
    fy = np.fft.fftfreq(h) * s
    fx = np.fft.fftfreq(w) * s
    rad = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    if kind == "low":
        return rad <= r
    if kind == "high":
        return rad > r
    lo, hi = r  # type: ignore[misc]
    return (rad > lo) & (rad <= hi)


def numpy_projector(kind: str, r: float | tuple[float, float], h: int, w: int) -> np.ndarray:
    """The (h*w, h*w) matrix of ``ifft2(fft2(.) * band)`` on real images, column by column."""
    band = numpy_band(kind, r, h, w)
    cols = []
    for i in range(h * w):
        e = np.zeros(h * w)
        e[i] = 1.0
        out = np.fft.ifft2(np.fft.fft2(e.reshape(h, w)) * band)
        assert np.abs(out.imag).max() < 1e-12  # the band is Hermitian-symmetric: real in, real out
        cols.append(out.real.ravel())
    return np.stack(cols, axis=1)


def out_of_band(delta: np.ndarray, kind: str, r: float | tuple[float, float]) -> np.ndarray:
    """Per-sample fraction of delta's energy outside the band, from numpy's FFT."""
    spec = np.abs(np.fft.fft2(delta)) ** 2
    inside = numpy_band(kind, r, delta.shape[-2], delta.shape[-1])
    total = spec.reshape(len(delta), -1).sum(1)
    outside = spec[..., ~inside].reshape(len(delta), -1).sum(1)
    return np.where(total > 0, outside / np.where(total > 0, total, 1.0), 0.0)


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


def saturated_images(n: int, seed: int) -> torch.Tensor:
    """Images with saturated regions, as in real photographs (sky, highlights): the box is active."""
    gen = torch.Generator().manual_seed(seed)
    field = F.interpolate(torch.randn(n, 3, 4, 4, generator=gen), size=(H, W), mode="bilinear")
    x = (0.5 + 0.6 * field + 0.05 * torch.randn(n, 3, H, W, generator=gen)).clamp(0.0, 1.0)
    assert float(((x == 0) | (x == 1)).float().mean()) > 0.2
    return x


def pixel_noise_saturation(n: int, seed: int) -> torch.Tensor:
    """Saturation in a random pixel pattern: band ∩ box is nearly {0}, Dykstra converges very slowly."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, H, W, generator=gen).round()
    x[:, :, :4] = torch.rand(n, 3, 4, W, generator=gen)
    return x


# the band projector -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(8, 8), (7, 9), (6, 10)])
@pytest.mark.parametrize(("kind", "r"), [("low", 2.5), ("high", 3.0), ("band", (1.5, 3.0))])
def test_band_projector_is_the_orthogonal_projector(size, kind, r) -> None:  # type: ignore[no-untyped-def]
    h, w = size
    attack = BandPGD("Linf", eps=EPS, band=kind, r=list(r) if isinstance(r, tuple) else r)
    x = torch.rand(4, 1, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p = attack.projector(x)
    assert p is not None
    expected = numpy_projector(kind, r, h, w)
    np.testing.assert_allclose(expected, expected.T, atol=1e-12)  # symmetric ...
    np.testing.assert_allclose(expected @ expected, expected, atol=1e-12)  # ... and idempotent
    got = p(x).numpy().reshape(4, -1)
    np.testing.assert_allclose(got, x.numpy().reshape(4, -1) @ expected.T, atol=1e-12)
    np.testing.assert_allclose(p(p(x)).numpy(), p(x).numpy(), atol=1e-12)


def test_all_pass_band_is_skipped() -> None:
    x = torch.zeros(1, 3, 32, 32)
    # the corner of a 32x32 spectrum lies at radius 16 * sqrt(2) = 22.6, so r = 16 is not all-pass
    assert BandPGD("Linf", eps=EPS, band="low", r=16).projector(x) is not None
    assert BandPGD("Linf", eps=EPS, band="low", r=23).projector(x) is None


# Dykstra against a generic QP ----------------------------------------------------------------------
def slsqp_projection(
    u: np.ndarray, lo: np.ndarray, hi: np.ndarray, basis: np.ndarray, l2: float | None
) -> np.ndarray:
    """argmin ||d - u||^2 over d = basis @ z (the band), lo <= d <= hi and optionally ||d||_2 <= l2."""
    target = basis.T @ u
    whole = basis.shape[0] == basis.shape[1]  # no band: the box is plain bounds on z = d
    cons = [
        {"type": "ineq", "fun": lambda z: basis @ z - lo, "jac": lambda z: basis},
        {"type": "ineq", "fun": lambda z: hi - basis @ z, "jac": lambda z: -basis},
    ]
    cons = [] if whole else cons
    if l2 is not None:  # the basis is orthonormal: ||basis @ z|| = ||z||
        cons.append({"type": "ineq", "fun": lambda z: l2**2 - z @ z, "jac": lambda z: -2 * z})
    res = minimize(
        lambda z: float((z - target) @ (z - target)),
        np.zeros_like(target),
        jac=lambda z: 2 * (z - target),
        constraints=cons,
        bounds=list(zip(lo, hi)) if whole else None,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 2000},
    )
    assert res.success, res.message
    return basis @ res.x


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_dykstra_matches_a_generic_qp(norm: str) -> None:
    h, w, kind, r = 6, 6, "low", 2.0
    rng = np.random.default_rng(1)
    x = rng.random((h, w))
    x[0, :3], x[1, :2] = 0.0, 1.0  # active box faces
    eps = 0.05 if norm == "Linf" else 0.3
    u = rng.normal(0.0, 3 * eps if norm == "Linf" else 0.2, (h, w))
    proj = numpy_projector(kind, r, h, w)
    vals, vecs = np.linalg.eigh(proj)
    basis = vecs[:, vals > 0.5]  # orthonormal basis of the band
    lo, hi = -x.ravel(), 1 - x.ravel()
    if norm == "Linf":
        lo, hi = np.maximum(lo, -eps), np.minimum(hi, eps)
    expected = slsqp_projection(u.ravel(), lo, hi, basis, None if norm == "Linf" else eps)

    attack = BandPGD(norm, eps=eps, band=kind, r=r)
    xt, ut = torch.from_numpy(x)[None, None], torch.from_numpy(u)[None, None]
    x_adv, delta = dykstra(
        ut, xt, band=attack.projector(xt), ball_box=BallBox(Norm(norm), eps), iters=200_000, tol=1e-24
    )
    got = delta.numpy().ravel()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert np.all(got >= lo - 1e-15) and np.all(got <= hi + 1e-15)  # box (and Linf ball) exactly
    if norm == "L2":
        assert np.linalg.norm(got) <= eps * (1 + 1e-12)
    torch.testing.assert_close(x_adv, xt + delta, atol=1e-15, rtol=0)


@pytest.mark.parametrize("scale", [0.01, 0.2, 2.0])
def test_l2_ball_box_projection_matches_slsqp(scale: float) -> None:
    rng = np.random.default_rng(int(scale * 100))
    x = rng.random((3, 4, 4))
    x[0] = np.round(x[0])
    eps = 0.5
    u = rng.normal(0.0, scale, (3, 4, 4))
    _, delta = BallBox(Norm.L2, eps).project(torch.from_numpy(u)[None], torch.from_numpy(x)[None])
    expected = slsqp_projection(u.ravel(), -x.ravel(), 1 - x.ravel(), np.eye(u.size), eps)
    np.testing.assert_allclose(delta.numpy().ravel(), expected, atol=1e-7)


# the attack ---------------------------------------------------------------------------------------
CASES = [
    ("pgd_linf_band", "low", 4.0),
    ("pgd_linf_band", "high", 6.0),
    ("pgd_linf_band", "band", (3.0, 6.0)),
    ("pgd_l2_band", "low", 3.0),
    ("pgd_l2_band", "band", (2.0, 5.0)),
]


def check_constraints(x: torch.Tensor, x_adv: torch.Tensor, name: str, eps: float, band: str, r) -> None:  # type: ignore[no-untyped-def]
    """Box exactly, budget exactly (up to float32 rounding of x + delta), out-of-band <= 1e-4."""
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    delta = (x_adv - x).double()
    flat = delta.flatten(1)
    if "linf" in name:
        assert float(flat.abs().max()) <= eps + ULP
    else:
        assert float(flat.norm(dim=1).max()) <= eps * (1 + 1e-6)
    oob = out_of_band(delta.numpy(), band, r)
    assert np.all(oob <= 1e-4)


@pytest.mark.parametrize(("name", "band", "r"), CASES)
def test_delta_stays_in_band_budget_and_box(name: str, band: str, r, data) -> None:  # type: ignore[no-untyped-def]
    model, x_mid, y = data
    eps = EPS if "linf" in name else 0.5
    make = pgd_linf_band if "linf" in name else pgd_l2_band
    assert ATTACKS.get(name) is make
    attack = make(eps=eps, band=band, r=list(r) if isinstance(r, tuple) else r, steps=5)
    for x in (x_mid, saturated_images(len(x_mid), 4)):  # box inactive, then active
        x_adv = attack(model, x, y, generator=SampleGenerator.from_seed(0, len(x)))
        check_constraints(x, x_adv, name, eps, band, r)
        delta = (x_adv - x).double().numpy()
        oob = attack.diagnostics(x, x_adv)["out_of_band_energy"]
        np.testing.assert_allclose(oob.numpy(), out_of_band(delta, band, r), rtol=1e-6, atol=1e-15)
        assert float(oob.max()) <= attack.proj_tol * (1 + 1e-3)  # Dykstra stopped at its residual
    with torch.no_grad():
        x_adv = attack(model, x_mid, y, generator=SampleGenerator.from_seed(0, len(x_mid)))
        loss_adv = F.cross_entropy(model(x_adv), y)
        loss = F.cross_entropy(model(x_mid), y)
    assert float(loss_adv) > float(loss)


def test_linf_uses_the_budget(data) -> None:  # type: ignore[no-untyped-def]
    """The old step and rescaling used about an eighth of the budget; the projection reaches eps."""
    model, x, y = data
    attack = ATTACKS.get("pgd_linf_band")(eps=EPS, band="low", r=4)
    x_adv = attack(model, x, y, generator=SampleGenerator.from_seed(0, len(x)))
    assert float((x_adv - x).flatten(1).abs().amax(1).min()) >= EPS * (1 - 1e-6)


@pytest.mark.parametrize("random_start", [False, True])
def test_all_pass_band_is_torchattacks_pgd(random_start: bool, data) -> None:  # type: ignore[no-untyped-def]
    model, _, y = data
    x = saturated_images(len(y), 5)
    attack = pgd_linf_band(eps=EPS, band="low", r=100, steps=7, random_start=random_start)
    ta = torchattacks.PGD(model, eps=EPS, alpha=EPS / 4, steps=7, random_start=random_start)
    torch.manual_seed(11)
    start = torch.empty_like(x).uniform_(-EPS, EPS) if random_start else None  # torchattacks' first draw
    torch.manual_seed(11)
    expected = ta(x, y)
    got = attack.attack_from(model, x, y, start)
    assert torch.equal(got, expected)
    assert float(attack.diagnostics(x, got)["out_of_band_energy"].max()) == 0.0


def test_box_kept_and_batch_size_invariant(data) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = data
    x = saturated_images(6, 3)
    y = torch.arange(6) % 10
    attack = ATTACKS.get("pgd_linf_band")(eps=EPS, band="low", r=4)
    g = SampleGenerator.from_seed(7, torch.arange(10, 16), stream="k")
    whole = attack(model, x, y, generator=g)
    check_constraints(x, whole, "pgd_linf_band", EPS, "low", 4.0)
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
    with pytest.raises(ConfigError, match="ideal"):
        ATTACKS.get("pgd_linf_band")(eps=EPS, band="low", r=4, profile="gaussian")
    with pytest.raises(ConfigError, match="proj_tol"):
        ATTACKS.get("pgd_linf_band")(eps=EPS, band="low", r=4, proj_tol=0)
    with pytest.raises(ConfigError, match="generator"):
        a(model, x, y)
    assert a.spec()["band"] == "high" and a.norm == "Linf" and a.spec()["proj_tol"] == 1e-5


def test_unconverged_samples_are_made_feasible(data) -> None:  # type: ignore[no-untyped-def]
    """With one Dykstra iteration the band is not reached: the fallback point is still feasible."""
    model, _, y = data
    x = pixel_noise_saturation(len(y), 6)
    attack = ATTACKS.get("pgd_linf_band")(eps=EPS, band="low", r=3, steps=2, proj_iters=1)
    x_adv = attack(model, x, y, generator=SampleGenerator.from_seed(0, len(x)))
    check_constraints(x, x_adv, "pgd_linf_band", EPS, "low", 3.0)
    assert float(attack.diagnostics(x, x_adv)["out_of_band_energy"].max()) <= 1e-10


# real model, real images ----------------------------------------------------------------------------
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(scope="module")
def cifar(real_data: RealData) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """ResNet-20 (akamaster weights) and the first 2 test JPEGs of each class, decoded with PIL."""
    from freqbench.models import load_model

    per_class = 2
    images: dict[int, list[np.ndarray]] = {c: [] for c in range(10)}
    with tarfile.open(real_data.shared("cifar10-jpeg/test.tar.gz")) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[1] not in CLASSES:
                continue
            label = CLASSES.index(parts[1])
            if len(images[label]) < per_class:
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                images[label].append(np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")))
            if all(len(v) == per_class for v in images.values()):
                break
    x = torch.from_numpy(np.stack([im for c in range(10) for im in images[c]])).permute(0, 3, 1, 2)
    weights = real_data.shared("weights/akamaster/resnet20-12fca82f.th")
    model, _ = load_model("resnet20_cifar10.akamaster", weights_root=weights, download=False)
    return model.eval(), x.float() / 255, torch.arange(10).repeat_interleave(per_class)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.real
def test_real_all_pass_band_equals_torchattacks_pgd(cifar) -> None:  # type: ignore[no-untyped-def]
    model, x, y = cifar
    attack = pgd_linf_band(eps="8/255", band="low", r=100, steps=10)
    torch.manual_seed(3)
    start = torch.empty_like(x).uniform_(-EPS, EPS)
    torch.manual_seed(3)
    expected = torchattacks.PGD(model, eps=EPS, alpha=2 / 255, steps=10, random_start=True)(x, y)
    got = attack.attack_from(model, x, y, start)
    assert torch.equal(got, expected)
    assert accuracy(model, x, y) >= 0.7 and accuracy(model, got, y) == 0.0
    # and through the public call, with freqbench's own start: the same strength
    own = attack(model, x, y, generator=SampleGenerator.from_seed(0, len(x)))
    assert accuracy(model, own, y) == 0.0


@pytest.mark.real
@pytest.mark.parametrize(("band", "r"), [("low", 4.0), ("high", 8.0), ("band", (4.0, 8.0))])
def test_real_bands_meet_budget_box_and_band(band: str, r, cifar) -> None:  # type: ignore[no-untyped-def]
    model, x, y = cifar
    attack = ATTACKS.get("pgd_linf_band")(
        eps="8/255", band=band, r=list(r) if isinstance(r, tuple) else r, steps=5
    )
    x_adv = attack(model, x, y, generator=SampleGenerator.from_seed(0, len(x)))
    check_constraints(x, x_adv, "pgd_linf_band", EPS, band, r)
    assert accuracy(model, x_adv, y) < accuracy(model, x, y)
