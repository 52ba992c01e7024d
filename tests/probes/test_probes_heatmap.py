"""fourier_heatmap: bases against an independent numpy construction (the official recipe: a spectrum
with 0.5 +- 0.5j at a position and its mirror, inverse FFT of the un-shifted spectrum, times
sqrt(H W)), the layout, and the map of a model behind a low-pass filter, checked against a plain
per-image loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.data.base import ArrayDataset
from freqbench.ops.random import SampleGenerator, sample_keys
from freqbench.perturbations.frequency import RadialFilter
from freqbench.probes import PROBES, ProbeInputs
from freqbench.probes.fourier_heatmap import (
    HeatmapOptions,
    fourier_basis,
    fourier_heatmap,
    heatmap_grid,
    heatmap_signs,
)
from freqbench.store.aggregate import wilson_interval


def mirror_official(n: int, i: int) -> int:
    """Mirror of index i of an fftshift-ed axis of length n (frequency -f, wrapped)."""
    return (n - i) % n if n % 2 == 0 else n - 1 - i


def official_basis(h: int, w: int, i: int, j: int, *, cosine: bool = False) -> np.ndarray:
    """The basis of official-layout position (i, j), built in the frequency domain."""
    spec = np.zeros((h, w), dtype=complex)
    mi, mj = mirror_official(h, i), mirror_official(w, j)
    first = min((i, j), (mi, mj))
    second = max((i, j), (mi, mj))
    if first == second:
        spec[first] = 1.0
    else:
        spec[first] = 0.5 if cosine else 0.5 + 0.5j
        spec[second] = 0.5 if cosine else 0.5 - 0.5j
    u = np.real(np.fft.ifft2(np.fft.ifftshift(spec)))
    return u / np.linalg.norm(u)


@pytest.mark.parametrize("size", [(8, 8), (7, 7), (6, 5), (32, 32)])
@pytest.mark.parametrize("nyquist", [False, True])
def test_bases_match_the_official_construction(size: tuple[int, int], nyquist: bool) -> None:
    h, w = size
    grid = heatmap_grid(h, w, include_nyquist=nyquist)
    # official layout index of map row a: crop the Nyquist row of even sizes unless it is kept
    off_y = 1 if (h % 2 == 0 and not nyquist) else 0
    off_x = 1 if (w % 2 == 0 and not nyquist) else 0
    for basis in ("pi4", "cosine"):
        got = fourier_basis(grid.frequencies, size, basis=basis, dtype=torch.float64).numpy()
        for p, (a, b) in enumerate(grid.cells):
            want = official_basis(h, w, a + off_y, b + off_x, cosine=basis == "cosine")
            np.testing.assert_allclose(got[p], want, atol=1e-12)
            assert np.linalg.norm(got[p]) == pytest.approx(1.0, abs=1e-12)
            ma, mb = grid.mirrors[p]
            # point symmetry: the mirror position has the very same basis image
            np.testing.assert_allclose(
                official_basis(h, w, ma + off_y, mb + off_x, cosine=basis == "cosine"), got[p], atol=1e-12
            )


def test_phase_pi4_versus_cosine() -> None:
    h = w = 8
    freqs = np.array([[-3, 2], [0, -1], [-4, -4]])
    pi4 = fourier_basis(freqs, (h, w), basis="pi4", dtype=torch.float64).numpy()
    cos = fourier_basis(freqs, (h, w), basis="cosine", dtype=torch.float64).numpy()
    m, n = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for p, (ky, kx) in enumerate(freqs[:2]):
        t = 2 * np.pi * (ky * m / h + kx * n / w)
        np.testing.assert_allclose(pi4[p], np.sqrt(2 / (h * w)) * np.cos(t + np.pi / 4), atol=1e-12)
        np.testing.assert_allclose(cos[p], np.sqrt(2 / (h * w)) * np.cos(t), atol=1e-12)
        assert abs(np.sum(pi4[p] * cos[p])) == pytest.approx(np.cos(np.pi / 4), abs=1e-12)
    # the Nyquist corner (-4, -4) is its own mirror: +-1 / sqrt(HW) in both variants
    np.testing.assert_allclose(pi4[2], cos[2], atol=1e-12)
    np.testing.assert_allclose(np.abs(pi4[2]), 1 / 8, atol=1e-12)


def test_layout_31x31_for_32x32_and_every_cell_covered_once() -> None:
    grid = heatmap_grid(32, 32)
    assert grid.shape == (31, 31) and len(grid.frequencies) == 481
    cover = np.zeros(grid.shape, dtype=int)
    np.add.at(cover, (grid.cells[:, 0], grid.cells[:, 1]), 1)
    off = ~grid.self_conjugate
    np.add.at(cover, (grid.mirrors[off, 0], grid.mirrors[off, 1]), 1)
    assert (cover == 1).all()
    # DC at the centre, frequencies = cell - centre, mirrors = centre-point reflections
    assert grid.self_conjugate.sum() == 1 and tuple(grid.cells[grid.self_conjugate][0]) == (15, 15)
    np.testing.assert_array_equal(grid.frequencies, grid.cells - 15)
    np.testing.assert_array_equal(grid.mirrors, 30 - grid.cells)
    full = heatmap_grid(32, 32, include_nyquist=True)
    assert full.shape == (32, 32) and len(full.frequencies) == 514 and full.self_conjugate.sum() == 4


class LowPassed(nn.Module):
    """A tiny CNN behind an ideal low-pass filter: it cannot see frequencies above the cutoff."""

    def __init__(self, cutoff: float, net: nn.Module) -> None:
        super().__init__()
        self.filter = RadialFilter("low", (cutoff,), profile="ideal")
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.filter(x))


def relabelled(model: nn.Module, data: ArrayDataset) -> ArrayDataset:
    """The images labelled with the model's own clean predictions (clean error 0)."""
    n = len(data)
    x, _ = data.batch(np.arange(n))
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    return ArrayDataset(data.info, data.images, pred, data.indices)


def plain_loop_errors(
    model: nn.Module, data: ArrayDataset, cells: list[tuple[int, int]], *, eps: float, seed: int, clip: bool
) -> list[int]:
    """One image and one cell at a time, basis from the numpy construction, signs from the documented
    stream (sample_keys(seed, 'fourier_heatmap@ky,kx', index), lowest bit of bits24)."""
    h, w = data.images.shape[1:3]
    x_all, y_all = data.batch(np.arange(len(data)))
    out = []
    for a, b in cells:
        i, j = a + (h % 2 == 0), b + (w % 2 == 0)  # official indices (Nyquist cropped)
        mi, mj = mirror_official(h, i), mirror_official(w, j)
        fi, fj = min((i, j), (mi, mj))
        ky, kx = fi - h // 2, fj - w // 2
        u = torch.from_numpy(official_basis(h, w, i, j)).float()
        wrong = 0
        for row in range(len(data)):
            keys = sample_keys(seed, f"fourier_heatmap@{ky},{kx}", [int(data.indices[row])])
            bits = SampleGenerator(keys).bits24(x_all.shape[1])[0]
            sign = (bits % 2) * 2 - 1
            xp = x_all[row] + eps * sign[:, None, None].float() * u
            if clip:
                xp = xp.clamp(0, 1)
            with torch.no_grad():
                wrong += int(model(xp[None]).argmax(1).item() != int(y_all[row]))
        out.append(wrong)
    return out


def test_low_passed_model_ignores_high_frequencies_and_matches_a_plain_loop(make_data, make_net) -> None:
    cutoff = 2.5
    torch.manual_seed(0)
    # a linear classifier: sensitive to every frequency the filter lets through
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 3))
    nn.init.normal_(linear[1].weight)
    model = LowPassed(cutoff, linear).eval()
    data = relabelled(model, make_data(16, (12, 12)))
    opts = HeatmapOptions(eps=6.0, clip=False, batch_size=200)
    result = fourier_heatmap(model, data, opts, seed=3)
    assert result.error.shape == (11, 11) and result.clean_error == 0.0
    fy, fx = np.meshgrid(np.arange(11) - 5, np.arange(11) - 5, indexing="ij")
    outside = np.hypot(fy, fx) > cutoff
    # without clipping the filter removes the perturbation entirely: the model sees the clean image
    assert (result.error[outside] == 0).all()
    assert result.error[~outside].max() > 0.2
    # the map is point-symmetric by construction
    np.testing.assert_array_equal(result.error, result.error[::-1, ::-1])
    cells = [(5, 5), (5, 6), (4, 7), (3, 5), (0, 10)]
    got = [int(result.errors[c]) for c in cells]
    assert got == plain_loop_errors(model, data, cells, eps=6.0, seed=3, clip=False)
    # with the (default) clipping: still a plain-loop match, and high frequencies stay harmless
    clipped = fourier_heatmap(model, data, HeatmapOptions(eps=6.0, batch_size=200), seed=3)
    assert [int(clipped.errors[c]) for c in cells] == plain_loop_errors(
        model, data, cells, eps=6.0, seed=3, clip=True
    )
    assert clipped.error[outside].mean() < 0.5 * clipped.error[~outside].mean()


def test_batch_invariance_intervals_and_mode_restored(make_data, make_net) -> None:
    model = make_net().train()
    data = make_data(9, (6, 6))
    a = fourier_heatmap(model, data, HeatmapOptions(batch_size=7, channels_last=False), seed=1)
    b = fourier_heatmap(model, data, HeatmapOptions(batch_size=1000), seed=1)  # channels_last
    assert model.training  # the probe ran in eval mode and restored the mode, and the layout:
    assert all(p.is_contiguous() for p in model.parameters())
    # ... and left ordinary tensors behind: the model still trains (a mask probe, fine-tuning)
    assert not any(p.is_inference() for p in model.parameters())
    model(torch.rand(2, 3, 6, 6)).sum().backward()
    np.testing.assert_array_equal(a.correct, b.correct)
    np.testing.assert_array_equal(a.errors, b.errors)
    assert a.correct.shape == (9, 13)  # 5x5 map: (25 + 1) / 2 positions
    for cell in [(0, 0), (2, 2), (4, 1)]:
        assert (a.ci_low[cell], a.ci_high[cell]) == wilson_interval(int(a.errors[cell]), 9)
        assert a.ci_low[cell] <= a.error[cell] <= a.ci_high[cell]
    c = fourier_heatmap(model, data, HeatmapOptions(batch_size=7), seed=2)
    assert not np.array_equal(
        heatmap_signs(1, a.grid.frequencies, data.indices, 3),
        heatmap_signs(2, c.grid.frequencies, data.indices, 3),
    )


def test_signs_depend_on_sample_index_not_on_the_batch() -> None:
    freqs = heatmap_grid(6, 6).frequencies
    whole = heatmap_signs(0, freqs, np.arange(10, 20), 3)
    part = heatmap_signs(0, freqs, np.arange(15, 17), 3)
    np.testing.assert_array_equal(whole[5:7], part)
    assert set(torch.unique(whole).tolist()) == {-1.0, 1.0}
    assert abs(whole.mean().item()) < 0.1


def test_registry_entry_and_options(make_data, make_net) -> None:
    probe = PROBES.get("fourier_heatmap")
    opts = probe.configure({"eps": "2.5", "basis": "cosine", "clip": "false"})
    assert (opts.eps, str(opts.basis), opts.clip) == (2.5, "cosine", False)
    from freqbench.errors import ConfigError

    with pytest.raises(ConfigError, match="basis must be one of|expected one of"):
        probe.configure({"basis": "sine"})
    with pytest.raises(ConfigError, match="needs a data"):
        probe(ProbeInputs(model=make_net()))
    result = probe(ProbeInputs(model=make_net(), data=make_data(4, (5, 5)), seed=0), opts)
    assert result.meta()["basis"] == "cosine" and result.arrays()["error"].shape == (5, 5)
