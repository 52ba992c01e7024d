"""Every registered suite builds, starts with clean, has unique keys, and every condition resolves in
the registry its kind names."""

from __future__ import annotations

import pytest

from freqbench.attacks import ATTACKS
from freqbench.config import SuiteOptions
from freqbench.data import C_DATASETS
from freqbench.perturbations import PERTURBATIONS
from freqbench.report.summaries import SUMMARIES
from freqbench.suites import SUITES, Kind
from freqbench.suites.base import parse_condition_key

REGISTRY = {Kind.PERTURBATION: PERTURBATIONS, Kind.ATTACK: ATTACKS, Kind.DATASET: C_DATASETS}


@pytest.mark.parametrize("name", SUITES.names())
def test_suite_contract(name: str) -> None:
    suite = SUITES.get(name)(SuiteOptions())
    assert suite.name == name and suite.version >= 1
    assert suite.conditions[0].key == "clean"
    assert len({c.key for c in suite.conditions}) == len(suite.conditions)
    for cond in suite.conditions:
        assert cond.transform in REGISTRY[cond.kind], cond.key
    for summary in suite.summaries:
        assert summary in SUMMARIES


@pytest.mark.parametrize("name", SUITES.names())
def test_perturbation_keys_parse_back_to_their_parameters(name: str) -> None:
    for cond in SUITES.get(name)(SuiteOptions()).conditions:
        if cond.kind is Kind.PERTURBATION and cond.key != "clean":
            transform, params = parse_condition_key(cond.key)
            assert params == dict(cond.params), cond.key


def test_frequency_suite_grid() -> None:
    keys = [c.key for c in SUITES.get("frequency")(SuiteOptions()).conditions]
    assert "low_pass_gaussian@r=8" in keys and "band_pass_ideal@r=4-8" in keys
    assert [k for k in keys if k.startswith("gaussian_residual")] == [
        f"gaussian_residual@sigma={s}" for s in (2, 4, 12, 20)
    ]
    assert [k for k in keys if k.startswith("gaussian_filter")] == [
        f"gaussian_filter@sigma={s}" for s in (1, 2, 4)
    ]
