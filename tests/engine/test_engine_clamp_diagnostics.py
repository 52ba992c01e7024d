"""Low-pass and phase scrambling store their clamp diagnostics per sample and as records, through
the engine's diagnostics hook; checked against numpy on the same images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.config import RunConfig
from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.engine.loop import run_model
from freqbench.engine.progress import QuietProgress
from freqbench.ops.random import SampleGenerator, sample_keys
from freqbench.perturbations.frequency import phase_scramble
from freqbench.store.run import RunStore
from freqbench.suites.base import CLEAN, Suite, condition

LOW = condition("low_pass_ideal", r=2)
PHASE = condition("phase_scramble", width=180)


def _shapes_on_black(n: int = 30) -> ArrayDataset:
    """Fashion-MNIST-like: a bright box on an exactly-zero background (the filters ring past [0, 1])."""
    rng = np.random.default_rng(1)
    images = np.zeros((n, 16, 16, 3), np.uint8)
    for i in range(n):
        top, left = rng.integers(1, 7, 2)
        images[i, top : top + 8, left : left + 8] = rng.integers(160, 256, (8, 8, 3))
    info = DatasetInfo("shapes", "test", 4, ("0", "1", "2", "3"), "memory")
    return ArrayDataset(info, images, rng.integers(0, 4, n))


def test_clamp_diagnostics_reach_arrays_and_records(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = _shapes_on_black()
    store = RunStore(tmp_path / "run")
    cfg = RunConfig(suite="t", out=tmp_path / "run", batch_size=7, seed=3)
    suite = Suite("t", 1, (CLEAN, LOW, PHASE))
    run_model(
        model, data, suite, config=cfg, store=store, device=torch.device("cpu"), progress=QuietProgress()
    )
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).double() / 255
    n = len(x)
    recs = {(r.condition, r.metric): r for r in store.records()}
    arrays = {c.key: store.arrays(recs[(c.key, "accuracy")].key) for c in (LOW, PHASE)}

    # low-pass: the unclamped filter from numpy's FFT
    k = np.fft.fftfreq(16) * 16
    keep = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2) <= 2
    pre = np.fft.ifft2(np.fft.fft2(x.numpy()) * keep).real.reshape(n, -1)
    assert np.minimum(np.abs(pre), np.abs(pre - 1)).min() > 1e-6  # float32 rounding flips no count
    frac = ((pre < 0) | (pre > 1)).mean(1)
    assert frac.min() > 0.05
    np.testing.assert_allclose(arrays[LOW.key]["diag_clamped_fraction"], frac, atol=1e-12)
    change = np.linalg.norm(np.clip(pre, 0, 1) - pre, axis=1) / np.linalg.norm(pre, axis=1)
    np.testing.assert_allclose(arrays[LOW.key]["diag_clamp_error"], change, rtol=1e-3, atol=1e-6)
    assert recs[(LOW.key, "clamped_fraction")].value == pytest.approx(frac.mean(), rel=1e-9)
    assert (LOW.key, "amplitude_error") not in recs

    # phase scrambling: the same per-sample streams as the engine's, the amplitude from numpy
    g = SampleGenerator(sample_keys(3, PHASE.key, torch.from_numpy(data.indices)))
    pre = phase_scramble(x.float(), 180, generator=g, clamp=False).double().numpy()
    out = np.clip(pre, 0, 1)
    a_pre = np.abs(np.fft.fft2(pre)).reshape(n, -1)
    a_out = np.abs(np.fft.fft2(out)).reshape(n, -1)
    amp = np.linalg.norm(a_out - a_pre, axis=1) / np.linalg.norm(a_pre, axis=1)
    np.testing.assert_allclose(arrays[PHASE.key]["diag_amplitude_error"], amp, rtol=1e-4)
    frac = ((pre < 0) | (pre > 1)).reshape(n, -1).mean(1)
    np.testing.assert_allclose(arrays[PHASE.key]["diag_clamped_fraction"], frac, atol=1e-12)
    rec = recs[(PHASE.key, "amplitude_error")]
    assert rec.value == pytest.approx(amp.mean(), rel=1e-4) and rec.n == n and rec.ci_low >= 0
    assert 0 < recs[(PHASE.key, "clamped_fraction")].value < 1
    assert not any(k.startswith("diag_") for k in store.arrays(recs[("clean", "accuracy")].key))
