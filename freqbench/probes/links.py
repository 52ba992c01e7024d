"""``links``: the cross-model probe. It reads stored runs instead of a model, and correlates probe
statistics with suite metrics (:func:`freqbench.report.links.links`, torch-free, where the method is
documented); ``freqbench probe links --runs DIR --runs DIR ...`` prints its table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from freqbench.errors import ConfigError
from freqbench.probes.base import PROBES, Measure, Probe, ProbeInputs
from freqbench.report.frame import read_run
from freqbench.report.links import Links, links
from freqbench.store.aggregate import Estimate


@dataclass(frozen=True)
class LinksOptions:
    """Options of ``links``.

    Attributes:
        resamples: bootstrap resamples of the models per correlation.
        seed: seed of each correlation's bootstrap generator.
    """

    resamples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ConfigError(f"links: resamples must be >= 1, got {self.resamples}")


@dataclass(frozen=True)
class LinksResult:
    """The correlations (:class:`freqbench.report.links.Links`) as a probe result."""

    links: Links

    def arrays(self) -> dict[str, np.ndarray]:
        rows = self.links.rows
        nan = float("nan")
        return {
            "rho": np.array([nan if r.rho is None else r.rho for r in rows]),
            "ci_low": np.array([nan if r.ci_low is None else r.ci_low for r in rows]),
            "ci_high": np.array([nan if r.ci_high is None else r.ci_high for r in rows]),
            "n_models": np.array([r.n_models for r in rows], dtype=np.int64),
        }

    def meta(self) -> dict[str, Any]:
        return {
            "rows": [{"statistic": r.statistic, "metric": r.metric, "note": r.note} for r in self.links.rows],
            "runs": [str(p) for p in self.links.runs],
            "resamples": self.links.resamples,
            "seed": self.links.seed,
        }

    def measures(self) -> list[Measure]:
        """One ``spearman`` measure per computed correlation (n = models, the bootstrap interval)."""
        return [
            Measure(
                f"{r.statistic} ~ {r.metric}",
                Estimate("spearman", r.rho, r.n_models, r.ci_low, r.ci_high),
                {"statistic": r.statistic, "metric": r.metric, "p_value": r.p_value},
            )
            for r in self.links.rows
            if r.rho is not None and r.ci_low is not None and r.ci_high is not None
        ]


def _run(inputs: ProbeInputs, options: LinksOptions) -> LinksResult:
    if not inputs.runs:
        raise ConfigError("links needs the run directories to compare: --runs DIR (repeatable)")
    stored = [read_run(path) for path in inputs.runs]
    return LinksResult(links(stored, resamples=options.resamples, seed=options.seed))


PROBES.register(
    "links",
    Probe(
        name="links",
        summary="Spearman rank correlation of probe statistics with suite metrics across stored runs",
        needs=frozenset({"runs"}),
        options=LinksOptions,
        run=_run,
    ),
)
