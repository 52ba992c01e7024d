"""The one evaluation loop over (model, dataset, suite).

Per condition: resolve the step, skip it if its content key is already stored, then evaluate the
dataset in batches (halving the batch on out-of-memory), collect per-sample results (prediction,
correctness, loss, logit margin, perturbation norms) and the summed radial energy of the
perturbation, aggregate, and store the condition atomically. Randomness is derived from (run seed,
condition key, sample index) through :class:`~freqbench.ops.random.SampleGenerator`, so results do
not depend on the batch size (attacks that use torchattacks' global RNG are the documented exception).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from freqbench._version import __version__
from freqbench.config import RunConfig
from freqbench.data import ArrayDataset, DataRequest
from freqbench.engine.batches import condition_batches
from freqbench.engine.collector import Collector, finish_share, merge_shares
from freqbench.engine.distributed import World, agree_on_plan, gather, shard_of, shard_slices
from freqbench.engine.fast import FP32, EngineOptions, PreparedModel, prepare_model, record_engine
from freqbench.engine.progress import Progress
from freqbench.engine.steps import Step, StepContext, build_step
from freqbench.errors import NonFiniteError, StoreError
from freqbench.models import ModelConfig
from freqbench.models.compat import check_fits, check_logits
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


def check_compatible(model: ModelUnderTest, data: ArrayDataset, device: torch.device) -> None:
    """Channels, input size and class count must agree, and one image must give (1, K) logits,
    before any work is done (:mod:`freqbench.models.compat`)."""
    check_fits(
        model.cfg,
        model=model.name,
        dataset=data.info.name,
        shape=data.shape,
        num_classes=data.info.num_classes,
    )
    x, _ = data.batch(np.arange(1))
    check_logits(model.module, x.to(device), model=model.name, num_classes=model.cfg.num_classes)


def condition_key(
    model: ModelUnderTest, data: ArrayDataset, suite: Suite, cond: Condition, step: Step, config: RunConfig
) -> str:
    """Content key: model spec + weights, dataset + subset, condition spec, suite version, versions.

    The model enters through :meth:`ModelConfig.result_spec` (what decides its outputs, as JSON) and
    the fingerprint of the weights loaded, never through its provenance text; C dataset files through
    the sha256 of the bytes read (in ``step.spec``). A precision other than float32 enters too (float32
    keys are those of the versions before ``--precision``, so stored runs resume).
    """
    precision = {"precision": config.precision} if config.precision != FP32 else {}
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
            **precision,
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


def evaluate_condition(
    model: ModelUnderTest,
    data: ArrayDataset,
    step: Step,
    cond: Condition,
    *,
    config: RunConfig,
    device: torch.device,
    progress: Progress,
    collector: Collector | None = None,
    prepared: PreparedModel | None = None,
) -> dict[str, np.ndarray]:
    """Per-sample results of one condition over the whole dataset (:func:`condition_batches`).

    ``collector``: fill this one instead of a new one (a sharded run sends its ``share()`` to rank 0).
    ``prepared``: the gated forward pass that scores the condition's outputs where it may
    (:meth:`PreparedModel.scores`; attacks are scored by the module as given); None: the module as given.
    Non-finite logits are looked for once the condition is done (no device sync per batch).
    """
    col = Collector(len(data)) if collector is None else collector
    finite: list[tuple[np.ndarray, torch.Tensor, int]] = []
    for b in condition_batches(
        data,
        step,
        cond,
        seed=config.seed,
        batch_size=config.batch_size,
        device=device,
        progress=progress,
        label=f"{model.name} · {cond.key}",
        model=model.module,
        score=None if prepared is None else prepared.scores(step),
    ):
        assert b.logits is not None  # a model was given
        finite.append((b.indices, ~torch.isfinite(b.logits).all(1), len(b.logits)))
        col.add(b.rows, b.indices, b.x, b.out, b.y, b.logits, step.diagnostics(b.x, b.out))
    for idx, bad, size in finite:
        check_finite(model, cond, bad.cpu().numpy(), idx, size)
    return col.finish()


def check_finite(model: ModelUnderTest, cond: Condition, bad: np.ndarray, idx: np.ndarray, size: int) -> None:
    """Refuse NaN or infinite logits: argmax over NaN picks a class, and its accuracy means nothing.

    ``bad``: per image of one batch of ``size`` images with sample indices ``idx``, whether its
    logits hold a NaN or an infinity.

    Raises:
        NonFiniteError: naming the model, the condition and the first affected samples.
    """
    rows = np.flatnonzero(bad)
    if not len(rows):
        return
    shown = ", ".join(str(i) for i in idx[rows[:5]]) + (", ..." if len(rows) > 5 else "")
    raise NonFiniteError(
        f"{model.name} returned non-finite logits (NaN or inf) under condition {cond.key} for "
        f"{len(rows)} of {size} images of the batch (sample indices {shown}); no result is "
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
    world: World | None = None,
) -> int:
    """Evaluate every condition of ``suite`` not yet stored; returns the number evaluated.

    A condition is skipped only when its content key is stored. If the run directory holds the same
    (model, dataset, suite, condition) under another key, what decides the result changed since
    (the weights behind the name, the dataset or C dataset files, the seed or freqbench's version):
    that is refused before any work, since the directory would otherwise mix two results of one cell.
    Resumable state (reference AutoAttack) lives in ``state/<content key>/``. The forward pass that
    scores input-only conditions is prepared once, where any is left to evaluate, gated on a probe
    batch (:func:`~freqbench.engine.fast.prepare_model`), and its path recorded in the manifest.

    ``world``: a sharded run (:mod:`freqbench.engine.distributed`), in which every rank calls this
    with the whole dataset: rank 0 decides what is stored and tells the others, each rank evaluates
    its share of the samples, and rank 0 alone gathers the shares and writes; the other ranks never
    read or write ``store`` (only resumable attack state, per batch).

    Raises:
        StoreError: the directory holds results of this model computed from other inputs.
        DistributedError: in a sharded run, the ranks disagree on the plan or a rank was lost.
    """
    world = world or World()
    model.module.eval().to(device)
    check_compatible(model, data, device)
    state_dir = store.root / "state"
    ctx = StepContext(
        device=device,
        data_request=DataRequest(split=config.split, root=config.data_root),
        state_dir=state_dir,
    )
    plan = []
    for cond in suite.conditions:
        step = build_step(cond, ctx)
        plan.append((cond, step, condition_key(model, data, suite, cond, step, config)))
    done = _check_stored(store, model, data, suite, plan) if world.writer else None
    if world.sharded:
        done = agree_on_plan(
            [c for c, _, _ in plan],
            [key for _, _, key in plan],
            done,
            batch_size=config.batch_size,
            world=world,
            model=model.name,
        )
    assert done is not None
    # the images the prepared forward pass will score (the whole dataset's, the same on every rank)
    scored = len(data) * sum(key not in done and not step.needs_grad for _, step, key in plan)
    prepared: PreparedModel | None = None
    if scored:
        options = EngineOptions.of(config, device, scored)
        prepared = prepare_model(
            model.module, data, device, options, name=model.name, batch_size=config.batch_size
        )
        if world.writer:
            record_engine(store, model.name, prepared.path)
    slices = shard_slices(len(data), batch_size=config.batch_size, size=world.size)
    share = shard_of(data, slices[world.rank]) if world.sharded else data
    evaluated = 0
    clean_correct: np.ndarray | None = None  # the suite's first condition is always clean
    for cond, step, key in plan:
        if step.bind_state is not None:
            step.bind_state(state_dir / key)
        if key in done:
            progress.note(f"skip {model.name} · {cond.key} (stored)")
            if clean_correct is None and world.writer:
                clean_correct = store.arrays(key)["correct"]
            continue
        evaluated += 1
        if not world.sharded:
            arrays = evaluate_condition(
                model, data, step, cond, config=config, device=device, progress=progress, prepared=prepared
            )
        else:
            col = Collector(len(share))
            if len(share):
                evaluate_condition(
                    model,
                    share,
                    step,
                    cond,
                    config=config,
                    device=device,
                    progress=progress,
                    collector=col,
                    prepared=prepared,
                )
            shares = gather(col.share(), world, what=f"gathering {model.name} · {cond.key}")
            if shares is None:  # not rank 0: its share is on its way to the writer
                continue
            rows = [np.arange(len(data))[sl] for sl in slices]
            arrays = finish_share(merge_shares(shares, rows, len(data)))
        if clean_correct is None:
            clean_correct = arrays["correct"]
        else:
            # flipped by the condition: for attacks, the attack's success on initially correct samples
            arrays["clean_correct"] = clean_correct
            arrays["success"] = clean_correct & ~arrays["correct"]
        scope = {**record_scope(model, data, suite, config), **(prepared.scope(step) if prepared else {})}
        records = make_records(model.name, data, suite, cond, step, key, arrays, scope=scope)
        store.write_condition(key, records, arrays)
    return evaluated


def _check_stored(
    store: RunStore,
    model: ModelUnderTest,
    data: ArrayDataset,
    suite: Suite,
    plan: list[tuple[Condition, Step, str]],
) -> set[str]:
    """The content keys stored, after refusing cells stored under another key (see :func:`run_model`)."""
    stored = _stored_keys(store, model, data, suite)
    changed = [c.key for c, _, key in plan if stored.get(c.key, set()) - {key}]
    if changed:
        more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
        raise StoreError(
            f"{store.root} already holds {model.name} / {data.info.name} / {', '.join(changed[:3])}{more} "
            "computed from other inputs (the model's weights, the dataset or C dataset files, the seed "
            f"or the freqbench version differ from this run's); use another --out to keep both, or start "
            f"over with `freqbench run --force --out {store.root} ...`"
        )
    return store.completed_keys()


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


__all__ = ["ModelUnderTest", "check_compatible", "evaluate_condition", "run_model"]
