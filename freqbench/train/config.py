"""The settings of one training run (:class:`TrainConfig`) and what it produced (:class:`TrainResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from freqbench.errors import ConfigError
from freqbench.train.recipes import Recipe, StandardRecipe


class Precision(StrEnum):
    """Arithmetic of the training forward and backward passes (evaluation and export stay float32)."""

    FP32 = "fp32"
    BF16 = "bf16"


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
        limit: use only the documented ``limit``-image subset of each split (``ArrayDataset.subset``;
            quick runs).
        resume: continue from the latest checkpoint in ``out/checkpoints``.
        device: ``cpu``, ``cuda``, ``cuda:1``... or ``auto`` (CUDA when present).
        num_threads: torch CPU threads (None: torch default).
        eval_batch_size: images per evaluation batch.
        recipe: the recipe's own typed config (:mod:`freqbench.train.recipes`; default ``standard``).
        precision: ``fp32`` (default) or ``bf16``: the training step's forward pass and loss under
            ``torch.autocast`` with bfloat16 (mixed precision: weights, optimiser state and gradients
            stay float32; on CPUs with AMX about 2x faster for ResNet-20). Evaluation after each epoch
            and the exported weights are float32.
        channels_last: train in channels-last memory format (weights and batches): what oneDNN's
            CPU convolutions are fastest in (ResNet-20 on this project's CPU: about 1.45x the
            contiguous layout, ``benchmarks/bench_train.py``). Like ``device`` and ``num_threads`` it
            changes only float rounding, so it is not part of :meth:`fingerprint` (a run may resume
            with the other layout); to re-create a file bit for bit, use the layout, device and threads
            it was trained with (the bundled weights: ``--no-channels-last``).
    """

    model: str = "resnet20_fashion_mnist"
    dataset: str = "fashion_mnist"
    out: Path = Path("runs/train/resnet20_fashion_mnist")
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
    recipe: Recipe = StandardRecipe()
    precision: Precision = Precision.FP32
    channels_last: bool = True

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
        if not isinstance(self.recipe, Recipe):
            raise ConfigError(f"recipe must be a freqbench.train.recipes config, got {self.recipe!r}")
        if self.schedule not in tuple(Schedule):
            raise ConfigError(f"schedule must be one of {[str(s) for s in Schedule]}, got {self.schedule!r}")
        object.__setattr__(self, "schedule", Schedule(self.schedule))
        if self.precision not in tuple(Precision):
            raise ConfigError(
                f"precision must be one of {[str(p) for p in Precision]}, got {self.precision!r}"
            )
        object.__setattr__(self, "precision", Precision(self.precision))

    def fingerprint(self) -> dict[str, Any]:
        """The settings that determine the trained weights (a resumed run must match them).

        The ``standard`` recipe and ``fp32`` precision add no key, so checkpoints written before they
        existed still resume.
        """
        d = asdict(self)
        for key in ("out", "resume", "device", "num_threads", "eval_batch_size", "recipe", "channels_last"):
            d.pop(key)
        d["schedule"] = str(self.schedule)
        d.pop("precision")
        if self.precision is not Precision.FP32:
            d["precision"] = str(self.precision)
        if not isinstance(self.recipe, StandardRecipe):
            d["recipe"] = self.recipe.describe()
        return d


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced.

    Attributes:
        weights: path of the exported plain ``state_dict``.
        sha256: its checksum.
        checkpoint: path of the ``{"arch", "state_dict"}`` file for ``checkpoint:PATH``.
        history: one dict per epoch (epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds).
        model_spec: the ``--model`` specification that evaluates the trained model as it was tested
            (``checkpoint:OUT/model.pt``, with ``+FILTER`` for the filtered recipe).
    """

    weights: Path
    sha256: str
    checkpoint: Path
    history: list[dict[str, float]]
    model_spec: str

    @property
    def test_accuracy(self) -> float:
        return self.history[-1]["test_acc"]


__all__ = ["Precision", "Schedule", "TrainConfig", "TrainResult"]
