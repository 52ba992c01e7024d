"""The standard supervised training recipe (what produced the bundled ``resnet20_fmnist`` weights).

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

    freqbench train --model resnet20_fmnist --dataset fashion_mnist --epochs 10 --batch-size 128 \
        --lr 0.1 --seed 0 --threads 1 --out runs/train/resnet20_fmnist

Outputs in ``out``: ``weights.pt`` (plain float32 ``state_dict`` of the bare network, the format of
``freqbench/models/weights/*.pt``), ``weights.sha256``, ``model.pt`` (``{"arch", "state_dict"}`` for
``checkpoint:out/model.pt``), ``metrics.jsonl`` (one line per epoch) and ``checkpoints/``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from freqbench.data.base import DATASETS, ArrayDataset, DataRequest
from freqbench.errors import ConfigError, IncompatibleError
from freqbench.models.base import MODELS, ModelConfig
from freqbench.nn.normalize import Classifier, Normalize
from freqbench.ops.random import stable_hash
from freqbench.train.augment import random_crop, random_hflip
from freqbench.train.checkpoints import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_atomic,
)


class Schedule(StrEnum):
    """Learning-rate schedules (stepped once per optimiser step)."""

    COSINE = "cosine"
    MULTISTEP = "multistep"


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        model: registered model name (built with random initialisation).
        dataset: registered dataset name (its ``train`` split trains, its ``test`` split evaluates).
        out: output folder (checkpoints, metrics, exported weights).
        epochs: number of passes over the training set.
        batch_size: images per optimiser step.
        lr: peak learning rate.
        momentum: SGD momentum (Nesterov when ``nesterov``).
        nesterov: use Nesterov momentum.
        weight_decay: L2 penalty on every parameter.
        schedule: ``cosine`` or ``multistep``.
        padding: random-crop padding in pixels (None: 4 for images >= 32 px, else 2).
        hflip: random horizontal flips.
        seed: seeds initial weights, shuffling and augmentation.
        limit: use only the first ``limit`` images of each split (quick runs).
        resume: continue from the latest checkpoint in ``out/checkpoints``.
        device: ``cpu``, ``cuda``, ``cuda:1``... or ``auto`` (CUDA when present).
        num_threads: torch CPU threads (None: torch default).
        eval_batch_size: images per evaluation batch.
    """

    model: str = "resnet20_fmnist"
    dataset: str = "fashion_mnist"
    out: Path = Path("runs/train/resnet20_fmnist")
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: Schedule = Schedule.COSINE
    padding: int | None = None
    hflip: bool = True
    seed: int = 0
    limit: int | None = None
    resume: bool = True
    device: str = "cpu"
    num_threads: int | None = None
    eval_batch_size: int = 500

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.limit is not None and self.limit <= 1:
            raise ConfigError(f"limit must be at least 2 (batch norm needs 2 images), got {self.limit}")
        if self.padding is not None and self.padding < 0:
            raise ConfigError(f"padding must be >= 0, got {self.padding}")
        if self.schedule not in tuple(Schedule):
            raise ConfigError(f"schedule must be one of {[str(s) for s in Schedule]}, got {self.schedule!r}")
        object.__setattr__(self, "schedule", Schedule(self.schedule))

    def fingerprint(self) -> dict[str, Any]:
        """The settings that determine the trained weights (a resumed run must match them)."""
        d = asdict(self)
        for key in ("out", "resume", "device", "num_threads", "eval_batch_size"):
            d.pop(key)
        d["schedule"] = str(self.schedule)
        return d


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced.

    Attributes:
        weights: path of the exported plain ``state_dict``.
        sha256: its checksum.
        checkpoint: path of the ``{"arch", "state_dict"}`` file for ``checkpoint:PATH``.
        history: one dict per epoch (epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds).
    """

    weights: Path
    sha256: str
    checkpoint: Path
    history: list[dict[str, float]]

    @property
    def test_accuracy(self) -> float:
        return self.history[-1]["test_acc"]


def build_classifier(name: str, *, seed: int) -> tuple[Classifier, ModelConfig]:
    """A randomly initialised registered model behind its normalisation, seeded."""
    entry = MODELS.get(name)
    torch.manual_seed(seed)
    net = entry.build(entry.cfg)
    return Classifier(Normalize(entry.cfg.mean, entry.cfg.std), net), entry.cfg


def check_compatible(cfg: ModelConfig, data: ArrayDataset) -> None:
    """Raise :class:`IncompatibleError` when ``data`` does not fit the model's input and classes."""
    c, h, w = data.shape
    mc, mh, mw = cfg.input_size
    if c != mc or (mh is not None and h != mh) or (mw is not None and w != mw):
        raise IncompatibleError(
            f"model {cfg.name!r} expects input {cfg.input_size}, dataset {data.info.name!r} has {(c, h, w)}. "
            "Pick a model trained for this dataset (`freqbench ls models`)."
        )
    if data.info.num_classes != cfg.num_classes:
        raise IncompatibleError(
            f"model {cfg.name!r} has {cfg.num_classes} classes, dataset {data.info.name!r} has "
            f"{data.info.num_classes}"
        )


def evaluate(
    model: nn.Module, data: ArrayDataset, *, batch_size: int, device: torch.device
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on all of ``data``."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x, y = data.batch(np.arange(start, min(start + batch_size, len(data))))
            logits = model(x.to(device))
            y = y.to(device)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
    return total_loss / len(data), correct / len(data)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    # A last batch of one image breaks batch norm in train mode; drop it (it is reshuffled next epoch).
    if len(batches[-1]) < 2:
        batches.pop()
    return batches


def _resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
    without ``resume`` the old epoch checkpoints there are deleted first.

    Raises:
        ConfigError: a checkpoint in ``cfg.out`` was written with different settings.
        IncompatibleError: the data does not fit the model.
    """
    emit = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    device = _resolve_device(cfg.device)
    train_data, test_data = train_data.subset(cfg.limit), test_data.subset(cfg.limit)
    if len(train_data) < 2:
        raise ConfigError(f"training needs at least 2 images, the training split has {len(train_data)}")

    model, mcfg = build_classifier(cfg.model, seed=cfg.seed)
    check_compatible(mcfg, train_data)
    check_compatible(mcfg, test_data)
    model.to(device)
    padding = cfg.padding if cfg.padding is not None else (4 if min(train_data.shape[1:]) >= 32 else 2)

    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
    )
    steps_per_epoch = len(_batches(len(train_data), cfg.batch_size, torch.Generator().manual_seed(0)))
    total_steps = cfg.epochs * steps_per_epoch
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if cfg.schedule is Schedule.COSINE:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    else:
        milestones = [total_steps // 2, (3 * total_steps) // 4]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)

    ckpt_dir = cfg.out / "checkpoints"
    metrics_path = cfg.out / "metrics.jsonl"
    history: list[dict[str, float]] = []
    start_epoch = 0
    latest = latest_checkpoint(ckpt_dir) if cfg.resume else None
    if latest is not None:
        state = load_checkpoint(latest)
        if state.get("fingerprint") != cfg.fingerprint():
            raise ConfigError(
                f"{latest} was written with settings {state.get('fingerprint')}, this run has "
                f"{cfg.fingerprint()}. Use another --out, or --no-resume to start over in {cfg.out}."
            )
        model.net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        emit(f"resuming from {latest} (epoch {start_epoch}/{cfg.epochs})")
    elif not cfg.resume:
        for _, stale in list_checkpoints(ckpt_dir):
            stale.unlink()
    cfg.out.mkdir(parents=True, exist_ok=True)
    # The metrics file is rebuilt from the checkpoint so a kill between the two writes leaves no extra line.
    metrics_path.write_text("".join(json.dumps(h) + "\n" for h in history))
    (cfg.out / "train_config.json").write_text(json.dumps(cfg.fingerprint(), indent=2) + "\n")

    for epoch in range(start_epoch, cfg.epochs):
        tic = time.perf_counter()
        generator = torch.Generator().manual_seed(stable_hash(cfg.seed, "train", epoch))
        batches = _batches(len(train_data), cfg.batch_size, generator)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for idx in bar:
            x, y = train_data.batch(idx.numpy())
            x = random_crop(x, padding=padding, generator=generator)
            if cfg.hflip:
                x = random_hflip(x, generator=generator)
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        bar.close()
        test_loss, test_acc = evaluate(model, test_data, batch_size=cfg.eval_batch_size, device=device)
        record = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - tic,
        }
        history.append(record)
        save_atomic(
            {
                "epoch": epoch + 1,
                "model": model.net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(),
                "history": history,
                "fingerprint": cfg.fingerprint(),
            },
            checkpoint_path(ckpt_dir, epoch + 1),
        )
        with metrics_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        emit(
            f"epoch {epoch + 1}/{cfg.epochs}: train loss {record['train_loss']:.4f} "
            f"acc {record['train_acc']:.4f} | test loss {test_loss:.4f} acc {test_acc:.4f} "
            f"| {record['seconds']:.0f}s"
        )
    return export(model.net, cfg=cfg, history=history)


def export(net: nn.Module, *, cfg: TrainConfig, history: list[dict[str, float]]) -> TrainResult:
    """Write ``weights.pt`` (plain float32 state_dict), its sha256, and ``model.pt`` for ``checkpoint:``."""
    state = {k: v.detach().to("cpu").clone() for k, v in net.state_dict().items()}
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    weights = cfg.out / "weights.pt"
    save_atomic(state, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    (cfg.out / "weights.sha256").write_text(f"{digest}  weights.pt\n")
    checkpoint = cfg.out / "model.pt"
    save_atomic({"arch": cfg.model, "state_dict": state}, checkpoint)
    return TrainResult(weights=weights, sha256=digest, checkpoint=checkpoint, history=history)


def train(cfg: TrainConfig, *, data_root: Path | None = None, progress: bool = True) -> TrainResult:
    """Load ``cfg.dataset``'s train and test splits from the dataset registry and :func:`fit`."""
    factory = DATASETS.get(cfg.dataset)
    train_data = factory(DataRequest(split="train", root=data_root))
    test_data = factory(DataRequest(split="test", root=data_root))
    return fit(cfg, train_data=train_data, test_data=test_data, progress=progress)
