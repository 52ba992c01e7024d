"""The one evaluation loop over (model, dataset, suite).

Per condition: resolve the step, skip it if its content key is already stored, then evaluate the
dataset in batches (halving the batch on out-of-memory), collect per-sample results (prediction,
correctness, loss, logit margin, perturbation norms) and the summed radial energy of the
perturbation, aggregate, and store the condition atomically. Randomness is derived from (run seed,
condition key, sample index) through :class:`~freqbench.ops.random.SampleGenerator`, so results do
not depend on the batch size (attacks that use torchattacks' global RNG are the documented exception).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from freqbench._version import __version__
from freqbench.config import RunConfig
from freqbench.data import ArrayDataset, DataRequest
from freqbench.engine.progress import Progress
from freqbench.engine.steps import Step, StepContext, build_step
from freqbench.errors import ConfigError, IncompatibleError, NonFiniteError, StoreError
from freqbench.models import ModelConfig
from freqbench.ops.random import SampleGenerator, sample_keys
from freqbench.ops.spectrum import band_energy, band_fractions, radial_energy
from freqbench.store.aggregate import DIAGNOSTIC_PREFIX, summarize
from freqbench.store.run import Record, RunStore, content_key
from freqbench.suites.base import Condition, Suite


@dataclass(frozen=True)
class ModelUnderTest:
    """A built model and its provenance."""

    name: str
    module: nn.Module
    cfg: ModelConfig
    weights_sha256: str


def _cpu_problem(dev: torch.device) -> str | None:
    return None if dev.index in (None, 0) else "the CPU has no device index; use --device cpu"


def _cuda_problem(dev: torch.device) -> str | None:
    if not torch.cuda.is_available():
        return "torch sees no CUDA device; use --device cpu"
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        return f"torch sees {count} CUDA device(s), cuda:0..cuda:{count - 1}"
    return None


def _mps_problem(dev: torch.device) -> str | None:
    if not torch.backends.mps.is_available():
        return "torch sees no Apple MPS device on this machine; use --device cpu"
    return None


#: device types an evaluation can run on, each with its availability check (None: usable)
DEVICE_CHECKS: dict[str, Callable[[torch.device], str | None]] = {
    "cpu": _cpu_problem,
    "cuda": _cuda_problem,
    "mps": _mps_problem,
}


def select_device(spec: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cpu``, ``cuda``, ``cuda:N``, ``mps`` when available.

    Raises:
        ConfigError: not a device name, or a device type nothing can be evaluated on (``meta``).
        IncompatibleError: a device this machine does not have (``cuda`` without CUDA, ``cuda:5``).
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    accepted = "auto, cpu, cuda, cuda:N or mps"
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"--device {spec!r} is not a device name; expected {accepted}") from None
    check = DEVICE_CHECKS.get(dev.type)
    if check is None:
        raise ConfigError(
            f"--device {spec!r}: freqbench cannot evaluate on {dev.type!r} devices; expected {accepted}"
        )
    problem = check(dev)
    if problem is not None:
        raise IncompatibleError(f"--device {spec} is not available: {problem}")
    return dev


def check_compatible(model: ModelUnderTest, data: ArrayDataset, device: torch.device) -> None:
    """Channels, input size and class count must agree before any work is done."""
    c, h, w = data.shape
    mc, mh, mw = model.cfg.input_size
    problems = []
    if mc != c:
        problems.append(f"the model takes {mc}-channel images, the dataset has {c} channels")
    if (mh is not None and mh != h) or (mw is not None and mw != w):
        problems.append(f"the model expects {mh}x{mw} inputs, the dataset's images are {h}x{w}")
    if model.cfg.num_classes != data.info.num_classes:
        problems.append(f"the model has {model.cfg.num_classes} classes, the dataset {data.info.num_classes}")
    if problems:
        raise IncompatibleError(
            f"{model.name} cannot be evaluated on {data.info.name}: "
            + "; ".join(problems)
            + ". Pick a matching --model/--dataset pair (`freqbench ls models`)."
        )
    x, _ = data.batch(np.arange(1))
    with torch.no_grad():
        out = model.module(x.to(device))
    if out.shape != (1, model.cfg.num_classes):
        raise IncompatibleError(
            f"{model.name} returned logits of shape {tuple(out.shape)} for one image, "
            f"expected (1, {model.cfg.num_classes})"
        )


def is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "can't allocate memory" in str(err)


def condition_key(
    model: ModelUnderTest, data: ArrayDataset, suite: Suite, cond: Condition, step: Step, config: RunConfig
) -> str:
    """Content key: model spec + weights, dataset + subset, condition spec, suite version, versions.

    The model enters through :meth:`ModelConfig.result_spec` (what decides its outputs, as JSON) and
    the fingerprint of the weights loaded, never through its provenance text; replayed files through
    the sha256 of the bytes read (in ``step.spec``).
    """
    return content_key(
        {
            "model": {"name": model.name, "spec": model.cfg.result_spec(), "weights": model.weights_sha256},
            "dataset": {
                "name": data.info.name,
                "split": data.info.split,
                "n": len(data),
                "sha": data.fingerprint(),
            },
            "condition": {**cond.spec(), "step": step.spec},
            "suite": {"name": suite.name, "version": suite.version},
            "seed": config.seed,
            "freqbench": __version__,
        }
    )


def record_scope(
    model: ModelUnderTest, data: ArrayDataset, suite: Suite, config: RunConfig
) -> dict[str, Any]:
    """What decides a record besides (model, dataset, suite, condition, n): ``Record.scope``.

    ``freqbench check`` compares records only where these agree. Code versions stay out on purpose:
    the gate exists to compare a new version's results with a baseline's.
    """
    return {
        "split": data.info.split,
        "limit": config.limit,
        "subset": data.fingerprint()[:20],
        "seed": config.seed,
        "suite_version": suite.version,
        "weights": model.weights_sha256,
    }


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


class _Collector:
    """Per-sample arrays and the perturbation's radial energy, filled batch by batch.

    Besides the fixed arrays it stores, for conditions that change the input, the per-sample band
    fractions ``delta_band_fractions`` (n, 3) (NaN for an unchanged image), the dataset-level
    energy-weighted ``band_fractions`` (3,) and the mean radial spectrum ``delta_energy``
    (:mod:`freqbench.ops.spectrum`), and each diagnostic of the step as ``diag_<name>`` (n,)
    (:meth:`freqbench.engine.steps.Step.diagnostics`).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrays: dict[str, np.ndarray] = {
            "index": np.zeros(n, np.int64),
            "label": np.zeros(n, np.int64),
            "pred": np.zeros(n, np.int64),
            "correct": np.zeros(n, bool),
            "loss": np.zeros(n, np.float32),
            "margin": np.zeros(n, np.float32),
            "delta_linf": np.zeros(n, np.float32),
            "delta_l2": np.zeros(n, np.float32),
        }
        self.energy: torch.Tensor | None = None
        self.bands: torch.Tensor | None = None
        self.diag_names: frozenset[str] | None = None

    def add(
        self,
        sl: slice,
        idx: np.ndarray,
        x: torch.Tensor,
        x2: torch.Tensor,
        y: torch.Tensor,
        logits: torch.Tensor,
        diagnostics: dict[str, torch.Tensor] | None = None,
    ) -> None:
        logits = logits.float()
        loss = F.cross_entropy(logits, y, reduction="none")
        true = logits.gather(1, y[:, None]).squeeze(1)
        other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
        pred = logits.argmax(1)
        a = self.arrays
        a["index"][sl] = idx
        a["label"][sl] = y.cpu().numpy()
        a["pred"][sl] = pred.cpu().numpy()
        a["correct"][sl] = (pred == y).cpu().numpy()
        a["loss"][sl] = loss.cpu().numpy()
        a["margin"][sl] = (true - other).cpu().numpy()
        if x2 is not x:  # the identity step returns its input: nothing to measure
            delta = (x2 - x).float()
            flat = delta.flatten(1)
            a["delta_linf"][sl] = flat.abs().amax(1).cpu().numpy()
            a["delta_l2"][sl] = flat.norm(dim=1).cpu().numpy()
            e = radial_energy(delta).sum(0).cpu()
            self.energy = e if self.energy is None else self.energy + e
            bands = band_energy(delta).cpu()
            if self.bands is None:
                self.bands = torch.zeros(self.n, bands.shape[1], dtype=torch.float64)
            self.bands[sl] = bands
        self._add_diagnostics(sl, diagnostics or {})

    def _add_diagnostics(self, sl: slice, diagnostics: dict[str, torch.Tensor]) -> None:
        names = frozenset(diagnostics)
        if self.diag_names is None:
            self.diag_names = names
            for name in names:
                self.arrays[DIAGNOSTIC_PREFIX + name] = np.full(self.n, np.nan, np.float64)
        elif names != self.diag_names:
            raise ConfigError(
                f"diagnostics changed between batches: {sorted(self.diag_names)} then {sorted(names)}; "
                "a transform's diagnostics() must return the same names for every batch"
            )
        for name, value in diagnostics.items():
            self.arrays[DIAGNOSTIC_PREFIX + name][sl] = value.numpy()

    def finish(self) -> dict[str, np.ndarray]:
        out = dict(self.arrays)
        if self.energy is not None:
            n = len(out["index"])
            out["delta_energy"] = (self.energy / n).numpy()
        if self.bands is not None:
            # per sample (NaN where delta = 0) and energy-weighted over the dataset
            out["delta_band_fractions"] = band_fractions(self.bands).numpy()
            out["band_fractions"] = band_fractions(self.bands.sum(0)).numpy()
        return out


def evaluate_condition(
    model: ModelUnderTest,
    data: ArrayDataset,
    step: Step,
    cond: Condition,
    *,
    config: RunConfig,
    device: torch.device,
    progress: Progress,
) -> dict[str, np.ndarray]:
    """Per-sample results of one condition over the whole dataset."""
    n = len(data)
    col = _Collector(n)
    bs = config.batch_size
    start = 0
    task = progress.start(f"{model.name} · {cond.key}", n)
    while start < n:
        stop = min(n, start + bs)
        rows = np.arange(start, stop)
        idx = data.indices[rows]  # stable sample indices: seeds and replayed files follow them
        try:
            x, y = data.batch(rows)
            x, y = x.to(device), y.to(device)
            g = SampleGenerator(sample_keys(config.seed, cond.key, torch.from_numpy(idx)).to(device))
            grad = torch.enable_grad() if step.needs_grad else torch.no_grad()
            with grad:
                x2 = step(model.module, x, y, idx, g)
            if x2.requires_grad:
                x2 = x2.detach()
            with torch.no_grad():
                logits = model.module(x2)
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err) or bs == 1:
                raise
            bs //= 2
            if device.type == "cuda":
                torch.cuda.empty_cache()
            progress.note(f"out of memory: batch size lowered to {bs}")
            continue
        check_finite(model, cond, logits, idx)
        col.add(slice(start, stop), idx, x, x2, y, logits, step.diagnostics(x, x2))
        progress.advance(task, stop - start)
        start = stop
    progress.finish(task)
    return col.finish()


def check_finite(model: ModelUnderTest, cond: Condition, logits: torch.Tensor, idx: np.ndarray) -> None:
    """Refuse NaN or infinite logits: argmax over NaN picks a class, and its accuracy means nothing.

    Raises:
        NonFiniteError: naming the model, the condition and the first affected samples.
    """
    bad = ~torch.isfinite(logits).all(1)
    if not bool(bad.any()):
        return
    rows = np.flatnonzero(bad.cpu().numpy())
    shown = ", ".join(str(i) for i in idx[rows[:5]]) + (", ..." if len(rows) > 5 else "")
    raise NonFiniteError(
        f"{model.name} returned non-finite logits (NaN or inf) under condition {cond.key} for "
        f"{len(rows)} of {len(logits)} images of the batch (sample indices {shown}); no result is "
        "stored. Check the model's weights (for example for NaN tensors) and its input."
    )


def _stored_keys(
    store: RunStore, model: ModelUnderTest, data: ArrayDataset, suite: Suite
) -> dict[str, set[str]]:
    """Condition -> content keys already stored for this model, dataset and suite."""
    out: dict[str, set[str]] = {}
    for r in store.records():
        if (r.model, r.dataset, r.suite) == (model.name, data.info.name, suite.name):
            out.setdefault(r.condition, set()).add(r.key)
    return out


def run_model(
    model: ModelUnderTest,
    data: ArrayDataset,
    suite: Suite,
    *,
    config: RunConfig,
    store: RunStore,
    device: torch.device,
    progress: Progress,
) -> int:
    """Evaluate every condition of ``suite`` not yet stored; returns the number evaluated.

    A condition is skipped only when its content key is stored. If the run directory holds the same
    (model, dataset, suite, condition) under another key, what decides the result changed since
    (the weights behind the name, the dataset or replayed files, the seed or freqbench's version):
    that is refused before any work, since the directory would otherwise mix two results of one cell.
    Resumable state (reference AutoAttack) lives in ``state/<content key>/``.

    Raises:
        StoreError: the directory holds results of this model computed from other inputs.
    """
    model.module.eval().to(device)
    check_compatible(model, data, device)
    done = store.completed_keys()
    ctx = StepContext(
        device=device,
        data_request=DataRequest(split=config.split, root=config.data_root),
        state_dir=store.root / "state",
    )
    plan = []
    for cond in suite.conditions:
        step = build_step(cond, ctx)
        plan.append((cond, step, condition_key(model, data, suite, cond, step, config)))
    stored = _stored_keys(store, model, data, suite)
    changed = [c.key for c, _, key in plan if stored.get(c.key, set()) - {key}]
    if changed:
        more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
        raise StoreError(
            f"{store.root} already holds {model.name} / {data.info.name} / {', '.join(changed[:3])}{more} "
            "computed from other inputs (the model's weights, the dataset or replayed files, the seed "
            f"or the freqbench version differ from this run's); use another --out to keep both, or start "
            f"over with `freqbench run --force --out {store.root} ...`"
        )
    evaluated = 0
    clean_correct: np.ndarray | None = None  # the suite's first condition is always clean
    for cond, step, key in plan:
        if step.bind_state is not None:
            step.bind_state(ctx.state_dir / key)
        if key in done:
            progress.note(f"skip {model.name} · {cond.key} (stored)")
            if clean_correct is None:
                clean_correct = store.arrays(key)["correct"]
            continue
        arrays = evaluate_condition(model, data, step, cond, config=config, device=device, progress=progress)
        if clean_correct is None:
            clean_correct = arrays["correct"]
        else:
            # flipped by the condition: for attacks, the attack's success on initially correct samples
            arrays["clean_correct"] = clean_correct
            arrays["success"] = clean_correct & ~arrays["correct"]
        scope = record_scope(model, data, suite, config)
        records = make_records(model.name, data, suite, cond, step, key, arrays, scope=scope)
        store.write_condition(key, records, arrays)
        evaluated += 1
    return evaluated


def make_records(
    model_name: str,
    data: ArrayDataset,
    suite: Suite,
    cond: Condition,
    step: Step,
    key: str,
    arrays: dict[str, Any],
    *,
    scope: dict[str, Any] | None = None,
) -> list[Record]:
    # ``signed``: the model saw values outside [0, 1]; reports mark such conditions
    tags = {"kind": str(cond.kind), "transform": cond.transform, "signed": step.signed, **cond.tags}
    return [
        Record(
            model=model_name,
            dataset=data.info.name,
            suite=suite.name,
            condition=cond.key,
            metric=e.metric,
            value=e.value,
            n=e.n,
            ci_low=e.ci_low,
            ci_high=e.ci_high,
            key=key,
            tags=tags,
            info=step.spec,
            scope=dict(scope or {}),
        )
        for e in summarize(arrays)
    ]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's CPU thread count."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


__all__ = ["ModelUnderTest", "check_compatible", "evaluate_condition", "run_model", "select_device"]
