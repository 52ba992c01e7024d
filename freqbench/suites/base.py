"""Suite specs: named, versioned lists of conditions. Names and parameters only, no computation.

A condition is one cell of a benchmark, keyed ``name@severity`` (``gaussian_noise@5``) or
``name@param=value,...`` (``low_pass_ideal@r=8``, ``pgd_linf@eps=8/255``); ``clean`` has no
parameters. Its ``kind`` says which registry resolves ``transform``; the engine maps kinds to adapters.
Every suite starts with ``clean`` so that each table carries its own baseline.

``SUITES`` maps a suite name to a factory ``(SuiteOptions) -> Suite``. Each suite declares the
:class:`~freqbench.config.SuiteOptions` fields it reads (``Suite.reads``); :func:`build_suite`, the one
way the facade builds a suite, refuses an option the suite does not read instead of ignoring it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from freqbench.config import SuiteOptions
from freqbench.errors import ConfigError
from freqbench.registry import Registry


class Kind(StrEnum):
    """Which registry resolves a condition's transform."""

    PERTURBATION = "perturbation"  # freqbench.perturbations.PERTURBATIONS
    ATTACK = "attack"  # freqbench.attacks.ATTACKS
    DATASET = "dataset"  # images read from the files of a C dataset (CIFAR-10-C), freqbench.data.C_DATASETS


def format_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "-".join(format_value(i) for i in v)
    return str(v)


@dataclass(frozen=True)
class Condition:
    """One benchmark cell.

    Attributes:
        key: display and store key, e.g. ``gaussian_noise@5``.
        kind: which registry resolves ``transform``.
        transform: registry name of the perturbation, attack or C dataset.
        params: keyword arguments for the registry factory (JSON-able values).
        tags: grouping labels for summaries (``{"corruption": "fog", "severity": 3}``).
    """

    key: str
    kind: Kind
    transform: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": str(self.kind),
            "transform": self.transform,
            "params": dict(self.params),
        }


def condition(
    transform: str,
    *,
    kind: Kind = Kind.PERTURBATION,
    label: str | None = None,
    key_params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    **params: Any,
) -> Condition:
    """Build a condition whose key is derived from its parameters.

    ``severity`` alone gives ``name@3``; other parameters give ``name@k=v,...`` in the order given
    (``key_params`` overrides what appears in the key, e.g. the epsilon *as written*, ``8/255``).

    >>> condition("gaussian_noise", severity=3).key
    'gaussian_noise@3'
    >>> condition("low_pass_ideal", r=8).key
    'low_pass_ideal@r=8'
    """
    name = label or transform
    shown = dict(params if key_params is None else key_params)
    if not shown:
        key = name
    elif list(shown) == ["severity"]:
        key = f"{name}@{format_value(shown['severity'])}"
    else:
        key = f"{name}@" + ",".join(f"{k}={format_value(v)}" for k, v in shown.items())
    return Condition(key=key, kind=kind, transform=transform, params=dict(params), tags=dict(tags or {}))


CLEAN = condition("clean", tags={"group": "clean"})


@dataclass(frozen=True)
class Suite:
    """A named, versioned grid of conditions and the summaries to report.

    Attributes:
        name: suite name.
        version: bump whenever a condition's meaning changes; enters result keys.
        conditions: the grid, ``clean`` first.
        summaries: names of summary functions in ``freqbench.report.summaries``.
        description: one line for ``freqbench ls suites``.
        reads: the :class:`~freqbench.config.SuiteOptions` fields the suite reads (the report's
            summaries included); any other option given is refused by :func:`build_suite`.
    """

    name: str
    version: int
    conditions: tuple[Condition, ...]
    summaries: tuple[str, ...] = ()
    description: str = ""
    reads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        keys = [c.key for c in self.conditions]
        if len(set(keys)) != len(keys):
            raise ValueError(f"suite {self.name!r} has duplicate condition keys")
        if not keys or keys[0] != "clean":
            raise ValueError(f"suite {self.name!r} must start with the clean condition")
        unknown = set(self.reads) - {f.name for f in fields(SuiteOptions)}
        if unknown:
            raise ValueError(f"suite {self.name!r} reads unknown options {sorted(unknown)}")


SuiteFactory = Callable[[SuiteOptions], Suite]
SUITES: Registry[SuiteFactory] = Registry("suite")


def build_suite(name: str, options: SuiteOptions | None = None) -> Suite:
    """The suite ``name`` shaped by ``options``; an option the suite does not read is an error.

    Raises:
        UnknownNameError: no such suite (with the closest names).
        ConfigError: an option is given that the suite does not read; the message names the suites
            that do.
    """
    options = options or SuiteOptions()
    suite = SUITES.get(name)(options)
    unused = [o for o in options.given() if o not in suite.reads]
    if unused:
        flags = ", ".join(f"--{o}" for o in unused)
        users = {o: [s for s in SUITES.names() if o in SUITES.get(s)(SuiteOptions()).reads] for o in unused}
        where = "; ".join(f"--{o} is read by {', '.join(u) or 'no suite'}" for o, u in users.items())
        takes = ", ".join(f"--{o}" for o in suite.reads) or "no suite options"
        raise ConfigError(
            f"suite {name!r} does not use {flags} (it takes {takes}); drop {flags} or pick another "
            f"suite ({where})"
        )
    return suite


def _parse_value(text: str) -> Any:
    if "-" in text[1:] and all(_is_number(p) for p in text.split("-")):
        return [_parse_value(p) for p in text.split("-")]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_condition_key(key: str) -> tuple[str, dict[str, Any]]:
    """Inverse of :func:`condition`'s key format for perturbation conditions.

    >>> parse_condition_key("gaussian_noise@3")
    ('gaussian_noise', {'severity': 3})
    >>> parse_condition_key("band_pass_ideal@r=4-8")
    ('band_pass_ideal', {'r': [4, 8]})
    """
    name, sep, rest = key.partition("@")
    form = "NAME, NAME@SEVERITY or NAME@KEY=VALUE[,KEY=VALUE...]"
    if not name:
        raise ConfigError(f"malformed condition {key!r}: the name before '@' is empty; write {form}")
    if not sep:
        return name, {}
    if not rest:
        raise ConfigError(f"malformed condition {key!r}: nothing follows '@'; write {form}")
    if "=" not in rest:
        return name, {"severity": _parse_value(rest)}
    params: dict[str, Any] = {}
    for part in rest.split(","):
        k, eq, v = part.partition("=")
        if not eq or not k or not v:
            raise ConfigError(f"malformed condition {key!r}: {part!r} is not KEY=VALUE; write {form}")
        if k in params:
            raise ConfigError(f"malformed condition {key!r}: {k} is given twice")
        params[k] = _parse_value(v)
    return name, params
