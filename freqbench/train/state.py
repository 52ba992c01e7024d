"""The state of one training run: optimiser, schedule, resume from checkpoints, one epoch, its checkpoint.

:class:`TrainingState` holds what changes during a run (model, SGD, learning-rate schedule, epoch
counter, metric history) and the recipe's steps on it: :meth:`~TrainingState.start` builds the
optimiser and schedule, :meth:`~TrainingState.resume` restores them (and the RNG states) from the
latest checkpoint, :meth:`~TrainingState.train_epoch` runs one shuffled, augmented pass (the batch
then goes through the recipe's :meth:`~freqbench.train.recipes.Recipe.prepare`), and
:meth:`~TrainingState.save` writes the epoch's checkpoint and metrics line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from freqbench.data.base import ArrayDataset
from freqbench.errors import ConfigError
from freqbench.nn.normalize import Classifier
from freqbench.ops.random import stable_hash
from freqbench.train.augment import random_crop, random_hflip
from freqbench.train.checkpoints import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_atomic,
)
from freqbench.train.config import Precision, Schedule, TrainConfig


def _shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    # A last batch of one image breaks batch norm in train mode; drop it (it is reshuffled next epoch).
    if len(batches[-1]) < 2:
        batches.pop()
    return batches


def _to_channels_last(model: torch.nn.Module) -> None:
    """Every 4-D parameter and buffer of ``model`` in channels-last memory format, in place (the
    others, such as the 5-D spectra of spectrally parameterised convolutions, are left as they are;
    ``Module.to(memory_format=...)`` refuses those)."""
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainingState:
    """The mutable state of one training run: the model, its optimiser and schedule, the history."""

    model: Classifier
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    history: list[dict[str, float]]
    epoch: int = 0

    @classmethod
    def start(cls, cfg: TrainConfig, model: Classifier, *, n_train: int) -> TrainingState:
        """SGD and the learning-rate schedule of the recipe, stepped once per optimiser step; the
        model is moved to channels-last memory format first where ``cfg.channels_last``."""
        if cfg.channels_last:
            _to_channels_last(model)
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
        steps_per_epoch = len(_shuffled_batches(n_train, cfg.batch_size, torch.Generator().manual_seed(0)))
        total_steps = cfg.epochs * steps_per_epoch
        scheduler: torch.optim.lr_scheduler.LRScheduler
        if cfg.schedule is Schedule.COSINE:
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        else:
            milestones = [total_steps // 2, (3 * total_steps) // 4]
            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
        return cls(model, optimizer, scheduler, history=[])

    def resume(self, cfg: TrainConfig, emit: Callable[[str], None]) -> None:
        """Continue from the latest checkpoint in ``cfg.out`` (``cfg.resume``), or delete the old ones.

        Raises:
            ConfigError: the checkpoint was written with other settings.
        """
        ckpt_dir = cfg.out / "checkpoints"
        latest = latest_checkpoint(ckpt_dir) if cfg.resume else None
        if latest is None:
            if not cfg.resume:
                for _, stale in list_checkpoints(ckpt_dir):
                    stale.unlink()
            return
        state = load_checkpoint(latest)
        if state.get("fingerprint") != cfg.fingerprint():
            raise ConfigError(
                f"{latest} was written with settings {state.get('fingerprint')}, this run has "
                f"{cfg.fingerprint()}. Use another --out, or --no-resume to start over in {cfg.out}."
            )
        self.model.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])
        emit(f"resuming from {latest} (epoch {self.epoch}/{cfg.epochs})")

    def train_epoch(
        self, data: ArrayDataset, *, cfg: TrainConfig, padding: int, device: torch.device, progress: bool
    ) -> tuple[float, float]:
        """One pass over ``data`` with the epoch's own shuffle and augmentation; (mean loss, accuracy)."""
        generator = torch.Generator().manual_seed(stable_hash(cfg.seed, "train", self.epoch))
        batches = _shuffled_batches(len(data), cfg.batch_size, generator)
        model = self.model
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        desc = f"epoch {self.epoch + 1}/{cfg.epochs}"
        bar = tqdm(batches, desc=desc, disable=not progress, leave=False)
        for idx in bar:
            x, y = data.batch(idx.numpy())
            x = random_crop(x, padding=padding, generator=generator)
            if cfg.hflip:
                x = random_hflip(x, generator=generator)
            x, y = x.to(device), y.to(device)
            x = cfg.recipe.prepare(x, y, indices=idx, epoch=self.epoch, seed=cfg.seed, model=model)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision is Precision.BF16):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        bar.close()
        return loss_sum / seen, correct / seen

    def save(self, cfg: TrainConfig, record: dict[str, float]) -> None:
        """Close the epoch: append ``record``, write the checkpoint atomically, then the metrics line."""
        self.epoch += 1
        self.history.append(record)
        save_atomic(
            {
                "epoch": self.epoch,
                "model": self.model.net.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": _rng_state(),
                "history": self.history,
                "fingerprint": cfg.fingerprint(),
                "recipe": cfg.recipe.describe(),
            },
            checkpoint_path(cfg.out / "checkpoints", self.epoch),
        )
        with (cfg.out / "metrics.jsonl").open("a") as fh:
            fh.write(json.dumps(record) + "\n")


__all__ = ["TrainingState"]
