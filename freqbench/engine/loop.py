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
import re
from collections.abc import Iterator
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
from freqbench.errors import IncompatibleError
from freqbench.models import ModelConfig
from freqbench.ops.random import SampleGenerator, sample_keys
from freqbench.ops.spectrum import band_fractions, radial_energy
from freqbench.store.aggregate import summarize
from freqbench.store.run import Record, RunStore, content_key
from freqbench.suites.base import Condition, Suite


@dataclass(frozen=True)
class ModelUnderTest:
    """A built model and its provenance."""

    name: str
    module: nn.Module
    cfg: ModelConfig
    weights_sha256: str


def select_device(spec: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise IncompatibleError(
            f"--device {spec} asked for CUDA but torch sees no CUDA device; use --device cpu"
        )
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
    """Content key: model cfg + weights, dataset + subset, condition spec, suite version, versions."""
    return content_key(
        {
            "model": {"name": model.name, "cfg": model.cfg, "weights": model.weights_sha256},
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


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


class _Collector:
    """Per-sample arrays and the perturbation's radial energy, filled batch by batch."""

    def __init__(self, n: int) -> None:
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
        self.size: tuple[int, int] = (0, 0)

    def add(
        self,
        sl: slice,
        idx: np.ndarray,
        x: torch.Tensor,
        x2: torch.Tensor,
        y: torch.Tensor,
        logits: torch.Tensor,
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
            self.size = (x.shape[-2], x.shape[-1])

    def finish(self) -> dict[str, np.ndarray]:
        out = dict(self.arrays)
        if self.energy is not None:
            n = len(out["index"])
            out["delta_energy"] = (self.energy / n).numpy()
            out["band_fractions"] = band_fractions(self.energy, size=self.size).numpy()
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
            col.add(slice(start, stop), idx, x, x2, y, logits)
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err) or bs == 1:
                raise
            bs //= 2
            if device.type == "cuda":
                torch.cuda.empty_cache()
            progress.note(f"out of memory: batch size lowered to {bs}")
            continue
        progress.advance(task, stop - start)
        start = stop
    progress.finish(task)
    return col.finish()


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
    """Evaluate every condition of ``suite`` not yet stored; returns the number evaluated."""
    model.module.eval().to(device)
    check_compatible(model, data, device)
    done = store.completed_keys()
    ctx = StepContext(
        device=device,
        data_request=DataRequest(split=config.split, root=config.data_root),
        state_dir=store.root / "state" / re.sub(r"[^A-Za-z0-9_.=-]+", "_", model.name),
    )
    evaluated = 0
    clean_correct: np.ndarray | None = None  # the suite's first condition is always clean
    for cond in suite.conditions:
        step = build_step(cond, ctx)
        key = condition_key(model, data, suite, cond, step, config)
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
        store.write_condition(key, make_records(model.name, data, suite, cond, step, key, arrays), arrays)
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
) -> list[Record]:
    tags = {"kind": str(cond.kind), "transform": cond.transform, **cond.tags}
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
