"""fourier_mask: the half-plane mask against the paper's full-plane formulation (an independent torch
implementation of REFERENCE.md section 6 with a full fft2 mask), the loss decreasing, [0, 1], the L1
term and the full-plane mask against numpy, and single-image masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from freqbench.errors import ConfigError
from freqbench.ops.random import sample_keys
from freqbench.ops.spectral_mask import apply_spectral_mask
from freqbench.probes import PROBES, ProbeInputs
from freqbench.probes.fourier_mask import (
    FourierMaskOptions,
    centred,
    fourier_mask,
    full_plane,
    l1_mean,
)


def numpy_full(half: np.ndarray, w: int) -> np.ndarray:
    """The full-plane mask whose Hermitian part acts like the half-plane one: bins with kx <= W/2 from
    the half plane, M(-k) = M(k) for the rest, self-conjugate columns symmetrised."""
    h = half.shape[0]
    full = np.zeros((h, w))
    for ky in range(h):
        for kx in range(w):
            if 0 < kx < (w + 1) // 2 or (w % 2 == 0 and 0 < kx < w // 2):
                full[ky, kx] = half[ky, kx]
            elif kx == 0 or (w % 2 == 0 and kx == w // 2):
                full[ky, kx] = 0.5 * (half[ky, kx] + half[(-ky) % h, kx])
            else:
                full[ky, kx] = half[(-ky) % h, w - kx]
    return full


@pytest.mark.parametrize("size", [(8, 8), (6, 7), (5, 6)])
def test_full_plane_and_l1_against_numpy(size: tuple[int, int]) -> None:
    h, w = size
    half = np.random.default_rng(h * w).uniform(size=(h, w // 2 + 1))
    want = numpy_full(half, w)
    got = full_plane(torch.from_numpy(half), w).numpy()
    np.testing.assert_allclose(got, want, atol=1e-15)
    np.testing.assert_allclose(centred(torch.from_numpy(half), w).numpy(), np.fft.fftshift(want))
    assert l1_mean(torch.from_numpy(half), w).item() == pytest.approx(np.abs(want).mean(), rel=1e-12)
    # the half-plane operator is the paper's Re(ifft2(fft2(x) * M)) with the full mask
    x = np.random.default_rng(1).uniform(size=(2, 3, h, w))
    ref = np.real(np.fft.ifft2(np.fft.fft2(x) * want))
    out = apply_spectral_mask(torch.from_numpy(x), torch.from_numpy(half), backend="torch").numpy()
    np.testing.assert_allclose(out, ref, atol=1e-12)


def paper_dataset_mask(model, x, y, *, epochs: int, lam: float, lr: float, seed: int, index) -> torch.Tensor:
    """REFERENCE.md section 6 written out with a full-plane (1, 1, H, W) mask, batch size 1."""
    h, w = x.shape[-2:]
    mask = torch.ones(1, 1, h, w, requires_grad=True)
    opt = torch.optim.Adam([mask], lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(x), pct_start=0.1)
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y, reduction="none")
    for epoch in range(epochs):
        order = torch.argsort(sample_keys(seed, f"fourier_mask@epoch={epoch}", index))
        for i in order.tolist():
            masked = torch.fft.ifft2(torch.fft.fft2(x[i : i + 1]) * mask).real
            ce = F.cross_entropy(model(masked), y[i : i + 1])
            loss = torch.exp((ce - clean[i]) ** 2) + lam / mask.numel() * mask.abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                mask.clamp_(0.0, 1.0)
    return mask.detach()[0, 0]


def test_dataset_mask_matches_the_full_plane_formulation(make_data, make_net) -> None:
    model, data = make_net(), make_data(5, (8, 8))
    for p in model.parameters():
        p.requires_grad_(False)
    opts = FourierMaskOptions(kind="dataset", dataset_epochs=3, dataset_lr=0.05)
    result = fourier_mask(model, data, opts, seed=4)
    x, y = data.batch(np.arange(5))
    want = paper_dataset_mask(
        model, x, y, epochs=3, lam=0.2, lr=0.05, seed=4, index=torch.from_numpy(data.indices)
    )
    mask = result.dataset.mask
    np.testing.assert_allclose(full_plane(torch.from_numpy(mask), 8).numpy(), want.numpy(), atol=2e-5)
    assert (mask < 1).any()  # it did move


def test_dataset_mask_loss_decreases_and_stays_in_unit_interval(make_data, make_net) -> None:
    model, data = make_net(), make_data(6, (8, 8))
    calls: list[tuple[int, int]] = []
    opts = FourierMaskOptions(kind="dataset", dataset_epochs=4, dataset_lr=0.05, dataset_batch_size=2)
    result = fourier_mask(model, data, opts, progress=lambda d, t: calls.append((d, t)))
    d = result.dataset
    assert result.single is None and calls[-1] == (12, 12)
    assert d.loss[-1] < d.loss_start and d.loss[-1] < d.loss[0]
    assert d.mask.shape == (8, 5) and d.mask.min() >= 0.0 and d.mask.max() <= 1.0 and d.mask.min() < 0.9
    assert d.full.shape == (8, 8) and d.radial.shape == (7,)  # round(sqrt(32)) = 6
    x, y = data.batch(np.arange(6))
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).numpy()
        masked = (model(apply_spectral_mask(x, torch.from_numpy(d.mask))).argmax(1) == y).numpy()
    np.testing.assert_array_equal(d.accuracy.clean_correct, clean)
    np.testing.assert_array_equal(d.accuracy.masked_correct, masked)
    meta = result.meta()["dataset"]
    assert meta["clean_accuracy"] == clean.mean() and meta["masked_accuracy"] == masked.mean()


def test_single_image_masks(make_data, make_net) -> None:
    model, data = make_net(), make_data(5, (8, 8))
    opts = FourierMaskOptions(kind="single", single_steps=40, single_lr=0.05, single_batch_size=2)
    s = fourier_mask(model, data, opts).single
    assert s.masks.shape == (5, 8, 5) and s.masks.min() >= 0.0 and s.masks.max() <= 1.0
    assert (s.loss_final < s.loss_start).all() and s.loss[-1] < s.loss[0]
    x, _ = data.batch(np.arange(5))
    with torch.no_grad():
        np.testing.assert_array_equal(s.clean_prediction, model(x).argmax(1).numpy())
    # masks are trained independently: grouping the images differently changes nothing
    other = fourier_mask(
        model, data, FourierMaskOptions(kind="single", single_steps=40, single_lr=0.05)
    ).single
    np.testing.assert_allclose(other.masks, s.masks, atol=1e-5)
    assert s.radial.shape == (5, 7)


def test_options_and_registry(make_data, make_net) -> None:
    probe = PROBES.get("fourier_mask")
    opts = probe.configure({"kind": "single", "single_steps": "3"})
    assert str(opts.kind) == "single" and opts.single_steps == 3
    with pytest.raises(ConfigError, match="kind"):
        FourierMaskOptions(kind="all")
    with pytest.raises(ConfigError, match="no option"):
        probe.configure({"lambda": 0.1})
    model = make_net().train()
    result = probe(ProbeInputs(model=model, data=make_data(3, (6, 6))), opts)
    assert model.training and result.dataset is None
    assert set(result.arrays()) >= {"single_masks", "single_radial", "single_masked_prediction"}
