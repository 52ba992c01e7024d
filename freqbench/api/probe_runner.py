"""Probes into the run store: one committed unit per (model, probe), keyed by content, resumable.

It lives in the api layer because it joins the probes with the engine's built models and the store
(probes and engine are independent siblings).

:func:`run_probe` is to probes what :func:`freqbench.engine.loop.run_model` is to suites. A unit is
one model (or, for a probe that reads no model, the dataset alone, stored with ``Record.model ==
""``). Its content key covers what decides the result: the probe's name, version and resolved
options, the model's result spec and the fingerprint of the weights loaded, the evaluated images
(name, split, n and content fingerprint, when the probe reads data), the seed and freqbench's
version. A unit whose key is stored is skipped; one stored under another key for the same (model,
dataset, probe) is refused before any work, as for suites. A unit is written like a suite's
condition (:meth:`RunStore.write_condition`: arrays, records, then the commit line), so a run killed
with SIGKILL loses at most the unit in flight and a resumed run ends with the records of an
uninterrupted one.

Every record of a unit carries the unit's key, ``suite = "probe:NAME"``, the tags ``{"kind":
"probe", "probe": NAME, ...}`` of its :class:`~freqbench.probes.base.Measure`, and ``info =
{"options": ..., "meta": result.meta()}``; the arrays are exactly ``result.arrays()``.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import numpy as np
import torch

from freqbench._version import __version__
from freqbench.config import PROBE_PREFIX, RunConfig
from freqbench.data.base import ArrayDataset
from freqbench.engine.loop import ModelUnderTest, check_compatible
from freqbench.engine.progress import Progress
from freqbench.errors import ConfigError, StoreError
from freqbench.probes.base import PROBES, Probe, ProbeInputs, ProbeResult
from freqbench.store.run import Record, RunStore, content_key

#: ``Record.model`` of a probe that reads no model
NO_MODEL = ""


def probe_of(suite: str) -> Probe:
    """The registered probe a run's ``suite`` (``probe:NAME``) names.

    Raises:
        ConfigError: ``suite`` is not ``probe:NAME``.
        UnknownNameError: no such probe.
    """
    if not suite.startswith(PROBE_PREFIX):
        raise ConfigError(f"{suite!r} is not a probe run (expected {PROBE_PREFIX}NAME)")
    return PROBES.get(suite.removeprefix(PROBE_PREFIX))


def options_json(options: Any) -> dict[str, Any]:
    """A probe's options dataclass as JSON values (enums by value): what the manifest and keys hold."""
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in dataclasses.asdict(options).items()}


def resolve_options(probe: Probe, values: dict[str, Any] | None) -> dict[str, Any]:
    """Every option of ``probe`` with ``values`` applied (validated), as JSON values."""
    return options_json(probe.configure(values or {}))


def unit_key(
    probe: Probe,
    options: dict[str, Any],
    model: ModelUnderTest | None,
    data: ArrayDataset | None,
    config: RunConfig,
) -> str:
    """The content key of one probe unit (module docstring)."""
    parts: dict[str, Any] = {
        "probe": {"name": probe.name, "version": probe.version, "options": options},
        "seed": config.seed,
        "freqbench": __version__,
    }
    if model is not None:
        parts["model"] = {
            "name": model.name,
            "spec": model.cfg.result_spec(),
            "weights": model.weights_sha256,
        }
    if data is not None and "data" in probe.needs:
        parts["dataset"] = {
            "name": data.info.name,
            "split": data.info.split,
            "n": len(data),
            "sha": data.fingerprint(),
        }
    return content_key(parts)


def probe_records(
    probe: Probe,
    result: ProbeResult,
    *,
    model: str,
    dataset: str,
    key: str,
    options: dict[str, Any],
    scope: dict[str, Any],
) -> list[Record]:
    """The records of one unit, one per measure of ``result``."""
    meta = result.meta()
    suite = PROBE_PREFIX + probe.name
    records = [
        Record(
            model=model,
            dataset=dataset,
            suite=suite,
            condition=m.condition,
            metric=m.estimate.metric,
            value=m.estimate.value,
            n=m.estimate.n,
            ci_low=m.estimate.ci_low,
            ci_high=m.estimate.ci_high,
            key=key,
            tags={"kind": "probe", "probe": probe.name, **m.tags},
            info={"options": options, "meta": meta},
            scope=scope,
        )
        for m in result.measures()
    ]
    if not records:
        raise ConfigError(f"probe {probe.name!r} measured nothing on {model or dataset}")
    return records


def _check_arrays(probe: Probe, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"probe {probe.name!r} array {name!r} is {type(value).__name__}, not numpy")
    return arrays


def run_probe(
    probe: Probe,
    options: dict[str, Any],
    models: list[ModelUnderTest],
    data: ArrayDataset | None,
    *,
    config: RunConfig,
    store: RunStore,
    device: torch.device,
    progress: Progress,
) -> int:
    """Run ``probe`` on every model (or once, for a probe that reads no model) not yet stored.

    Returns the number of units evaluated.

    Raises:
        StoreError: the directory holds a unit of the same (model, dataset, probe) computed from other
            inputs.
    """
    opts = probe.configure(options)
    units: list[ModelUnderTest | None] = list(models) if "model" in probe.needs else [None]
    dataset = data.info.name if data is not None else config.dataset
    planned = [(m, unit_key(probe, options, m, data, config)) for m in units]
    _refuse_changed(store, probe, dataset, planned)
    done = store.completed_keys()
    evaluated = 0
    for model, key in planned:
        label = model.name if model is not None else dataset
        if key in done:
            progress.note(f"skip {label} · {probe.name} (stored)")
            continue
        module = None
        if model is not None:
            module = model.module.eval().to(device)
            if data is not None:
                check_compatible(model, data, device)
        ticker = _Ticker(progress, f"{label} · {probe.name}")
        inputs = ProbeInputs(
            model=module, data=data if "data" in probe.needs else None, seed=config.seed, progress=ticker
        )
        try:
            result = probe(inputs, opts)
        finally:
            ticker.close()
        scope = {
            "split": config.split,
            "limit": config.limit,
            "subset": data.fingerprint()[:20] if data is not None and "data" in probe.needs else None,
            "seed": config.seed,
            "probe_version": probe.version,
            "weights": model.weights_sha256 if model is not None else None,
        }
        records = probe_records(
            probe,
            result,
            model=model.name if model is not None else NO_MODEL,
            dataset=dataset,
            key=key,
            options=options,
            scope=scope,
        )
        store.write_condition(key, records, _check_arrays(probe, result.arrays()))
        evaluated += 1
    return evaluated


class _Ticker:
    """A probe's ``progress(done, total)`` callback on a :class:`Progress` bar; a count that starts
    again (the next phase of a probe, e.g. single-image masks after the dataset mask) opens a new bar."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label = progress, label
        self.task: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.task is None or done < self.done:
            self.close()
            self.task, self.done = self.progress.start(self.label, total), 0
        self.progress.advance(self.task, done - self.done)
        self.done = done

    def close(self) -> None:
        if self.task is not None:
            self.progress.finish(self.task)
            self.task = None


def _refuse_changed(
    store: RunStore, probe: Probe, dataset: str, planned: list[tuple[ModelUnderTest | None, str]]
) -> None:
    suite = PROBE_PREFIX + probe.name
    stored: dict[str, set[str]] = {}
    for r in store.records():
        if r.suite == suite and r.dataset == dataset:
            stored.setdefault(r.model, set()).add(r.key)
    changed = [
        (m.name if m is not None else NO_MODEL)
        for m, key in planned
        if stored.get(m.name if m is not None else NO_MODEL, set()) - {key}
    ]
    if changed:
        names = ", ".join(n or "(no model)" for n in changed)
        raise StoreError(
            f"{store.root} already holds {probe.name} of {names} on {dataset} computed from other inputs "
            "(weights, images, seed, options or the freqbench version differ); use another --out, or "
            f"start over with `freqbench probe {probe.name} --force --out {store.root} ...`"
        )


__all__ = [
    "NO_MODEL",
    "options_json",
    "probe_of",
    "probe_records",
    "resolve_options",
    "run_probe",
    "unit_key",
]
