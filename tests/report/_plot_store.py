"""A small hand-built run store for the plot and HTML tests, written the way the engine writes one.

Conditions come from the real suites (so their keys and tags are the engine's); per-sample arrays go
through :func:`freqbench.store.aggregate.summarize` into records, and
:meth:`freqbench.store.run.RunStore.write_condition` stores both. Each accuracy is a known fraction
(:data:`ACCURACY`), each attack's radial energy a known array (:func:`energy_of`), so the tests compare
what the plots and the page show with these numbers, not with the code's own output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from freqbench.config import RunConfig, SuiteOptions
from freqbench.report.plots import Plot
from freqbench.store.aggregate import summarize
from freqbench.store.run import Record, RunStore, content_key
from freqbench.suites.base import Condition, build_suite

MODELS = ("resnet20_cifar10", "lowpass_net")
DATASET = "cifar10"
N = 20  # samples per condition: accuracies are multiples of 5%
RADII = 24  # integer radii of a 32x32 spectrum: round(16 * sqrt(2)) + 1
SUMMARIES = ("mean_accuracy", "per_corruption", "per_group", "accuracy_vs_eps", "delta_spectrum")
#: the plots these summaries give on one dataset, by file stem
PLOT_NAMES = (
    "accuracy_vs_severity-cifar10",
    "accuracy_vs_cutoff-cifar10",
    "accuracy_vs_eps-cifar10",
    "delta_spectrum-cifar10",
)


def _conditions() -> list[tuple[str, Condition, bool]]:
    """(suite, condition, signed) in stored order; clean first, once."""
    corr = build_suite(
        "corruptions", SuiteOptions(corruptions=("gaussian_noise", "fog"), severities=(1, 3, 5))
    )
    freq = [
        c
        for c in build_suite("frequency").conditions
        if c.key in {"low_pass_ideal@r=2", "low_pass_ideal@r=8", "low_pass_ideal@r=16"}
        or c.key in {"high_pass_ideal@r=4", "high_pass_ideal@r=8", "band_pass_ideal@r=4-8"}
    ]
    adv = build_suite("adversarial", SuiteOptions(eps=("2/255", "8/255", "L2:0.5"))).conditions[1:]
    band = build_suite("frequency_attacks").conditions[1:3]
    out = [("corruptions", c, False) for c in corr.conditions]
    out += [("frequency", c, c.transform.startswith(("high_pass", "band_pass"))) for c in freq]
    out += [("adversarial", c, False) for c in adv]
    out += [("frequency_attacks", c, False) for c in band]
    return out


CONDITIONS = _conditions()


def accuracy_of(model: int, index: int) -> float:
    """The stored accuracy of model ``model`` on the ``index``-th condition: k / N, never 0 or 1."""
    k = N - 1 - (3 * index + 5 * model) % (N - 2)
    return k / N


ACCURACY = {
    (MODELS[m], c.key): accuracy_of(m, i)
    for m in range(len(MODELS))
    for i, (_, c, _) in enumerate(CONDITIONS)
}


def energy_of(model: int, index: int) -> np.ndarray:
    """A known radial energy per condition: decaying, with zeros at radius 0 and at the last radius."""
    r = np.arange(RADII, dtype=np.float64)
    e = np.exp(-r / (3.0 + index + model)) * (1 + model)
    e[0] = e[-1] = 0.0
    return e


def fractions_of(model: int, index: int) -> np.ndarray:
    a = np.array([1.0 + model, 2.0 + index % 3, 3.0])
    return a / a.sum()


def _arrays(m: int, i: int, cond: Condition) -> dict[str, np.ndarray]:
    k = round(accuracy_of(m, i) * N)
    correct = np.arange(N) < k
    arrays: dict[str, np.ndarray] = {
        "index": np.arange(N, dtype=np.int64),
        "label": np.zeros(N, np.int64),
        "pred": np.zeros(N, np.int64),
        "correct": correct,
        "loss": np.linspace(0.1, 2.0, N).astype(np.float32),
        "margin": np.linspace(-1.0, 1.0, N).astype(np.float32),
        "delta_linf": np.zeros(N, np.float32),
        "delta_l2": np.zeros(N, np.float32),
    }
    if cond.key != "clean":
        arrays["clean_correct"] = np.ones(N, bool)
        arrays["success"] = ~correct
    if cond.kind == "attack":  # the radial spectrum and band fractions of delta
        fr = fractions_of(m, i)
        arrays["delta_energy"] = energy_of(m, i)
        arrays["band_fractions"] = fr
        arrays["delta_band_fractions"] = np.tile(fr, (N, 1))
    return arrays


def _records(
    model: str, suite: str, cond: Condition, signed: bool, key: str, arrays: dict[str, Any]
) -> list[Record]:
    tags = {"kind": str(cond.kind), "transform": cond.transform, "signed": signed, **cond.tags}
    return [
        Record(
            model=model,
            dataset=DATASET,
            suite=suite,
            condition=cond.key,
            metric=e.metric,
            value=e.value,
            n=e.n,
            ci_low=e.ci_low,
            ci_high=e.ci_high,
            key=key,
            tags=tags,
            info={"name": cond.transform},
        )
        for e in summarize(arrays)
    ]


@dataclass(frozen=True)
class PlotStore:
    """The run directory and where each condition's arrays are."""

    root: Path
    keys: dict[tuple[str, str], str]  # (model, condition) -> content key

    @property
    def store(self) -> RunStore:
        return RunStore(self.root)


@dataclass(frozen=True)
class Written:
    """A run with its plots written: what ``write_plots`` returned and the plots as drawn."""

    run: PlotStore
    files: list[Path]
    plots: dict[str, Plot]


def build_store(root: Path) -> PlotStore:
    """Write the run: manifest first, then every (model, condition) as one committed condition."""
    store = RunStore(root)
    config = RunConfig(suite="corruptions", models=MODELS, dataset=DATASET, out=root, limit=N)
    store.write_manifest(
        {
            "config": config.to_dict(),
            "summaries": list(SUMMARIES),
            "suites": {"corruptions": 1},
            "freqbench_version": "0.0.test",
            "device": "cpu",
            "created": "2026-01-01T00:00:00+00:00",
        }
    )
    keys = {}
    with store.writing():
        store.recover()
        for m, model in enumerate(MODELS):
            for i, (suite, cond, signed) in enumerate(CONDITIONS):
                key = content_key({"model": model, "condition": cond.key})
                arrays = _arrays(m, i, cond)
                store.write_condition(key, _records(model, suite, cond, signed, key, arrays), arrays)
                keys[(model, cond.key)] = key
    return PlotStore(root, keys)
