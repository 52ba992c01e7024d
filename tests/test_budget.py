"""The one eps parser (freqbench.budget): suites' budget texts and attacks' eps values agree exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest

from freqbench.budget import Budget, as_eps, exact_value, parse_budget
from freqbench.errors import ConfigError


@pytest.mark.parametrize("text", ["8/255", "0.5", " 2/255 ", "1e-3", "1"])
def test_suite_and_attack_read_the_same_value(text: str) -> None:
    exact = Fraction(text.strip())
    assert parse_budget(text).value == as_eps(text) == float(exact)
    assert exact_value(text) == exact


def test_budget_keeps_the_text_as_written_and_its_norm() -> None:
    assert parse_budget("L2: 0.5") == Budget("L2", "0.5", 0.5)
    assert parse_budget("8/255") == Budget("Linf", "8/255", 8 / 255)
    assert parse_budget("0.25", norm="L2").norm == "L2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("eight", "eps must be a number or a fraction like '8/255', got 'eight'"),
        ("L2:x", "eps must be a number or a fraction like '8/255', got 'L2:x'"),
        ("L3:1", "eps norm prefix must be 'Linf:' or 'L2:'"),
        ("0", "eps must be positive"),
        ("2", "a Linf eps above 1 exceeds the [0, 1] image range"),
        ("1/0", "eps must be a number or a fraction"),
    ],
)
def test_bad_budgets(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_budget(text)


@pytest.mark.parametrize("value", ["x", 0, -1.0, float("inf"), "0"])
def test_bad_attack_eps(value: object) -> None:
    with pytest.raises(ConfigError, match="alpha"):
        as_eps(value, name="alpha")  # type: ignore[arg-type]
