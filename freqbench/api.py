"""The facade: names -> objects, provenance, runs. What the CLI and notebooks call.

>>> from freqbench import api                                    # doctest: +SKIP
>>> result = api.run(RunConfig(suite="frequency", limit=200))    # doctest: +SKIP
>>> print(api.render(result.store.root, "md"))                   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import io
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from freqbench._version import __version__
from freqbench.config import RunConfig, SuiteOptions
from freqbench.data import C_DATASETS, DATASETS, ArrayDataset, DataRequest
from freqbench.engine.loop import ModelUnderTest, run_model
from freqbench.engine.progress import Progress, QuietProgress
from freqbench.errors import ConfigError, StoreError, UnknownNameError
from freqbench.model_spec import format_model_spec, parse_model_spec
from freqbench.models import MODELS
from freqbench.models import load_model as load_model_and_config
from freqbench.models.in_memory import WEIGHTS_PREFIX, InMemoryModel
from freqbench.ops.device import select_device, torch_threads
from freqbench.perturbations import PERTURBATIONS
from freqbench.perturbations.params import make_perturbation
from freqbench.report.frame import records_frame
from freqbench.report.gate import DEFAULT_METRICS, GateResult, check_run
from freqbench.report.render import Format, print_console, render_run
from freqbench.store.run import Record, RunStore
from freqbench.suites import SUITES, Suite
from freqbench.suites.base import build_suite, parse_condition_key

if TYPE_CHECKING:
    import pandas as pd


# names -> objects ---------------------------------------------------------------------------------
def expand_models(specs: Sequence[str]) -> tuple[str, ...]:
    """Model specifications (:mod:`freqbench.model_spec`) with their wildcards expanded.

    A pattern (wildcards in a name without a source prefix) becomes every registered name it matches,
    each behind the same filter; an alias (``resnet20_fmnist``) becomes the name it stands for, so both
    spellings give the same records; other specifications pass through as written. Filters are checked
    here, before anything is loaded.

    Raises:
        ConfigError: a specification off the grammar, or a filter with bad parameters.
        UnknownNameError: a pattern that matches nothing, or an unknown filter.
    """
    out: list[str] = []
    for text in specs:
        spec = parse_model_spec(text)
        if spec.filter is not None:
            _filter_module(spec.filter, text)
        if spec.is_pattern:
            found = MODELS.names(spec.base)
            if not found:
                raise UnknownNameError(f"no model matches {spec.base!r}; see `freqbench ls models`")
            out += [format_model_spec(f, spec.filter) for f in found]
        else:
            out.append(canonical_model_spec(text))
    return tuple(dict.fromkeys(out))


def canonical_model_spec(text: str) -> str:
    """``text`` with a model alias replaced by the name it stands for (``resnet20_fmnist+F`` ->
    ``resnet20_fashion_mnist+F``); any other specification as written."""
    spec = parse_model_spec(text)
    name = MODELS.canonical(spec.base) if spec.source is None else spec.base
    return text if name == spec.base else format_model_spec(name, spec.filter)


def _filter_module(key: str, spec: str) -> nn.Module:
    """The checked, deterministic filter ``key`` of the model specification ``spec``."""
    fname, params = parse_condition_key(key)
    pert = make_perturbation(fname, params)
    if pert.random:
        raise ConfigError(f"{fname} is random; only deterministic filters can wrap a model ({spec!r})")
    return pert


def build_model(name: str, *, seed: int = 0, data: ArrayDataset | None = None) -> ModelUnderTest:
    """Build a registered model (optionally ``MODEL+FILTER``) in eval mode.

    With ``data``, adaptable models (``timm:``) take its channels, class count and image size; fixed
    models must already match it. Random-init models are seeded with ``seed`` so they are reproducible.
    """
    spec = parse_model_spec(name)
    base, sep, filt = spec.base, bool(spec.filter), spec.filter or ""
    torch.manual_seed(seed)
    fit: dict[str, Any] = {}
    if data is not None:
        c, h, w = data.shape
        fit = {"channels": c, "num_classes": data.info.num_classes, "input_size": (h, w)}
    module: nn.Module
    module, cfg = load_model_and_config(base, **fit)
    weights = cfg.weights.sha256 if cfg.weights is not None else f"random-init:seed={seed}"
    if sep:
        module = nn.Sequential(_filter_module(filt, name), module)
        weights += f"+{filt}"
    return ModelUnderTest(name=name, module=module.eval(), cfg=cfg, weights_sha256=weights)


def load_dataset(
    name: str, *, split: str = "test", root: Path | None = None, limit: int | None = None
) -> ArrayDataset:
    """A registered dataset, or its documented ``--limit`` subset (:meth:`ArrayDataset.subset`)."""
    return DATASETS.get(name)(DataRequest(split=split, root=root)).subset(limit)


def get_suite(name: str, options: SuiteOptions | None = None) -> Suite:
    """The suite ``name``; options it does not read are refused (:func:`.suites.base.build_suite`)."""
    return build_suite(name, options)


def list_names(kind: str, pattern: str = "*") -> list[str]:
    """Names in one registry: models, datasets, suites, perturbations, attacks, recipes.

    Aliases follow the names, marked ``NAME  (alias of CANONICAL)``; the C datasets (``cifar10c``)
    follow the datasets, marked with the suite that reads them; with ``*``, the prefix families last,
    as ``PREFIX:<...>  (help)``.
    """
    from freqbench.attacks import ATTACKS
    from freqbench.train.recipes import RECIPES

    registries: dict[str, Any] = {
        "models": MODELS,
        "datasets": DATASETS,
        "suites": SUITES,
        "perturbations": PERTURBATIONS,
        "attacks": ATTACKS,
        "recipes": RECIPES,
    }
    if kind not in registries:
        raise UnknownNameError(f"unknown kind {kind!r}; choose one of {', '.join(registries)}")
    reg = registries[kind]
    names: list[str] = reg.names(pattern)
    aliases = sorted(reg.aliases().items())
    names += [f"{a}  (alias of {n})" for a, n in aliases if fnmatch.fnmatchcase(a, pattern)]
    if kind == "datasets":  # read condition by condition beside their clean dataset, by their suite
        names += [f"{n}  (corrupted files: --suite {n})" for n in C_DATASETS.names(pattern)]
    if pattern == "*":
        names += [f"{p}:<...>  ({h})" for p, h in reg.prefixes().items()]
    return names


# provenance ---------------------------------------------------------------------------------------
def _git_hash() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "freqbench": __version__}
    for pkg in ("torch", "torchvision", "numpy", "timm", "torchattacks", "pyautoattack", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def manifest(
    config: RunConfig,
    suite: Suite,
    device: torch.device,
    models: Sequence[ModelUnderTest],
    *,
    data: ArrayDataset | None = None,
    available: int | None = None,
) -> dict[str, Any]:
    """The run's manifest: config, provenance (versions, weights, data) and this invocation.

    ``data`` is the evaluated (sub)set and ``available`` the size of the split it was taken from, so
    the report can say when ``--limit`` exceeded the dataset.
    """
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    dev = str(device) if device.type != "cuda" else f"{device} ({torch.cuda.get_device_name(device)})"
    out: dict[str, Any] = {
        "freqbench_version": __version__,
        "config": config.to_dict(),
        "suites": {suite.name: suite.version},
        "summaries": list(suite.summaries),
        "versions": _versions(),
        "git": _git_hash(),
        "device": dev,
        "seeds": {"run": config.seed, "derivation": "sha256(seed, condition key) x lowbias32(sample index)"},
        "models": {m.name: {"arch": m.cfg.arch, "weights": m.weights_sha256} for m in models},
        "created": now,
        "invocations": [{"time": now, "platform": platform.platform(), "device": dev}],
    }
    if data is not None:
        out["data"] = {
            "name": data.info.name,
            "split": data.info.split,
            "samples": len(data),
            "available": len(data) if available is None else available,
            "fingerprint": data.fingerprint(),
        }
    return out


# runs ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """What :func:`run` stored: the run directory, how many conditions it evaluated, every record."""

    store: RunStore
    evaluated: int
    records: list[Record]

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

    Raises:
        ConfigError: ``modules`` whose names are not ``config.models``, or a stored in-memory model
            to be rebuilt from its name (resume it with :func:`evaluate` and the module).
        StoreError: another configuration is stored, another process writes the directory, ``out``
            is a file or under one, the disk is full or read-only (the run can then be resumed).
    """
    suite = get_suite(config.suite, config.options)
    store = RunStore(config.out)
    store.check_location()
    if modules and tuple(m.label for m in modules) != config.models:
        raise ConfigError(
            f"in-memory models {[m.label for m in modules]} must be config.models {list(config.models)}"
        )
    if not force:
        if not modules:
            _check_buildable(store, config)
        _check_same_run(store, config)  # before the lock: a refused run touches nothing
    with store.writing(), torch_threads(config.num_threads):
        device = select_device(config.device)
        full = load_dataset(config.dataset, split=config.split, root=config.data_root)
        data = full.subset(config.limit)
        if modules:
            models = [_in_memory_under_test(m, data, device) for m in modules]
        else:
            models = [build_model(name, seed=config.seed, data=data) for name in config.models]
        new = manifest(config, suite, device, models, data=data, available=len(full))
        # again under the lock, now with the weights and data this run would use
        if force or _check_same_run(store, config, new):
            store.clear()
        store.recover()
        store.write_manifest(new)
        progress = progress or QuietProgress()
        evaluated = sum(
            run_model(m, data, suite, config=config, store=store, device=device, progress=progress)
            for m in models
        )
        records = store.records()
    return RunResult(store=store, evaluated=evaluated, records=records)


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


# regression gate ----------------------------------------------------------------------------------
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


# data ---------------------------------------------------------------------------------------------
def import_data(
    name: str, path: Path | Sequence[Path], *, report: Callable[[str], None] | None = None
) -> Path:
    """Verify ``path`` and copy it into the cache, as dataset ``name`` or as the weights of model ``name``.

    A dataset import is all or nothing (:func:`freqbench.data.catalog.import_dataset`); ``path`` may be
    several paths for datasets whose files come one by one (MNIST-style IDX files).
    """
    from freqbench.data.catalog import import_dataset
    from freqbench.data.sources import SOURCES
    from freqbench.models import import_weights

    if name in SOURCES:
        return import_dataset(name, path, report=report)
    if name in MODELS:
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        if len(paths) != 1:
            raise ConfigError(f"model weights are one file; got {len(paths)} paths for {name!r}")
        dest = import_weights(name, Path(paths[0]))
        if report:
            report(f"verified and copied {paths[0]} -> {dest}")
        return dest
    raise UnknownNameError(
        f"{name!r} is neither a dataset ({', '.join(SOURCES.names())}) nor a model with pretrained weights "
        "(`freqbench ls models`)"
    )


@dataclass(frozen=True)
class MadeC:
    """What ``make_c`` wrote.

    Attributes:
        folder: the C folder (``<out>/<DATASET>-C``).
        command: the exact command that evaluates it (``--model MODEL`` left to fill in).
    """

    folder: Path
    command: str


def _check_output_folder(out: Path, folder: Path) -> None:
    """``out`` must be (or become) a folder, and ``folder`` inside it must not hold files yet."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--out {out}: {parent} is a file, not a folder; pass a folder")
            break
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(
            f"{folder} already exists; make-c writes a complete folder and never mixes its files with "
            "others: pass another --out, or delete it first"
        )


def make_c(
    dataset: str,
    out: Path,
    *,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    data_root: Path | None = None,
    limit: int | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> MadeC:
    """Write ``dataset``'s test split corrupted in the released CIFAR-10-C layout, all or nothing.

    Each image is corrupted on the engine's own path (:func:`freqbench.engine.batches.condition_batches`)
    under the ``corruptions`` suite's conditions (:func:`freqbench.suites.corruptions.corruption_conditions`,
    keys ``<corruption>@<severity>``), so with the same per-sample random streams (seed, condition key,
    sample index) as the on-the-fly suite, and the C dataset suite run by :attr:`MadeC.command`
    reproduces the on-the-fly accuracies for the same seed. Only severities 1..5
    all together make a released-layout file; ``severities`` is accepted only as all five. With
    ``limit``, the documented subset (:meth:`ArrayDataset.subset`) is written together with its sample
    indices (``indices.npy``), and that suite with the same ``--limit`` reads it back. Everything is
    written into a staging folder beside ``<out>/<DATASET>-C`` and renamed onto it at the end; a
    failure or Ctrl-C leaves nothing.

    Raises:
        ConfigError: bad options (batch size, limit, seed, severities), or the output folder is a file
            or already holds files.
    """
    import numpy as np

    from freqbench.config import SEED_LIMIT
    from freqbench.corruption_names import ALL, BENCHMARK, SEVERITIES
    from freqbench.data.c_command import read_back_command
    from freqbench.data.cifar_c import CWriter, c_folder_name
    from freqbench.engine.batches import condition_batches
    from freqbench.engine.steps import StepContext, build_step
    from freqbench.store.files import staged_directory
    from freqbench.suites.corruptions import corruption_conditions

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {batch_size}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive integer, got {limit}; omit it for the whole split")
    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"--seed must be an integer in [0, 2**64), got {seed}")
    names = tuple(corruptions) if corruptions else BENCHMARK
    for c in names:
        if c not in ALL:
            PERTURBATIONS.get(c)  # raises with suggestions for unknown names
            raise ConfigError(f"{c!r} is not a CIFAR-10-C corruption; choose from {', '.join(ALL)}")
    if severities and tuple(sorted(severities)) != SEVERITIES:
        raise ConfigError("the released layout stores all five severities per file; drop --severities")
    out = Path(out)
    final = out / c_folder_name(dataset)
    _check_output_folder(out, final)
    data = load_dataset(dataset, root=data_root, limit=limit)
    dev = select_device(device)
    progress = progress or QuietProgress()
    # the corruptions suite's conditions (clean dropped): its keys seed the per-sample streams
    conditions = corruption_conditions(names, SEVERITIES)[1:]
    ctx = StepContext(device=dev, data_request=DataRequest(split=data.info.split, root=data_root))
    with staged_directory(final) as staging:
        with CWriter(staging, data.labels, folder="", indices=data.indices) as writer:
            for cond in conditions:
                block = np.empty((len(data), *data.images.shape[1:]), np.uint8)
                for b in condition_batches(
                    data,
                    build_step(cond, ctx),
                    cond,
                    seed=seed,
                    batch_size=batch_size,
                    device=dev,
                    progress=progress,
                    label=f"make-c {cond.key}",
                ):
                    y8 = (b.out * 255).round().clamp(0, 255).to(torch.uint8)
                    block[b.rows] = y8.permute(0, 2, 3, 1).cpu().numpy()
                writer.write(cond.tags["corruption"], cond.tags["severity"], block)
    return MadeC(final, read_back_command(dataset, final, data_root=data_root, seed=seed))


# notebooks ----------------------------------------------------------------------------------------
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


def _as_tuple(value: Any, convert: Callable[[Any], Any]) -> tuple[Any, ...] | None:
    """``None``, one value or a sequence of values as a tuple (a string is one value)."""
    if value is None:
        return None
    items = [value] if isinstance(value, (str, int, float)) else list(value)
    return tuple(convert(v) for v in items)


def _severity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"severities are integers 1..5, got {value!r}")
    return value


def evaluate(
    model: str | nn.Module,
    *,
    dataset: str,
    suite: str,
    limit: int | None = None,
    out: Path | str | None = None,
    name: str | None = None,
    num_classes: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    split: str = "test",
    data_root: Path | str | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device: str = "auto",
    threads: int | None = None,
    eps: str | float | Sequence[str | float] | None = None,
    corruptions: str | Sequence[str] | None = None,
    severities: int | Sequence[int] | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> RunResult:
    """Evaluate one model on ``dataset`` under ``suite``: ``freqbench run`` for notebooks.

    ``model`` is a model specification (a registered name, ``timm:...``, ``MODEL+FILTER``; a pattern
    evaluates every match) or an in-memory ``nn.Module`` taking [0, 1] images (B, C, H, W) and
    returning logits (B, K), as RobustBench's ``benchmark`` takes one. For a module, ``name`` is the
    name its results are stored under (default ``module:<ClassName>``), ``num_classes`` its number of
    logits (default: read from one forward pass on the dataset's first image), and ``mean`` / ``std``
    the normalisation freqbench applies before it (default: none, the module normalises its input).
    The input size is the dataset's. The module is put in eval mode and moved to ``device``; its
    ``state_dict`` fingerprint (:func:`freqbench.models.in_memory.state_dict_sha256`) enters the
    manifest and every result key.

    The other options are :class:`~freqbench.config.RunConfig`'s and
    :class:`~freqbench.config.SuiteOptions`' (``threads`` is ``num_threads``; ``eps``, ``corruptions``
    and ``severities`` take one value or several); the config is built once, here, and handed to
    :func:`run`, the one run path.

    ``out`` persists the run: a directory that holds this configuration is resumed (stored conditions
    are skipped), one that holds another configuration, or the same name with other weights, is
    refused unless ``force`` (which deletes it). With ``out=None`` the run goes to a new temporary
    directory (``tempfile.mkdtemp(prefix="freqbench-")``, in the system's temporary folder), which is
    left in place so that ``result.store`` stays readable (a run that fails removes it).

    Returns:
        The :class:`RunResult`; ``result.to_pandas()`` is the tidy table of its records.

    Raises:
        ConfigError: bad options, or ``name``/``num_classes``/``mean``/``std`` with a registered model.
        IncompatibleError: a model that does not fit the dataset (channels, size, classes).
        StoreError: ``out`` holds another configuration or other weights under the same name.
    """
    facts = {"name": name, "num_classes": num_classes, "mean": mean, "std": std}
    modules: tuple[InMemoryModel, ...] = ()
    names: tuple[str, ...]
    if isinstance(model, nn.Module):
        modules = (InMemoryModel(model, name=name, num_classes=num_classes, mean=mean, std=std),)
        names = (modules[0].label,)
    elif isinstance(model, str):
        given = [k for k, v in facts.items() if v is not None]
        if given:
            raise ConfigError(
                f"{', '.join(given)} describe an in-memory nn.Module; the model {model!r} has its own "
                "config (`freqbench ls models`): drop them"
            )
        names = expand_models([model])
    else:
        raise ConfigError(
            f"model must be a model name (`freqbench ls models`) or a torch nn.Module, got "
            f"{type(model).__name__}"
        )
    options = SuiteOptions(
        eps=_as_tuple(eps, str),
        corruptions=_as_tuple(corruptions, str),
        severities=_as_tuple(severities, _severity),
    )
    config = RunConfig(
        suite=suite,
        models=names,
        dataset=dataset,
        split=split,
        limit=limit,
        batch_size=batch_size,
        device=device,
        seed=seed,
        out=Path(out).expanduser() if out is not None else Path(),
        data_root=None if data_root is None else Path(data_root).expanduser().resolve(),
        options=options,
        num_threads=threads,
    )
    get_suite(config.suite, config.options)  # refuse bad options before a directory is made
    if out is not None:
        return run(config, progress=progress, force=force, modules=modules)
    config = config.replace(out=Path(tempfile.mkdtemp(prefix="freqbench-")))
    try:
        return run(config, progress=progress, force=force, modules=modules)
    except BaseException:
        shutil.rmtree(config.out, ignore_errors=True)  # nobody else knows this directory
        raise


def load_model(name: str, *, seed: int = 0) -> nn.Module:
    """The model ``name`` (any model specification), in eval mode, with its config as ``model.cfg``.

    ``model.cfg`` is the :class:`~freqbench.models.ModelConfig` of what was built (classes, input
    size, mean/std, the weights actually loaded). A random initialisation is seeded with ``seed``.
    (:func:`freqbench.models.load_model` is the lower-level ``(model, cfg)`` form.)
    """
    built = build_model(name, seed=seed)
    # a plain attribute, outside the state_dict (nn.Module's __setattr__ is typed for tensors only)
    built.module.cfg = built.cfg  # type: ignore[assignment]
    return built.module


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching ``pattern`` (fnmatch wildcards; ``'robustbench:*'`` too)."""
    return MODELS.names(pattern)
