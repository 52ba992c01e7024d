"""The adversarial suites: condition keys as written, exact budgets, override rule, resolvable attacks."""

from __future__ import annotations

from fractions import Fraction

import pytest

from freqbench.attacks import ATTACKS
from freqbench.config import SuiteOptions
from freqbench.errors import ConfigError
from freqbench.suites import SUITES
from freqbench.suites.base import Kind


def keys(suite: str, **options: object) -> list[str]:
    return [c.key for c in SUITES.get(suite)(SuiteOptions(**options)).conditions]  # type: ignore[arg-type]


def test_default_grids() -> None:
    assert keys("adversarial") == [
        "clean",
        *(f"fgsm@eps={e}/255" for e in (1, 2, 4, 8)),
        *(f"pgd_linf@eps={e}/255" for e in (1, 2, 4, 8)),
        *(f"pgd_l2@eps={e}" for e in ("0.125", "0.25", "0.5", "1.0")),
    ]
    assert keys("autoattack") == ["clean", "autoattack@eps=8/255"]
    freq = keys("frequency_attacks")
    assert freq[1] == "pgd_linf_band@eps=8/255,band=low,r=2"
    assert "pgd_linf_band@eps=8/255,band=band,r=4-8" in freq and len(freq) == 10


@pytest.mark.parametrize("suite", ["adversarial", "autoattack", "frequency_attacks"])
def test_every_condition_resolves_with_exact_eps(suite: str) -> None:
    s = SUITES.get(suite)(SuiteOptions())
    assert s.summaries == ("robust_accuracy", "accuracy_vs_eps", "delta_spectrum")
    for c in s.conditions[1:]:
        assert c.kind is Kind.ATTACK
        attack = ATTACKS.get(c.transform)(**c.params)
        assert attack.eps == float(Fraction(c.tags["eps"]))  # the float nearest the written fraction
        assert c.tags["norm"] == str(attack.norm) and c.tags["attack"] == c.transform
        if c.transform.startswith("pgd"):
            assert attack.spec()["steps"] == 10 and attack.spec()["alpha"] == attack.eps / 4


def test_eps_override_rule() -> None:
    k = keys("adversarial", eps=("2/255", "8/255"))
    assert k[1:5] == ["fgsm@eps=2/255", "fgsm@eps=8/255", "pgd_linf@eps=2/255", "pgd_linf@eps=8/255"]
    assert k[5:] == [f"pgd_l2@eps={e}" for e in ("0.125", "0.25", "0.5", "1.0")]  # L2 grid kept
    assert keys("adversarial", eps=("L2:0.5",))[-1] == "pgd_l2@eps=0.5"
    assert len(keys("adversarial", eps=("L2:0.5",))) == 1 + 8 + 1
    assert keys("autoattack", eps=("4/255", "L2:0.5")) == [
        "clean",
        "autoattack@eps=4/255",
        "autoattack@eps=0.5,norm=L2",
    ]
    with pytest.raises(ConfigError, match="L2:8"):
        keys("adversarial", eps=("8",))
    with pytest.raises(ConfigError, match="prefix"):
        keys("adversarial", eps=("L1:0.5",))
    with pytest.raises(ConfigError, match="twice"):
        keys("adversarial", eps=("8/255", "8/255"))
