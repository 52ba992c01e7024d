"""Probe runs: :func:`run_probe_config` (what ``freqbench probe NAME`` calls) and :func:`probe` for
notebooks. A probe run is a run directory like a suite's (one configuration, locked, resumable);
its config's ``suite`` is ``probe:NAME`` and ``options.probe`` holds the probe's resolved options."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from freqbench.api.names import build_model, expand_models, load_dataset
from freqbench.api.probe_runner import NO_MODEL, probe_of, resolve_options, run_probe
from freqbench.api.provenance import manifest
from freqbench.api.runs import _check_same_run
from freqbench.config import PROBE_PREFIX, RunConfig, SuiteOptions
from freqbench.engine.distributed import World
from freqbench.engine.progress import Progress, QuietProgress
from freqbench.errors import ConfigError, DistributedError
from freqbench.ops.device import select_device, torch_threads
from freqbench.probes.base import PROBES
from freqbench.report.frame import records_frame
from freqbench.store.run import Record, RunStore

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ProbeRunResult:
    """What a probe run stored: the directory, how many units it evaluated, every record.

    :meth:`arrays` gives one model's stored arrays (the probe result's ``arrays()``).
    """

    store: RunStore
    evaluated: int
    records: list[Record]

    def arrays(self, model: str = NO_MODEL) -> dict[str, np.ndarray]:
        """The arrays stored for ``model`` (leave it out for a probe that reads no model).

        Raises:
            ConfigError: the run holds no result for ``model``.
        """
        keys = sorted({r.key for r in self.records if r.model == model})
        if not keys:
            held = sorted({r.model for r in self.records})
            raise ConfigError(f"this probe run holds no result for model {model!r}; it holds {held}")
        return dict(self.store.arrays(keys[0]))

    def to_pandas(self) -> pd.DataFrame:
        """The records as a tidy DataFrame (:func:`freqbench.report.frame.records_frame`)."""
        return records_frame(self.records)


def probe_config(
    name: str,
    *,
    models: Sequence[str] = (),
    dataset: str,
    options: Mapping[str, Any] | None = None,
    **fields: Any,
) -> RunConfig:
    """The :class:`RunConfig` of a probe run: ``suite="probe:NAME"``, every probe option resolved.

    Raises:
        UnknownNameError: no such probe.
        ConfigError: an option the probe does not have, a bad value, or a model missing where the
            probe reads one (or given where it reads none).
    """
    entry = PROBES.get(name)
    if "model" in entry.needs and not models:
        raise ConfigError(f"probe {entry.name!r} looks at a model: pass --model NAME (repeatable)")
    if "model" not in entry.needs and models:
        raise ConfigError(f"probe {entry.name!r} reads only the dataset; drop --model")
    return RunConfig(
        suite=PROBE_PREFIX + entry.name,
        models=tuple(models),
        dataset=dataset,
        options=SuiteOptions(probe=resolve_options(entry, dict(options or {}))),
        **fields,
    )


def run_probe_config(
    config: RunConfig, *, progress: Progress | None = None, force: bool = False
) -> ProbeRunResult:
    """Run the probe ``config.suite`` names on every model of ``config``, skipping stored units.

    The run directory rules are :func:`freqbench.api.runs.run`'s: one configuration per directory
    (refused otherwise unless ``force``), one writer, committed units only.
    """
    if World.from_env().sharded:
        raise DistributedError(
            "probes run in one process: `freqbench probe` under torchrun (WORLD_SIZE > 1) would have every "
            "rank compute the same result; run it without torchrun"
        )
    entry = probe_of(config.suite)
    options = resolve_options(entry, config.options.probe)
    store = RunStore(config.out)
    store.check_location()
    if not force:
        _check_same_run(store, config)
    with store.writing(), torch_threads(config.num_threads):
        device = select_device(config.device)
        full = load_dataset(config.dataset, split=config.split, root=config.data_root)
        data = full.subset(config.limit)
        models = [build_model(name, seed=config.seed, data=data) for name in config.models]
        new = manifest(config, entry, device, models, data=data, available=len(full))
        if force or _check_same_run(store, config, new):
            store.clear()
        store.recover()
        store.write_manifest(new)
        evaluated = run_probe(
            entry,
            options,
            models,
            data,
            config=config,
            store=store,
            device=device,
            progress=progress or QuietProgress(),
        )
        records = store.records()
    return ProbeRunResult(store=store, evaluated=evaluated, records=records)


def probe(
    name: str,
    *,
    model: str | Sequence[str] | None = None,
    dataset: str,
    out: Path | str,
    limit: int | None = None,
    seed: int = 0,
    split: str = "test",
    data_root: Path | str | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: Progress | None = None,
    force: bool = False,
    **options: Any,
) -> ProbeRunResult:
    """``freqbench probe NAME`` from Python; probe options as keyword arguments.

    >>> r = probe("fourier_heatmap", model="resnet20_cifar10.akamaster",
    ...           dataset="cifar10", limit=100, out="runs/hm", eps=4.0)  # doctest: +SKIP
    >>> r.arrays("resnet20_cifar10.akamaster")["error"].shape             # doctest: +SKIP
    (31, 31)
    """
    names = [model] if isinstance(model, str) else list(model or [])
    config = probe_config(
        name,
        models=expand_models(names) if names else (),
        dataset=dataset,
        options=options,
        out=Path(out),
        limit=limit,
        seed=seed,
        split=split,
        data_root=None if data_root is None else Path(data_root),
        device=device,
        num_threads=threads,
    )
    return run_probe_config(config, progress=progress, force=force)


def stored_probe_config(out: Path) -> RunConfig:
    """The configuration of the probe run stored in ``out`` (for ``--resume``).

    Raises:
        ConfigError: ``out`` holds a suite run, not a probe run.
    """
    config = RunStore(out).config()
    if not config.suite.startswith(PROBE_PREFIX):
        raise ConfigError(
            f"{out} holds a `freqbench run --suite {config.suite}` run, not a probe run; resume it with "
            f"`freqbench run --resume --out {out}`"
        )
    return dataclasses.replace(config, out=out)


__all__ = ["ProbeRunResult", "probe", "probe_config", "run_probe_config", "stored_probe_config"]
