"""Runs: the one run path (:func:`run`), its same-configuration checks, rendering and the gate."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from freqbench.api.names import build_model, get_suite, load_dataset
from freqbench.api.provenance import manifest
from freqbench.config import RunConfig
from freqbench.data import ArrayDataset
from freqbench.engine.distributed import World, describe, rank_device, session
from freqbench.engine.loop import ModelUnderTest, run_model
from freqbench.engine.progress import Progress, QuietProgress
from freqbench.errors import ConfigError, StoreError
from freqbench.models.in_memory import WEIGHTS_PREFIX, InMemoryModel
from freqbench.ops.device import torch_threads
from freqbench.report.frame import records_frame
from freqbench.report.gate import DEFAULT_METRICS, GateResult, check_run
from freqbench.report.render import Format, print_console, render_run
from freqbench.store.run import Record, RunStore

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` stored: the run directory, how many conditions it evaluated, every record.

    ``writer`` is False on the ranks of a sharded run other than rank 0: they stored nothing and hold
    no records (rank 0's result has them all).
    """

    store: RunStore
    evaluated: int
    records: list[Record]
    writer: bool = True

    def to_pandas(self) -> pd.DataFrame:
        """The records as a tidy DataFrame (:func:`freqbench.report.frame.records_frame`)."""
        return records_frame(self.records)


def run(
    config: RunConfig,
    *,
    progress: Progress | None = None,
    force: bool = False,
    modules: Sequence[InMemoryModel] = (),
) -> RunResult:
    """Evaluate every model of ``config`` on its dataset and suite, skipping stored conditions.

    ``config.out`` holds one configuration: a directory with stored results of another one is refused
    (:func:`_check_same_run`) unless ``force``, which deletes the old run once the directory's lock is
    held and the new run's models and data have loaded.

    ``modules``: in-memory models evaluated instead of building ``config.models`` from the registry;
    their names (:attr:`InMemoryModel.label`) must be ``config.models``, in order. Their weights enter
    the manifest and the result keys as ``state_dict:sha256=<fingerprint>``, so a module with other
    weights under a stored name is refused like any other change of weights.

    Under ``torchrun`` (``WORLD_SIZE`` set) every rank calls this with the same arguments: the samples
    of each condition are split over the ranks and rank 0 alone checks, locks and writes the run
    directory (:mod:`freqbench.engine.distributed`); the manifest's ``sharding`` entry and each
    invocation record the world size, which decides no result, so a run may resume with another.

    Raises:
        ConfigError: ``modules`` whose names are not ``config.models``, or a stored in-memory model
            to be rebuilt from its name (resume it with :func:`evaluate` and the module).
        StoreError: another configuration is stored, another process writes the directory, ``out``
            is a file or under one, the disk is full or read-only (the run can then be resumed).
        DistributedError: a sharded run's ranks cannot join, disagree on the plan, or lost a rank.
    """
    world = World.from_env()
    suite = get_suite(config.suite, config.options)
    store = RunStore(config.out)
    store.check_location()
    if modules and tuple(m.label for m in modules) != config.models:
        raise ConfigError(
            f"in-memory models {[m.label for m in modules]} must be config.models {list(config.models)}"
        )
    if not force and world.writer:
        if not modules:
            _check_buildable(store, config)
        _check_same_run(store, config)  # before the lock: a refused run touches nothing
    device = rank_device(config.device, world)
    lock = store.writing() if world.writer else contextlib.nullcontext()
    with session(world, device), lock, torch_threads(config.num_threads):
        full = load_dataset(config.dataset, split=config.split, root=config.data_root)
        data = full.subset(config.limit)
        if modules:
            models = [_in_memory_under_test(m, data, device) for m in modules]
        else:
            models = [build_model(name, seed=config.seed, data=data) for name in config.models]
        if world.writer:
            new = manifest(config, suite, device, models, data=data, available=len(full))
            new["sharding"] = describe(world, device, suite)
            new["invocations"][-1]["world_size"] = world.size
            # again under the lock, now with the weights and data this run would use
            if force or _check_same_run(store, config, new):
                store.clear()
            store.recover()
            store.write_manifest(new)
        progress = (progress or QuietProgress()) if world.writer else QuietProgress()
        evaluated = sum(
            run_model(
                m, data, suite, config=config, store=store, device=device, progress=progress, world=world
            )
            for m in models
        )
        records = store.records() if world.writer else []
    return RunResult(store=store, evaluated=evaluated, records=records, writer=world.writer)


def _provenance(m: Mapping[str, Any]) -> dict[str, Any]:
    """What besides the config decides a stored run's results, as its manifest records it."""
    models = m.get("models", {})
    return {
        "freqbench version": m.get("freqbench_version"),
        "suite version": m.get("suites"),
        "weights": {k: v.get("weights") for k, v in models.items()} if isinstance(models, dict) else models,
        "data": m.get("data"),
    }


def _check_same_run(store: RunStore, config: RunConfig, new: Mapping[str, Any] | None = None) -> bool:
    """Whether ``store`` must start over for ``config``; a refusal when it holds other results.

    Compares the result-deciding config (``RunConfig.result_differences``) and, given the new
    manifest ``new``, the provenance (freqbench and suite versions, weights, data fingerprint).

    Returns:
        True when a run of another configuration is stored but none of its conditions is (nothing
        to protect: start over); False when nothing is stored or the configuration agrees.

    Raises:
        StoreError: the configurations differ and the directory holds results, naming the fields.
    """
    if not store.exists():
        return False
    old = store.read_manifest()
    diffs = RunConfig.from_dict(old["config"]).result_differences(config)
    if new is not None:
        a, b = _provenance(old), _provenance(new)
        diffs += [f"{k} {a[k]!r} vs {b[k]!r}" for k in a if a[k] is not None and a[k] != b[k]]
    if not diffs:
        return False
    if not store.completed_keys():
        return True
    raise StoreError(
        f"{store.root} holds results of another configuration (stored vs given: {'; '.join(diffs)}); "
        f"they would mix. Use another --out, continue the stored run with `freqbench run --resume "
        f"--out {store.root}`, or pass --force to delete it and start over"
    )


def render(run_dir: Path | str, fmt: Format | str, *, details: bool = False, width: int = 120) -> str:
    """A stored run as text: console, markdown (linking its plots), CSV, JSON, LaTeX or HTML.

    ``"console"`` is the terminal view of ``freqbench report`` as plain text (no colours), ``width``
    characters wide; ``details`` adds the per-condition table to it.

    Raises:
        ConfigError: ``fmt`` is not one of the formats.
        StoreError: not a run directory, or a damaged one.
    """
    try:
        fmt = Format(fmt)
    except ValueError as e:
        raise ConfigError(
            f"unknown report format {fmt!r}; choose one of {', '.join(f.value for f in Format)}"
        ) from e
    if fmt is not Format.CONSOLE:
        return render_run(run_dir, fmt)
    from rich.console import Console

    store = RunStore(run_dir)
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    print_console(store.records(), store.read_manifest(), console=console, details=details)
    return buf.getvalue()


def check(
    run_dir: Path | str,
    baseline: Path | str,
    *,
    tolerance: float = 0.0,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> GateResult:
    """Compare a run with baseline records (:mod:`freqbench.report.gate`); ``result.passed`` says.

    Raises:
        ConfigError, StoreError, MissingDataError: a bad tolerance or metric, records that are not
            comparable (the message names the differing fields), a missing or non-run directory, or
            a missing or unreadable baseline.
    """
    return check_run(run_dir, baseline, tolerance=tolerance, metrics=metrics)


def _in_memory_under_test(m: InMemoryModel, data: ArrayDataset, device: torch.device) -> ModelUnderTest:
    """``m`` built for ``data``: input size from its images, classes read on its first image."""
    import numpy as np

    x, _ = data.batch(np.arange(1))
    module, cfg, weights = m.build(dataset=data.info.name, input_size=data.shape, sample=x.to(device))
    return ModelUnderTest(name=m.label, module=module, cfg=cfg, weights_sha256=weights)


def _check_buildable(store: RunStore, config: RunConfig) -> None:
    """Refuse to rebuild from its name a model that a stored run got as an in-memory ``nn.Module``."""
    if not store.exists():
        return
    stored = store.read_manifest().get("models", {})
    in_memory = [
        n
        for n in config.models
        if isinstance(stored.get(n), dict) and str(stored[n].get("weights", "")).startswith(WEIGHTS_PREFIX)
    ]
    if in_memory:
        raise ConfigError(
            f"{store.root} holds results of {', '.join(in_memory)}, an nn.Module handed to "
            "freqbench.evaluate, which cannot be rebuilt from its name; resume it from Python with "
            f"freqbench.evaluate(module, ..., out={str(store.root)!r}), or use another --out"
        )
