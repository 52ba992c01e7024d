"""Per-sample diagnostics and band fractions in the engine: hook -> ``diag_<name>`` array -> record.

Numbers are checked against numpy computed here from the same images, never against earlier output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.config import RunConfig
from freqbench.engine.loop import evaluate_condition, make_records, run_model
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import Step, StepContext, build_step
from freqbench.errors import ConfigError
from freqbench.perturbations.frequency import RadialFilter, low_pass
from freqbench.store.aggregate import summarize
from freqbench.store.run import RunStore
from freqbench.suites.base import CLEAN, Kind, Suite, condition

CPU = torch.device("cpu")
LOW = condition("low_pass_ideal", r=4)


def _ctx(tmp_path) -> StepContext:  # type: ignore[no-untyped-def]
    return StepContext(CPU, None, tmp_path / "state")  # type: ignore[arg-type]


def _images(data) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255


def _bright(x: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
    """A toy diagnostic: mean output brightness per sample, plus the share of pixels on the bounds."""
    return {
        "out_mean": out.flatten(1).mean(1),
        "on_bounds": ((out == 0) | (out == 1)).float().flatten(1).mean(1),
    }


def test_perturbation_hook_becomes_array_and_record(model, data, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(RadialFilter, "diagnostics", lambda self, x, out: _bright(x, out))
    store = RunStore(tmp_path / "run")
    cfg = RunConfig(suite="t", out=tmp_path / "run", batch_size=7)  # batches of 7: 40 = 5*7 + 5
    run_model(
        model,
        data,
        Suite("t", 1, (CLEAN, LOW)),
        config=cfg,
        store=store,
        device=CPU,
        progress=QuietProgress(),
    )
    key = next(r.key for r in store.records() if r.condition == LOW.key)
    arrays = store.arrays(key)
    out = low_pass(_images(data), 4).numpy()
    expected = out.reshape(len(out), -1).mean(1)
    np.testing.assert_allclose(arrays["diag_out_mean"], expected, rtol=1e-6)
    recs = {r.metric: r for r in store.records() if r.condition == LOW.key}
    rec = recs["out_mean"]
    half = 1.959963984540054 * expected.std(ddof=1) / np.sqrt(expected.size)
    assert rec.value == pytest.approx(expected.mean(), rel=1e-6) and rec.n == len(expected)
    assert rec.ci_high - rec.value == pytest.approx(half, rel=1e-5)
    assert recs["on_bounds"].value == pytest.approx(((out == 0) | (out == 1)).mean(), rel=1e-6)
    clean_key = next(r.key for r in store.records() if r.condition == "clean")
    assert not any(k.startswith("diag_") for k in store.arrays(clean_key))  # the identity has none


def test_band_attack_reports_out_of_band_energy(model, data, tmp_path) -> None:
    cond = condition("pgd_linf_band", kind=Kind.ATTACK, eps="8/255", band="low", r=4, steps=2)
    step = build_step(cond, _ctx(tmp_path))
    cfg = RunConfig(suite="t", batch_size=16)
    arrays = evaluate_condition(model, data, step, cond, config=cfg, device=CPU, progress=QuietProgress())
    oob = arrays["diag_out_of_band_energy"]
    assert oob.shape == (len(data),) and np.all(oob <= 1e-4) and np.all(oob >= 0)
    recs = {
        r.metric: r for r in make_records("m", data, Suite("t", 1, (CLEAN, cond)), cond, step, "k", arrays)
    }
    assert (
        recs["out_of_band_energy"].value == pytest.approx(oob.mean()) and recs["out_of_band_energy"].n == 40
    )


def test_bad_diagnostics_are_refused(model, data, tmp_path) -> None:
    real = build_step(LOW, _ctx(tmp_path))
    cfg = RunConfig(suite="t", batch_size=16)
    bad = {
        "shape": (lambda x, out: {"v": out.flatten(1)}, "one float per sample"),
        "name": (lambda x, out: {"Bad-Name": out.flatten(1).mean(1)}, "lowercase identifier"),
        "dtype": (lambda x, out: {"v": torch.zeros(len(x), dtype=torch.long)}, "one float per sample"),
    }
    for fn, message in bad.values():
        step = Step(real.fn, real.spec, diagnose=fn)
        with pytest.raises(ConfigError, match=message):
            evaluate_condition(model, data, step, LOW, config=cfg, device=CPU, progress=QuietProgress())
    calls = iter(range(100))

    def changing(x: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"v{min(next(calls), 1)}": out.flatten(1).mean(1)}

    step = Step(real.fn, real.spec, diagnose=changing)
    with pytest.raises(ConfigError, match="changed between batches"):
        evaluate_condition(model, data, step, LOW, config=cfg, device=CPU, progress=QuietProgress())


def test_diagnostic_reusing_a_metric_name_is_refused(model, data, tmp_path) -> None:
    real = build_step(LOW, _ctx(tmp_path))
    step = Step(real.fn, real.spec, diagnose=lambda x, out: {"loss": out.flatten(1).mean(1)})
    arrays = evaluate_condition(
        model, data, step, LOW, config=RunConfig(suite="t"), device=CPU, progress=QuietProgress()
    )
    with pytest.raises(ConfigError, match="appear twice"):
        summarize(arrays)


def _numpy_band_energy(delta: np.ndarray) -> np.ndarray:
    """Energy per band from the exact radius, written from the definition (edges N/3, 2N/3, <=)."""
    b, c, h, w = delta.shape
    s = min(h, w)
    r = np.sqrt((np.fft.fftfreq(h) * s)[:, None] ** 2 + (np.fft.fftfreq(w) * s)[None, :] ** 2)
    power = (np.abs(np.fft.fft2(delta, norm="ortho")) ** 2).mean(1)
    nyq = s / 2
    bands = [r <= nyq / 3, (r > nyq / 3) & (r <= 2 * nyq / 3), r > 2 * nyq / 3]
    return np.stack([power[:, m].sum(1) for m in bands], axis=1)


def test_band_fractions_per_sample_and_energy_weighted(model, data, tmp_path) -> None:
    step = build_step(LOW, _ctx(tmp_path))
    cfg = RunConfig(suite="t", batch_size=9)
    arrays = evaluate_condition(model, data, step, LOW, config=cfg, device=CPU, progress=QuietProgress())
    x = _images(data)
    energy = _numpy_band_energy((low_pass(x, 4) - x).double().numpy())
    per_sample = energy / energy.sum(1, keepdims=True)
    np.testing.assert_allclose(arrays["delta_band_fractions"], per_sample, rtol=1e-5, atol=1e-9)
    weighted = energy.sum(0) / energy.sum()
    np.testing.assert_allclose(arrays["band_fractions"], weighted, rtol=1e-5)
    recs = {r.metric: r for r in make_records("m", data, Suite("t", 1, (CLEAN, LOW)), LOW, step, "k", arrays)}
    for j, band in enumerate(("low", "mid", "high")):
        assert recs[f"delta_energy_{band}"].value == pytest.approx(weighted[j], rel=1e-5)
        assert recs[f"delta_energy_{band}_mean"].value == pytest.approx(per_sample[:, j].mean(), rel=1e-5)
        assert recs[f"delta_energy_{band}_mean"].n == len(per_sample)


def test_unchanged_images_have_no_per_sample_fraction() -> None:
    arrays = {
        "correct": np.ones(3, bool),
        "loss": np.zeros(3),
        "margin": np.zeros(3),
        "delta_linf": np.zeros(3),
        "delta_l2": np.zeros(3),
        "band_fractions": np.array([0.5, 0.5, 0.0]),
        "delta_band_fractions": np.array([[1.0, 0.0, 0.0], [np.nan] * 3, [0.0, 1.0, 0.0]]),
    }
    recs = {e.metric: e for e in summarize(arrays)}
    assert recs["delta_energy_low_mean"].value == 0.5 and recs["delta_energy_low_mean"].n == 2
    assert recs["delta_energy_low"].value == 0.5 and recs["delta_energy_low"].n == 3
