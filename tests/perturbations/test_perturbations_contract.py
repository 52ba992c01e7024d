"""Contract of every registered perturbation, parametrised over the registry itself.

Parameters come from the suites' own conditions, so a perturbation no suite uses is itself a failure.
Checked: shape, dtype and device kept, finite, [0, 1] unless declared signed, determinism under a
seed, batch-size invariance (sample i is the same alone and inside a batch), 1-channel input.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from freqbench.config import SuiteOptions
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites import SUITES, Kind


def _params_by_name() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for suite in SUITES.names():
        for cond in SUITES.get(suite)(SuiteOptions()).conditions:
            if cond.kind is Kind.PERTURBATION:
                found.setdefault(cond.transform, dict(cond.params))
    return found


PARAMS = _params_by_name()
NAMES = PERTURBATIONS.names()


def test_every_registered_perturbation_is_used_by_a_suite() -> None:
    assert sorted(set(NAMES) - set(PARAMS)) == []


def _images(b: int, c: int = 3, size: int = 32, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    # 8-bit levels, like every dataset delivers
    return (torch.randint(0, 256, (b, c, size, size), generator=torch.Generator().manual_seed(0)) / 255).to(
        dtype
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_range_determinism(name: str, dtype: torch.dtype) -> None:
    module = PERTURBATIONS.get(name)(**PARAMS[name])
    x = _images(4, dtype=dtype)
    a = module(x, SampleGenerator.from_seed(1, 4))
    b = module(x.clone(), SampleGenerator.from_seed(1, 4))
    assert a.shape == x.shape and a.dtype == dtype and a.device == x.device
    assert torch.isfinite(a).all()
    if not module.signed:
        assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    spec = module.spec()
    assert spec["name"] == module.name and spec["kind"] == "perturbation"


@pytest.mark.parametrize("name", NAMES)
def test_batch_size_invariance(name: str) -> None:
    module = PERTURBATIONS.get(name)(**PARAMS[name])
    x = _images(6)
    full = module(x, SampleGenerator.from_seed(2, torch.arange(10, 16)))
    alone = module(x[3:4], SampleGenerator.from_seed(2, torch.tensor([13])))
    torch.testing.assert_close(full[3:4], alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_one_channel_input(name: str) -> None:
    module = PERTURBATIONS.get(name)(**PARAMS[name])
    x = _images(2, c=1, size=28)
    y = module(x, SampleGenerator.from_seed(0, 2))
    assert y.shape == x.shape and torch.isfinite(y).all()
