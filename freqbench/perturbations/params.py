"""Checked perturbation parameters: a filter written by a user (``MODEL+FILTER``) fails in one line.

:func:`make_perturbation` builds a registered perturbation from parsed parameters after checking their
names against the factory's signature (unknown and missing parameters); the factories check values
with :func:`number` (type, finiteness, range). Every failure is a :class:`~freqbench.errors.ConfigError`
that names the perturbation, the parameter, what was given and what is allowed.

>>> number("low_pass_ideal", "r", 8, gt=0)
8.0
>>> number("low_pass_ideal", "r", "abc", gt=0)
Traceback (most recent call last):
...
freqbench.errors.ConfigError: low_pass_ideal: r must be a number > 0, got 'abc'
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from typing import Any

from freqbench.errors import ConfigError
from freqbench.perturbations.base import PERTURBATIONS, Perturbation


def _rule(*, integer: bool, gt: float | None, ge: float | None, le: float | None) -> str:
    kind = "an integer" if integer else "a number"
    lo = ge if ge is not None else gt
    if lo is not None and le is not None:
        shown = "..".join(f"{int(v)}" if float(v).is_integer() else f"{v:g}" for v in (lo, le))
        return f"{kind} in {shown}" + (f" (excluding {lo:g})" if gt is not None else "")
    if gt is not None:
        return f"{kind} > {gt:g}"
    if ge is not None:
        return f"{kind} >= {ge:g}"
    if le is not None:
        return f"{kind} <= {le:g}"
    return f"a finite {kind.split()[1]}"


def number(
    owner: str,
    name: str,
    value: Any,
    *,
    integer: bool = False,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> float:
    """``value`` as a float after checking it is a finite real number within the bounds.

    Args:
        owner: the perturbation's name, for the message.
        name: the parameter's name, for the message.
        value: what was given.
        integer: require an integral value (``3`` or ``3.0``; not ``3.5``).
        gt, ge, le: exclusive lower, inclusive lower and inclusive upper bound.

    Raises:
        ConfigError: not a number, not finite, not integral when required, or out of range.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)
        ok = (
            (not integer or v.is_integer())
            and (gt is None or v > gt)
            and (ge is None or v >= ge)
            and (le is None or v <= le)
        )
    if not ok:
        raise ConfigError(
            f"{owner}: {name} must be {_rule(integer=integer, gt=gt, ge=ge, le=le)}, got {value!r}"
        )
    return float(value)


def signature_text(name: str) -> str:
    """How a condition key of perturbation ``name`` is written, from its factory's signature.

    >>> signature_text("gaussian_filter")
    'gaussian_filter@sigma=VALUE'
    """
    params = _parameters(name)
    if list(params) == ["severity"]:
        return f"{name}@SEVERITY"
    if not params:
        return name
    parts = [
        f"{k}=VALUE" if p.default is inspect.Parameter.empty else f"[{k}={p.default!r}]"
        for k, p in params.items()
    ]
    return f"{name}@" + ",".join(parts)


def _parameters(name: str) -> dict[str, inspect.Parameter]:
    factory = PERTURBATIONS.get(name)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {k: p for k, p in inspect.signature(factory).parameters.items() if p.kind in kinds}


def make_perturbation(name: str, params: Mapping[str, Any]) -> Perturbation:
    """Build perturbation ``name`` with ``params`` after checking the parameter names.

    Raises:
        UnknownNameError: no perturbation ``name`` (with the closest names).
        ConfigError: an unknown or missing parameter, or a value the factory refuses.
    """
    accepted = _parameters(name)
    usage = signature_text(name)
    for key in params:
        if key not in accepted:
            what = "takes no severity (NAME@VALUE)" if key == "severity" else f"has no parameter {key!r}"
            allowed = ", ".join(accepted) or "no parameters"
            raise ConfigError(f"{name} {what}; it takes {allowed}: write {usage}")
    missing = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty and k not in params]
    if missing:
        raise ConfigError(f"{name} needs {', '.join(missing)}: write {usage}")
    return PERTURBATIONS.get(name)(**params)


__all__ = ["make_perturbation", "number", "signature_text"]
