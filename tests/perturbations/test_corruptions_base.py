"""The shared corruption machinery: real, findable classes per corruption and the 8-bit level helpers.

The helpers are checked against the reference's numpy formulas (``np.uint8(np.clip(v, 0, 1) * 255)``,
``np.round``), not against their own earlier output.
"""

from __future__ import annotations

import inspect
import sys

import numpy as np
import pytest
import torch

from freqbench.corruption_names import ALL
from freqbench.perturbations import PERTURBATIONS
from freqbench.perturbations.corruptions import base
from freqbench.perturbations.corruptions.base import Corruption


@pytest.mark.parametrize("name", ALL)
def test_every_corruption_is_a_class_statement_in_its_module(name: str) -> None:
    cls = PERTURBATIONS.get(name)
    assert isinstance(cls, type) and issubclass(cls, Corruption) and cls.name == name
    # findable by its name in its module, and its source names the registry entry
    assert getattr(sys.modules[cls.__module__], cls.__name__) is cls
    assert f'name="{name}"' in inspect.getsource(cls)
    assert cls.__doc__ and name in cls.__doc__
    module = cls(severity=2)
    assert module.params() == {"severity": 2} and module.spec()["name"] == name


def test_class_statement_needs_name_fn_and_random() -> None:
    with pytest.raises(TypeError):

        class Nameless(Corruption):  # type: ignore[call-arg]
            pass


def test_severity_row() -> None:
    table = (0.1, 0.2, 0.3, 0.4, 0.5)
    assert [base.severity_row(table, s, "t") for s in range(1, 6)] == list(table)
    for bad in (0, 6):
        with pytest.raises(ValueError, match="t: severity must be one of 1..5"):
            base.severity_row(table, bad, "t")


def test_levels_against_numpy() -> None:
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(-0.2, 1.2, 5000), np.arange(256) / 255.0, [0.5 / 255, 254.5 / 255]])
    t = torch.from_numpy(v)
    assert np.array_equal(base.read_uint8_values(t).numpy(), np.round(np.clip(v, 0, 1) * 255))
    assert np.array_equal(base.read_levels(t).numpy(), np.round(np.clip(v, 0, 1) * 255) / 255)
    truncated = np.uint8(np.clip(v, 0, 1) * 255) / 255
    assert np.array_equal(base.truncate_to_levels(t).numpy(), truncated)
    assert np.array_equal(base.truncate_to_levels_(t.clone(), torch.float64).numpy(), truncated)
    rounded = np.floor(np.clip(v, 0, 1) * 255 + 0.5) / 255
    assert np.array_equal(base.round_to_levels(t).numpy(), rounded)
    assert np.array_equal(base.round_to_levels_(t.clone(), torch.float64).numpy(), rounded)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_levels_as_is_the_float64_division_cast(dtype: torch.dtype) -> None:
    # exhaustive over the 256 levels: the cheaper float32 division rounds like float64's, cast
    k = torch.arange(256, dtype=torch.float64)
    expected = (k / 255.0).to(dtype)
    assert torch.equal(base.levels_as(k.clone(), dtype), expected)
    if dtype != torch.float64:  # a float32 k is divided in float32 (documented): fine below float64
        assert torch.equal(base.levels_as(k.float(), dtype), expected)
