"""Attack budgets (eps) written as numbers or exact fractions: the one parser.

Suites write budgets as text, optionally prefixed by their norm (``"8/255"``, ``"0.5"``, ``"L2:0.5"``),
and keep the text for condition keys; attacks take a budget as a number or as such a text. Both read
it here, exactly, through :class:`fractions.Fraction`, so ``"8/255"`` is the float nearest to 8/255
whichever way it arrives. Torch-free (a leaf module): ``freqbench.suites`` and ``freqbench.attacks``,
siblings that must not import each other, share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from freqbench.errors import ConfigError

#: the norm prefixes a budget text may carry
NORMS = ("Linf", "L2")


def exact_value(text: str, *, name: str = "eps", given: str | None = None) -> Fraction:
    """``text`` (``"8/255"``, ``"0.5"``, ``"1e-3"``) as an exact fraction; surrounding spaces are ignored.

    ``given`` is what the user wrote, if ``text`` is part of it (the error message shows it).

    >>> exact_value("8/255")
    Fraction(8, 255)

    Raises:
        ConfigError: not a number or a fraction.
    """
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as err:
        shown = text if given is None else given
        raise ConfigError(f"{name} must be a number or a fraction like '8/255', got {shown!r}") from err


@dataclass(frozen=True)
class Budget:
    """One budget as written and its exact value."""

    norm: str
    text: str
    value: float


def parse_budget(text: str, *, norm: str = "Linf") -> Budget:
    """Parse ``"8/255"``, ``"0.5"`` or ``"L2:0.5"`` exactly; an unprefixed text has norm ``norm``.

    >>> parse_budget("L2:0.5")
    Budget(norm='L2', text='0.5', value=0.5)
    >>> parse_budget("8/255").value == 8 / 255
    True

    Raises:
        ConfigError: an unknown norm prefix, not a number, not positive, or a Linf budget above 1.
    """
    raw = text.strip()
    prefix, sep, rest = raw.partition(":")
    if sep:
        if prefix not in NORMS:
            raise ConfigError(f"eps norm prefix must be 'Linf:' or 'L2:', got {text!r}")
        norm, raw = prefix, rest.strip()
    value = exact_value(raw, given=text)
    if value <= 0:
        raise ConfigError(f"eps must be positive, got {text!r}")
    if norm == "Linf" and value > 1:
        raise ConfigError(f"a Linf eps above 1 exceeds the [0, 1] image range, got {text!r}; use 'L2:{raw}'?")
    return Budget(norm, raw.replace(" ", ""), float(value))


def as_eps(value: float | int | str, *, name: str = "eps") -> float:
    """A budget as a float: a number as given, a text parsed exactly (:func:`exact_value`).

    >>> as_eps("8/255") == 8 / 255
    True

    Raises:
        ConfigError: text that is not a number, or a value that is not positive and finite.
    """
    out = float(exact_value(value, name=name)) if isinstance(value, str) else float(value)
    if not math.isfinite(out) or out <= 0:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return out
