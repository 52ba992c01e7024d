"""The corruption suites: grids, keys shared between on-the-fly and released-file suites, options."""

from __future__ import annotations

import pytest

from freqbench.config import SuiteOptions
from freqbench.errors import ConfigError
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites import SUITES, Kind

SUITE_NAMES = ("corruptions", "corruptions_extra", "cifar10c", "cifar100c")


def build(name: str, **options: object) -> object:
    return SUITES.get(name)(SuiteOptions(**options))  # type: ignore[arg-type]


def test_every_named_corruption_is_registered() -> None:
    from freqbench.corruption_names import ALL
    from freqbench.perturbations import PERTURBATIONS

    assert all(name in PERTURBATIONS for name in ALL) and len(set(ALL)) == 19


@pytest.mark.parametrize(
    ("name", "count"), [("corruptions", 76), ("corruptions_extra", 21), ("cifar10c", 76), ("cifar100c", 76)]
)
def test_grid_sizes_and_summaries(name: str, count: int) -> None:
    suite = build(name)
    assert suite.name == name and suite.version == 1
    assert len(suite.conditions) == count and suite.conditions[0].key == "clean"
    assert suite.summaries == ("mean_accuracy", "per_corruption", "per_severity", "mce")


def test_on_the_fly_conditions_resolve_to_registered_corruptions() -> None:
    suite = build("corruptions")
    assert [c.key for c in suite.conditions[1:6]] == [f"gaussian_noise@{s}" for s in range(1, 6)]
    for cond in suite.conditions[1:]:
        assert cond.kind == Kind.PERTURBATION
        assert cond.tags == {"corruption": cond.transform, "severity": cond.params["severity"]}
        module = PERTURBATIONS.get(cond.transform)(**cond.params)
        assert module.spec()["severity"] == cond.params["severity"]


@pytest.mark.parametrize("source", ["cifar10c", "cifar100c"])
def test_released_file_suites_share_keys_and_tags(source: str) -> None:
    fly = build("corruptions")
    files = build(source)
    assert [c.key for c in files.conditions] == [c.key for c in fly.conditions]
    for a, b in zip(fly.conditions[1:], files.conditions[1:]):
        assert b.kind == Kind.DATASET and b.transform == source
        assert dict(b.params) == {"corruption": a.transform, "severity": a.params["severity"]}
        assert b.tags == a.tags


def test_restrictions_keep_canonical_order() -> None:
    suite = build("corruptions", corruptions=("fog", "gaussian_noise"), severities=(5, 2))
    assert [c.key for c in suite.conditions] == [
        "clean",
        "gaussian_noise@2",
        "gaussian_noise@5",
        "fog@2",
        "fog@5",
    ]
    extra = build("cifar10c", corruptions=("saturate",), severities=(1,))
    assert [c.key for c in extra.conditions] == ["clean", "saturate@1"]


def test_unknown_corruption_suggests_names() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'gaussian_noise'"):
        build("corruptions", corruptions=("gausian_noise",))
    with pytest.raises(ConfigError, match="corruptions_extra suite"):
        build("corruptions", corruptions=("saturate",))
    with pytest.raises(ConfigError, match="1..5"):
        build("corruptions_extra", severities=(0, 6))
    with pytest.raises(ConfigError, match="empty"):
        build("cifar10c", corruptions=())
