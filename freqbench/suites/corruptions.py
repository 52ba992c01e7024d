"""Corruption suites: CIFAR-10-C's 15 benchmark corruptions (and the 4 extras) at severities 1-5.

Reference: Hendrycks & Dietterich, ICLR 2019; corruption names, the benchmark / extra split and the
five severities are REFERENCE.md section 1 (the same lists as ``freqbench.perturbations.corruptions.base``;
the severity parameters live next to each corruption's code).

- ``corruptions``: ``clean`` + 15 corruptions x 5 severities, generated on the fly (any dataset);
- ``corruptions_extra``: ``clean`` + the 4 extra corruptions x 5 severities, on the fly;
- ``cifar10c`` / ``cifar100c``: the same grid read from the released files (``Kind.DATASET``,
  transform ``cifar10c`` / ``cifar100c``, params ``corruption`` and ``severity``); the released files
  hold all 19 corruptions, so ``--corruptions`` may name extras there too.

Every corruption condition has the key ``<corruption>@<severity>`` (``gaussian_noise@5``) and the tags
``{"corruption": name, "severity": s}`` whichever way it is made, so on-the-fly and file results land
in the same rows of one table. ``SuiteOptions.corruptions`` / ``severities`` restrict the grid; an
unknown name is an error that suggests the closest ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from freqbench.config import SuiteOptions
from freqbench.corruption_names import BENCHMARK, EXTRA, SEVERITIES
from freqbench.errors import ConfigError
from freqbench.suites.base import CLEAN, SUITES, Condition, Kind, Suite, condition

#: summary functions of freqbench.report.summaries, fed by the ``corruption`` / ``severity`` tags
SUMMARIES = ("mean_accuracy", "per_corruption", "per_severity", "mce")
#: the SuiteOptions these suites read (``baseline`` feeds the mCE summary)
READS = ("corruptions", "severities", "baseline")


def select(
    options: SuiteOptions, *, suite: str, default: Sequence[str], allowed: Sequence[str]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The corruptions and severities of a suite after ``options`` restrictions, in canonical order.

    Raises:
        ConfigError: a name not in ``allowed`` (with the closest names), a severity outside 1..5, or an
            empty selection.
    """
    names = tuple(default)
    if options.corruptions is not None:
        for name in options.corruptions:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                home = "corruptions_extra" if name in EXTRA else "corruptions" if name in BENCHMARK else ""
                elsewhere = f" It belongs to the {home} suite." if home else ""
                raise ConfigError(
                    f"suite {suite!r} has no corruption {name!r}.{hint}{elsewhere} "
                    f"Choose from: {', '.join(allowed)}."
                )
        wanted = set(options.corruptions)
        names = tuple(n for n in allowed if n in wanted)
    severities = SEVERITIES
    if options.severities is not None:
        bad = [s for s in options.severities if s not in SEVERITIES]
        if bad:
            raise ConfigError(
                f"suite {suite!r}: severities must be among 1..5, got {', '.join(map(str, bad))}"
            )
        severities = tuple(s for s in SEVERITIES if s in set(options.severities))
    if not names or not severities:
        raise ConfigError(f"suite {suite!r}: the --corruptions / --severities selection is empty")
    return names, severities


def corruption_conditions(names: Sequence[str], severities: Sequence[int]) -> tuple[Condition, ...]:
    """``clean`` then ``name@s`` perturbation conditions, corruption-major."""
    return (CLEAN,) + tuple(
        condition(name, severity=s, tags={"corruption": name, "severity": s})
        for name in names
        for s in severities
    )


def c_dataset_conditions(
    source: str, names: Sequence[str], severities: Sequence[int]
) -> tuple[Condition, ...]:
    """``clean`` then ``name@s`` conditions read from the released files of ``source``."""
    return (CLEAN,) + tuple(
        condition(
            source,
            kind=Kind.DATASET,
            label=name,
            key_params={"severity": s},
            tags={"corruption": name, "severity": s},
            corruption=name,
            severity=s,
        )
        for name in names
        for s in severities
    )


@SUITES.register("corruptions")
def corruptions_suite(options: SuiteOptions) -> Suite:
    """CIFAR-10-C's 15 benchmark corruptions x 5 severities, generated on the fly."""
    names, severities = select(options, suite="corruptions", default=BENCHMARK, allowed=BENCHMARK)
    return Suite(
        name="corruptions",
        version=1,
        conditions=corruption_conditions(names, severities),
        summaries=SUMMARIES,
        reads=READS,
        description="CIFAR-10-C: 15 corruptions x 5 severities, generated on the fly (any dataset)",
    )


@SUITES.register("corruptions_extra")
def corruptions_extra_suite(options: SuiteOptions) -> Suite:
    """CIFAR-10-C's 4 extra corruptions x 5 severities, generated on the fly."""
    names, severities = select(options, suite="corruptions_extra", default=EXTRA, allowed=EXTRA)
    return Suite(
        name="corruptions_extra",
        version=1,
        conditions=corruption_conditions(names, severities),
        summaries=SUMMARIES,
        reads=READS,
        description="CIFAR-10-C extras: speckle noise, Gaussian blur, spatter, saturate x 5 severities",
    )


def _c_dataset_suite(source: str, label: str) -> None:
    def factory(options: SuiteOptions) -> Suite:
        names, severities = select(options, suite=source, default=BENCHMARK, allowed=BENCHMARK + EXTRA)
        return Suite(
            name=source,
            version=1,
            conditions=c_dataset_conditions(source, names, severities),
            summaries=SUMMARIES,
            reads=READS,
            description=f"{label}: the released files, 15 corruptions x 5 severities (extras on request)",
        )

    factory.__doc__ = f"The released {label} files, same condition keys as ``corruptions``."
    SUITES.register(source, factory)


_c_dataset_suite("cifar10c", "CIFAR-10-C")
_c_dataset_suite("cifar100c", "CIFAR-100-C")
