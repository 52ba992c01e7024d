"""The evaluation loop: results against a direct computation, batch-size invariance, OOM back-off,
compatibility checks, resume skipping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from freqbench.config import RunConfig
from freqbench.engine.loop import evaluate_condition, run_model
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import Step, StepContext, build_step
from freqbench.errors import IncompatibleError, StoreError
from freqbench.perturbations.frequency import low_pass
from freqbench.store.run import RunStore
from freqbench.suites.base import CLEAN, Suite, condition

CPU = torch.device("cpu")
LOW = condition("low_pass_ideal", r=4)
PHASE = condition("phase_scramble", width=90)
SUITE = Suite("t", 1, (CLEAN, LOW, PHASE))


def _ctx(tmp_path) -> StepContext:
    return StepContext(CPU, None, tmp_path / "state")  # type: ignore[arg-type]


def _eval(model, data, cond, tmp_path, bs=16):
    cfg = RunConfig(suite="t", batch_size=bs)
    step = build_step(cond, _ctx(tmp_path))
    return evaluate_condition(model, data, step, cond, config=cfg, device=CPU, progress=QuietProgress())


def test_results_match_a_direct_computation(model, data, tmp_path) -> None:
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(data.labels)
    with torch.no_grad():
        logits = model.module(low_pass(x, 4))
    out = _eval(model, data, LOW, tmp_path)
    np.testing.assert_array_equal(out["pred"], logits.argmax(1).numpy())
    np.testing.assert_array_equal(out["correct"], (logits.argmax(1) == y).numpy())
    np.testing.assert_allclose(out["loss"], F.cross_entropy(logits, y, reduction="none").numpy(), rtol=1e-5)
    true = logits[torch.arange(len(y)), y]
    other = logits.clone()
    other[torch.arange(len(y)), y] = -np.inf
    np.testing.assert_allclose(out["margin"], (true - other.max(1).values).numpy(), rtol=1e-5, atol=1e-6)
    delta = (low_pass(x, 4) - x).flatten(1)
    np.testing.assert_allclose(out["delta_l2"], delta.norm(dim=1).numpy(), rtol=1e-5)
    assert out["band_fractions"].sum() == pytest.approx(1.0)
    clean = _eval(model, data, CLEAN, tmp_path)
    assert "band_fractions" not in clean and not clean["delta_l2"].any()


def test_random_condition_does_not_depend_on_batch_size(model, data, tmp_path) -> None:
    a = _eval(model, data, PHASE, tmp_path, bs=7)
    b = _eval(model, data, PHASE, tmp_path, bs=40)
    np.testing.assert_array_equal(a["pred"], b["pred"])
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
    np.testing.assert_allclose(a["delta_l2"], b["delta_l2"], rtol=1e-6)


def test_out_of_memory_halves_the_batch(model, data, tmp_path) -> None:
    real = build_step(LOW, _ctx(tmp_path))
    seen: list[int] = []

    def flaky(m, x, y, idx, g):
        seen.append(len(x))
        if len(x) > 5:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        return real(m, x, y, idx, g)

    cfg = RunConfig(suite="t", batch_size=16)
    step = Step(flaky, real.spec)
    out = evaluate_condition(model, data, step, LOW, config=cfg, device=CPU, progress=QuietProgress())
    assert seen[:3] == [16, 8, 4] and max(seen[3:]) == 4
    np.testing.assert_array_equal(out["pred"], _eval(model, data, LOW, tmp_path)["pred"])


def test_other_errors_propagate(model, data, tmp_path) -> None:
    def broken(m, x, y, idx, g):
        raise RuntimeError("something else")

    cfg = RunConfig(suite="t")
    with pytest.raises(RuntimeError, match="something else"):
        evaluate_condition(
            model, data, Step(broken, {}), LOW, config=cfg, device=CPU, progress=QuietProgress()
        )


def test_incompatible_model_fails_before_any_work(model, data, tmp_path) -> None:
    wrong = dataclasses.replace(model, cfg=dataclasses.replace(model.cfg, input_size=(1, 16, 16)))
    store = RunStore(tmp_path / "run")
    with pytest.raises(IncompatibleError, match="1-channel images, the dataset has 3 channels"):
        run_model(
            wrong, data, SUITE, config=RunConfig(suite="t"), store=store, device=CPU, progress=QuietProgress()
        )
    assert store.records() == []


def test_rerun_skips_stored_conditions(model, data, tmp_path) -> None:
    store = RunStore(tmp_path / "run")
    cfg = RunConfig(suite="t", out=tmp_path / "run")
    kw = dict(config=cfg, store=store, device=CPU, progress=QuietProgress())
    assert run_model(model, data, SUITE, **kw) == 3
    first = store.records()
    assert run_model(model, data, SUITE, **kw) == 0
    assert store.records() == first
    # another seed is another content key for every condition: never mixed into this directory
    with pytest.raises(StoreError, match="already holds tiny / tiny / clean, low_pass_ideal@r=4"):
        run_model(model, data, SUITE, **{**kw, "config": cfg.replace(seed=1)})
    assert store.records() == first
    other = {**kw, "config": cfg.replace(seed=1), "store": RunStore(tmp_path / "other")}
    assert run_model(model, data, SUITE, **other) == 3
    assert {r.key for r in other["store"].records()}.isdisjoint(r.key for r in first)


def test_success_flags_follow_the_clean_condition(model, data, tmp_path) -> None:
    store = RunStore(tmp_path / "run")
    cfg = RunConfig(suite="t", out=tmp_path / "run")
    run_model(model, data, SUITE, config=cfg, store=store, device=CPU, progress=QuietProgress())
    keys = {r.condition: r.key for r in store.records()}
    clean, low = store.arrays(keys["clean"]), store.arrays(keys[LOW.key])
    assert "success" not in clean
    np.testing.assert_array_equal(low["success"], clean["correct"] & ~low["correct"])
