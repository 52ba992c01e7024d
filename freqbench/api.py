"""The facade: names -> objects, provenance, runs. What the CLI and notebooks call.

>>> from freqbench import api                                    # doctest: +SKIP
>>> result = api.run(RunConfig(suite="frequency", limit=200))    # doctest: +SKIP
>>> print(api.render(result.store.root, "md"))                   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freqbench._version import __version__
from freqbench.config import RunConfig, SuiteOptions
from freqbench.data import DATASETS, ArrayDataset, DataRequest
from freqbench.engine.loop import ModelUnderTest, run_model, select_device, torch_threads
from freqbench.engine.progress import Progress, QuietProgress
from freqbench.errors import ConfigError, MissingDataError, RegressionError, UnknownNameError
from freqbench.models import MODELS, load_model
from freqbench.perturbations import PERTURBATIONS
from freqbench.report.render import RENDERERS, Format
from freqbench.store.run import Record, RunStore, read_records
from freqbench.suites import SUITES, Suite
from freqbench.suites.base import parse_condition_key

#: ``MODEL+FILTER`` evaluates MODEL behind a frequency-suite filter (attacks go through it)
FILTER_SEP = "+"


# names -> objects ---------------------------------------------------------------------------------
def expand_models(patterns: Sequence[str]) -> tuple[str, ...]:
    """Expand wildcards against the model registry; names without wildcards pass through."""
    out: list[str] = []
    for pat in patterns:
        base, sep, filt = pat.partition(FILTER_SEP)
        if any(ch in base for ch in "*?["):
            found = MODELS.names(base)
            if not found:
                raise UnknownNameError(f"no model matches {base!r}; see `freqbench ls models`")
            out += [f + sep + filt for f in found]
        else:
            out.append(pat)
    return tuple(dict.fromkeys(out))


def build_model(name: str, *, seed: int = 0, data: ArrayDataset | None = None) -> ModelUnderTest:
    """Build a registered model (optionally ``MODEL+FILTER``) in eval mode.

    With ``data``, adaptable models (``timm:``) take its channels, class count and image size; fixed
    models must already match it. Random-init models are seeded with ``seed`` so they are reproducible.
    """
    base, sep, filt = name.partition(FILTER_SEP)
    torch.manual_seed(seed)
    fit: dict[str, Any] = {}
    if data is not None:
        c, h, w = data.shape
        fit = {"channels": c, "num_classes": data.info.num_classes, "input_size": (h, w)}
    module: nn.Module
    module, cfg = load_model(base, **fit)
    weights = cfg.weights.sha256 if cfg.weights is not None else f"random-init:seed={seed}"
    if sep:
        fname, params = parse_condition_key(filt)
        pert = PERTURBATIONS.get(fname)(**params)
        if pert.random:
            raise ConfigError(f"{fname} is random; only deterministic filters can wrap a model ({name!r})")
        module = nn.Sequential(pert, module)
        weights += f"+{filt}"
    return ModelUnderTest(name=name, module=module.eval(), cfg=cfg, weights_sha256=weights)


def load_dataset(
    name: str, *, split: str = "test", root: Path | None = None, limit: int | None = None
) -> ArrayDataset:
    """A registered dataset, or its documented ``--limit`` subset (:meth:`ArrayDataset.subset`)."""
    return DATASETS.get(name)(DataRequest(split=split, root=root)).subset(limit)


def get_suite(name: str, options: SuiteOptions | None = None) -> Suite:
    return SUITES.get(name)(options or SuiteOptions())


def list_names(kind: str, pattern: str = "*") -> list[str]:
    """Names in one registry: models, datasets, suites, perturbations, attacks."""
    from freqbench.attacks import ATTACKS

    registries: dict[str, Any] = {
        "models": MODELS,
        "datasets": DATASETS,
        "suites": SUITES,
        "perturbations": PERTURBATIONS,
        "attacks": ATTACKS,
    }
    if kind not in registries:
        raise UnknownNameError(f"unknown kind {kind!r}; choose one of {', '.join(registries)}")
    reg = registries[kind]
    names: list[str] = reg.names(pattern)
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
    for pkg in ("torch", "torchvision", "numpy", "timm", "torchattacks", "pyautoattack", "kornia", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def manifest(
    config: RunConfig, suite: Suite, device: torch.device, models: Sequence[ModelUnderTest]
) -> dict[str, Any]:
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return {
        "freqbench_version": __version__,
        "config": config.to_dict(),
        "suites": {suite.name: suite.version},
        "summaries": list(suite.summaries),
        "versions": _versions(),
        "git": _git_hash(),
        "device": str(device)
        if device.type != "cuda"
        else f"{device} ({torch.cuda.get_device_name(device)})",
        "seeds": {"run": config.seed, "derivation": "sha256(seed, condition key) x lowbias32(sample index)"},
        "models": {m.name: {"arch": m.cfg.arch, "weights": m.weights_sha256} for m in models},
        "created": now,
        "invocations": [{"time": now, "platform": platform.platform()}],
    }


# runs ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    store: RunStore
    evaluated: int
    records: list[Record]


def run(config: RunConfig, *, progress: Progress | None = None) -> RunResult:
    """Evaluate every model of ``config`` on its dataset and suite, skipping stored conditions."""
    suite = get_suite(config.suite, config.options)
    store = RunStore(config.out)
    if store.exists():
        _check_same_run(store, config)
    with torch_threads(config.num_threads):
        device = select_device(config.device)
        data = load_dataset(config.dataset, split=config.split, root=config.data_root, limit=config.limit)
        models = [build_model(name, seed=config.seed, data=data) for name in config.models]
        store.write_manifest(manifest(config, suite, device, models))
        progress = progress or QuietProgress()
        evaluated = sum(
            run_model(m, data, suite, config=config, store=store, device=device, progress=progress)
            for m in models
        )
    return RunResult(store=store, evaluated=evaluated, records=store.records())


def _check_same_run(store: RunStore, config: RunConfig) -> None:
    """Resuming into a directory of another suite would mix tables; refuse clearly."""
    old = store.read_manifest().get("config", {})
    if old.get("suite") not in (None, config.suite):
        raise ConfigError(
            f"{store.root} holds a {old.get('suite')!r} run; use another --out for suite {config.suite!r}"
        )


def render(run_dir: Path | str, fmt: Format | str) -> str:
    """A stored run as markdown, CSV or JSON."""
    store = RunStore(run_dir)
    return RENDERERS[Format(fmt)](store.records(), store.read_manifest())


# regression gate ----------------------------------------------------------------------------------
def check(
    run_dir: Path | str, baseline: Path | str, *, tolerance: float = 0.0, metric: str = "accuracy"
) -> list[str]:
    """Compare a run with baseline records; return one line per problem (empty: passed).

    A problem is a (model, dataset, condition) of the baseline that is missing from the run, or whose
    ``metric`` dropped by more than ``tolerance`` percentage points.
    """
    current = {
        (r.model, r.dataset, r.condition): r for r in RunStore(run_dir).records() if r.metric == metric
    }
    base_path = Path(baseline)
    if not base_path.is_file():
        raise MissingDataError(
            f"baseline file {base_path} not found; create one from a run with "
            f"`cp RUN_DIR/records.jsonl {base_path}`"
        )
    base_records = read_records(base_path)
    if not any(r.metric == metric for r in base_records):
        raise RegressionError(f"baseline {base_path} holds no {metric} records")
    problems = []
    for r in base_records:
        if r.metric != metric:
            continue
        key = (r.model, r.dataset, r.condition)
        now = current.get(key)
        if now is None:
            problems.append(
                f"missing: {r.model} / {r.dataset} / {r.condition} (baseline {100 * r.value:.2f}%)"
            )
        elif 100 * (r.value - now.value) > tolerance:
            problems.append(
                f"dropped: {r.model} / {r.dataset} / {r.condition}: {100 * now.value:.2f}% < baseline "
                f"{100 * r.value:.2f}% - {tolerance:g} points"
            )
    return problems


# data ---------------------------------------------------------------------------------------------
def import_data(name: str, path: Path, *, report: Callable[[str], None] | None = None) -> Path:
    """Verify ``path`` and copy it into the cache, as dataset ``name`` or as the weights of model ``name``."""
    from freqbench.data.catalog import import_dataset
    from freqbench.data.sources import SOURCES
    from freqbench.models import import_weights

    if name in SOURCES:
        return import_dataset(name, path, report=report)
    if name in MODELS:
        dest = import_weights(name, path)
        if report:
            report(f"verified and copied {path} -> {dest}")
        return dest
    raise UnknownNameError(
        f"{name!r} is neither a dataset ({', '.join(SOURCES.names())}) nor a model with pretrained weights "
        "(`freqbench ls models`)"
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
) -> Path:
    """Write ``dataset``'s test split corrupted in the released CIFAR-10-C layout.

    Each image is corrupted with the same per-sample random stream as the on-the-fly ``corruptions``
    suite (seed, condition key ``<corruption>@<severity>``, sample index), so ``cifar10c --data-root OUT``
    reproduces the on-the-fly accuracies for the same seed. Only severities 1..5 all together make a
    released-layout file; ``severities`` restricts which are *computed* and is accepted only as all five.
    """
    import numpy as np

    from freqbench.corruption_names import ALL, BENCHMARK, SEVERITIES
    from freqbench.data.cifar_c import CWriter, c_folder_name
    from freqbench.ops.random import SampleGenerator, sample_keys

    names = tuple(corruptions) if corruptions else BENCHMARK
    for c in names:
        if c not in ALL:
            PERTURBATIONS.get(c)  # raises with suggestions for unknown names
            raise ConfigError(f"{c!r} is not a CIFAR-10-C corruption; choose from {', '.join(ALL)}")
    if severities and tuple(sorted(severities)) != SEVERITIES:
        raise ConfigError("the released layout stores all five severities per file; drop --severities")
    data = load_dataset(dataset, root=data_root, limit=limit)
    dev = select_device(device)
    progress = progress or QuietProgress()
    n = len(data)
    with CWriter(out, data.labels, folder=c_folder_name(dataset)) as writer:
        for c in names:
            for s in SEVERITIES:
                module = PERTURBATIONS.get(c)(severity=s).to(dev)
                key = f"{c}@{s}"
                block = np.empty((n, *data.images.shape[1:]), np.uint8)
                task = progress.start(f"make-c {key}", n)
                for start in range(0, n, batch_size):
                    rows = np.arange(start, min(n, start + batch_size))
                    x, _ = data.batch(rows)
                    keys = sample_keys(seed, key, torch.from_numpy(data.indices[rows]))
                    with torch.no_grad():
                        y = module(x.to(dev), SampleGenerator(keys.to(dev)))
                    y8 = (y * 255).round().clamp(0, 255).to(torch.uint8)
                    block[rows] = y8.permute(0, 2, 3, 1).cpu().numpy()
                    progress.advance(task, len(rows))
                progress.finish(task)
                writer.write(c, s, block)
    return writer.folder
