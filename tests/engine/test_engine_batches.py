"""condition_batches: the one path from a dataset to a condition's images (evaluation and make-c)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.data import DataRequest
from freqbench.engine.batches import condition_batches
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import StepContext, build_step
from freqbench.errors import ConfigError
from freqbench.ops.random import SampleGenerator, sample_keys
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites.base import Kind, condition

CPU = torch.device("cpu")
NOISE = condition("gaussian_noise", severity=3)


def _images(data, cond, *, batch_size: int, model=None) -> tuple[torch.Tensor, list]:
    step = build_step(cond, StepContext(CPU, DataRequest(split="test")))
    batches = list(
        condition_batches(
            data, step, cond, seed=4, batch_size=batch_size, device=CPU, progress=QuietProgress(),
            label="t", model=model,
        )
    )  # fmt: skip
    return torch.cat([b.out for b in batches]), batches


def test_without_a_model_the_images_are_the_perturbation_with_per_sample_streams(data) -> None:
    out, batches = _images(data.subset(30), NOISE, batch_size=7)
    sub = data.subset(30)
    x, _ = sub.batch(np.arange(len(sub)))
    g = SampleGenerator(sample_keys(4, "gaussian_noise@3", torch.from_numpy(sub.indices)))
    by_hand = PERTURBATIONS.get("gaussian_noise")(severity=3)(x, g)
    assert torch.equal(out, by_hand)
    assert all(b.logits is None for b in batches)
    assert [(b.rows.start, b.rows.stop) for b in batches] == [(0, 7), (7, 14), (14, 21), (21, 28), (28, 30)]
    np.testing.assert_array_equal(np.concatenate([b.indices for b in batches]), sub.indices)
    assert torch.equal(out, _images(sub, NOISE, batch_size=30)[0])


def test_logits_are_the_models_on_the_output(data, model) -> None:
    out, batches = _images(data, NOISE, batch_size=16, model=model.module)
    with torch.no_grad():
        want = model.module(out)
    torch.testing.assert_close(torch.cat([b.logits for b in batches]), want)


def test_an_attack_needs_the_model(data) -> None:
    fgsm = condition("fgsm", kind=Kind.ATTACK, eps="4/255")
    with pytest.raises(ConfigError, match="attack fgsm@eps=4/255 needs the model it attacks"):
        _images(data, fgsm, batch_size=8)
