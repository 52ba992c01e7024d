"""The standard supervised training recipe (what produced the bundled ``resnet20_fashion_mnist`` weights).

Recipe (He et al. 2016, section 4.2, with the common modern cosine schedule): SGD with Nesterov
momentum 0.9, weight decay 5e-4 on every parameter, learning rate 0.1 for batch 128 annealed per step
with a cosine schedule to 0 (or divided by 10 at 50% and 75% of the steps, ``schedule="multistep"``),
cross-entropy, random crop with zero padding plus horizontal flip. Padding is 4 pixels for 32 px
images (the paper's value) and 2 pixels for smaller ones such as Fashion-MNIST's 28 px, whose
garments fill the frame, so a shift of 1/14 of the width instead of 1/8 keeps their edges in view;
``padding`` overrides it. Horizontal flips suit both datasets (mirrored objects and garments keep their
class).

Reproducibility: the initial weights come from ``torch.manual_seed(seed)``; the shuffle and the
augmentation of epoch ``e`` come from a generator seeded with ``stable_hash(seed, "train", e)``, so an
epoch's randomness does not depend on what ran before it. After every epoch a checkpoint (model,
optimiser, scheduler, epoch, RNG states, metric history) is written atomically to
``out/checkpoints/epoch_NNN.pt``; a rerun with the same settings resumes from the latest one and ends
with bit-identical weights on the CPU.

The bundled weights come from this recipe with these settings (the command's defaults). With one
thread on the same CPU and torch build the run is bit-for-bit repeatable: resuming this command from
the original run's epoch-9 checkpoint re-created the bundled file's sha256. More threads change the
order of floating-point sums, not the recipe::

    freqbench train --model resnet20_fashion_mnist --dataset fashion_mnist --epochs 10 --batch-size 128 \
        --lr 0.1 --seed 0 --threads 1 --out runs/train/resnet20_fashion_mnist

Outputs in ``out``: ``weights.pt`` (plain float32 ``state_dict`` of the bare network, the format of
``freqbench/models/weights/*.pt``), ``weights.sha256``, ``model.pt`` (``{"arch", "state_dict",
"recipe", "extra"}``, plus ``"input_filter"`` for a filtered run, for ``checkpoint:out/model.pt``;
``"extra"`` holds the builder parameters the network was built with, so a recipe's change to them,
such as ``freqmod``'s first-layer proportion, is rebuilt on loading),
``train_config.json``, ``metrics.jsonl`` (one line per epoch) and ``checkpoints/``.

``cfg.recipe`` (:mod:`freqbench.train.recipes`: ``standard``, ``filtered``, ``noise``,
``adversarial``, ``freqmod``) adds its step to every augmented batch, for ``filtered`` the filter the
model is tested behind, and for ``freqmod`` the model's first-layer proportion
(:meth:`~freqbench.train.recipes.Recipe.model_config`); :attr:`TrainResult.model_spec` is the
``--model`` text that evaluates the result as tested. The standard recipe adds nothing, so the
bundled weights' command above is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from freqbench.data.base import DATASETS, ArrayDataset, DataRequest
from freqbench.errors import ConfigError
from freqbench.model_spec import format_model_spec
from freqbench.models.base import MODELS, ModelConfig
from freqbench.models.compat import check_fits
from freqbench.nn.normalize import Classifier, Normalize
from freqbench.ops.device import select_device, torch_threads
from freqbench.ops.scoring import predict
from freqbench.train.checkpoints import save_atomic
from freqbench.train.config import Schedule, TrainConfig, TrainResult
from freqbench.train.recipes import Recipe, StandardRecipe
from freqbench.train.state import TrainingState


def build_classifier(
    name: str, *, seed: int, recipe: Recipe = StandardRecipe()
) -> tuple[Classifier, ModelConfig]:
    """A randomly initialised registered model behind its normalisation, seeded.

    The network is built from ``recipe.model_config`` of the registered config (the config returned).

    Raises:
        ConfigError: the recipe cannot train this model.
    """
    entry = MODELS.get(name)
    cfg = recipe.model_config(entry.cfg)
    torch.manual_seed(seed)
    net = entry.build(cfg)
    return Classifier(Normalize(cfg.mean, cfg.std), net), cfg


def _check_fits(cfg: TrainConfig, mcfg: ModelConfig, data: ArrayDataset) -> None:
    """Raise :class:`IncompatibleError` when ``data`` does not fit the model's input and classes."""
    check_fits(
        mcfg,
        model=cfg.model,
        dataset=data.info.name,
        shape=data.shape,
        num_classes=data.info.num_classes,
        purpose="trained",
    )


def evaluate(
    model: nn.Module, data: ArrayDataset, *, batch_size: int, device: torch.device
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on all of ``data``.

    The per-sample scores are the evaluation engine's (:func:`freqbench.ops.scoring.predict`); the
    mean loss is summed in float64.
    """
    model.eval()
    scores = predict(model, data.batch, len(data), batch_size=batch_size, device=device)
    return float(scores["loss"].astype(np.float64).sum()) / len(data), float(scores["correct"].mean())


def fit(
    cfg: TrainConfig,
    *,
    train_data: ArrayDataset,
    test_data: ArrayDataset,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``train_data``, evaluate on ``test_data`` after every epoch.

    Resumes from ``cfg.out/checkpoints`` when ``cfg.resume`` (the stored settings must equal ``cfg``'s);
    without ``resume`` the old epoch checkpoints there are deleted first. ``cfg.num_threads`` holds
    for the call only (the previous thread count is restored).

    Raises:
        ConfigError: a checkpoint in ``cfg.out`` was written with different settings, or a bad device.
        IncompatibleError: the data does not fit the model, or a device this machine does not have.
    """
    emit = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    device = select_device(cfg.device)
    with torch_threads(cfg.num_threads):
        train_data, test_data = train_data.subset(cfg.limit), test_data.subset(cfg.limit)
        if len(train_data) < 2:
            raise ConfigError(f"training needs at least 2 images, the training split has {len(train_data)}")
        model, mcfg = build_classifier(cfg.model, seed=cfg.seed, recipe=cfg.recipe)
        _check_fits(cfg, mcfg, train_data)
        _check_fits(cfg, mcfg, test_data)
        model.to(device)
        padding = cfg.padding if cfg.padding is not None else (4 if min(train_data.shape[1:]) >= 32 else 2)
        run = TrainingState.start(cfg, model, n_train=len(train_data))
        run.resume(cfg, emit)
        cfg.out.mkdir(parents=True, exist_ok=True)
        # The metrics file is rebuilt from the checkpoint, so a kill between the two writes leaves no
        # extra line.
        (cfg.out / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in run.history))
        config = {**cfg.fingerprint(), "recipe": cfg.recipe.describe()}
        (cfg.out / "train_config.json").write_text(json.dumps(config, indent=2) + "\n")
        tested = _tested_model(model, cfg)
        while run.epoch < cfg.epochs:
            tic = time.perf_counter()
            train_loss, train_acc = run.train_epoch(
                train_data, cfg=cfg, padding=padding, device=device, progress=progress
            )
            test_loss, test_acc = evaluate(tested, test_data, batch_size=cfg.eval_batch_size, device=device)
            record = {
                "epoch": run.epoch + 1,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "lr": run.optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - tic,
            }
            run.save(cfg, record)
            emit(
                f"epoch {run.epoch}/{cfg.epochs}: train loss {train_loss:.4f} acc {train_acc:.4f} "
                f"| test loss {test_loss:.4f} acc {test_acc:.4f} | {record['seconds']:.0f}s"
            )
        return export(model.net, cfg=cfg, history=run.history, model_cfg=mcfg)


def _tested_model(model: Classifier, cfg: TrainConfig) -> nn.Module:
    """``model`` as tested: behind the recipe's input filter, as ``checkpoint:...+FILTER`` builds it."""
    front = cfg.recipe.filter_module()
    return model if front is None else nn.Sequential(front, model)


def export(
    net: nn.Module, *, cfg: TrainConfig, history: list[dict[str, float]], model_cfg: ModelConfig
) -> TrainResult:
    """Write ``weights.pt`` (plain float32 state_dict), its sha256, and ``model.pt`` for ``checkpoint:``.

    ``model.pt`` also records the recipe (``"recipe"``), the builder parameters ``net`` was built with
    (``"extra"``: ``model_cfg.extra``, which the ``checkpoint:`` loader applies to the architecture)
    and, for a filtered run, the filter (``"input_filter"``); :attr:`TrainResult.model_spec` is the
    specification that evaluates the model as it was tested (``checkpoint:OUT/model.pt+FILTER``).
    """
    # contiguous whatever the training layout (channels-last), so the file depends only on the values
    state = {
        k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        for k, v in net.state_dict().items()
    }
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    weights = cfg.out / "weights.pt"
    save_atomic(state, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    (cfg.out / "weights.sha256").write_text(f"{digest}  weights.pt\n")
    checkpoint = cfg.out / "model.pt"
    meta: dict[str, object] = {
        "arch": cfg.model,
        "state_dict": state,
        "recipe": cfg.recipe.describe(),
        "extra": dict(model_cfg.extra),
    }
    if cfg.recipe.input_filter is not None:
        meta["input_filter"] = cfg.recipe.input_filter
    spec = format_model_spec(f"checkpoint:{checkpoint}", cfg.recipe.input_filter)
    save_atomic(meta, checkpoint)
    return TrainResult(
        weights=weights, sha256=digest, checkpoint=checkpoint, history=history, model_spec=spec
    )


def train(cfg: TrainConfig, *, data_root: Path | None = None, progress: bool = True) -> TrainResult:
    """Load ``cfg.dataset``'s train and test splits from the dataset registry and :func:`fit`.

    The device and the recipe's fit to the model are checked first, so a bad ``--device`` or a model the
    recipe cannot train is refused before any data is read.
    """
    select_device(cfg.device)
    cfg.recipe.model_config(MODELS.get(cfg.model).cfg)
    factory = DATASETS.get(cfg.dataset)
    train_data = factory(DataRequest(split="train", root=data_root))
    test_data = factory(DataRequest(split="test", root=data_root))
    return fit(cfg, train_data=train_data, test_data=test_data, progress=progress)


__all__ = ["Schedule", "TrainConfig", "TrainResult", "evaluate", "export", "fit", "train"]
