"""Frozen run configuration: the one object passed from the CLI down to the engine.

Torch-free, so reports and the CLI's argument parsing never import torch.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from freqbench.errors import ConfigError

DEFAULT_MODEL = "resnet20_fmnist"
DEFAULT_DATASET = "fashion_mnist"


def freqbench_home() -> Path:
    """The cache root: ``$FREQBENCH_HOME`` or ``~/.cache/freqbench``."""
    env = os.environ.get("FREQBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "freqbench"


@dataclass(frozen=True)
class SuiteOptions:
    """Options a suite may read to shape its condition grid; ``None`` means the suite default.

    Attributes:
        eps: attack budgets as written on the command line (``("2/255", "8/255")``).
        corruptions: restrict a corruption suite to these names.
        severities: restrict a corruption suite to these severities.
        baseline: model name used for mCE / relative mCE (never implicit).
    """

    eps: tuple[str, ...] | None = None
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] | None = None
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run.

    Attributes:
        suite: suite name (``frequency``, ``corruptions``...).
        models: model names, wildcards already expanded.
        dataset: dataset name (``fashion_mnist``, ``imagefolder:PATH``...).
        split: dataset split.
        limit: evaluate the fixed ``limit``-sample subset of ``ArrayDataset.subset`` (None: all).
        batch_size: starting batch size (halved on out-of-memory).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``...
        seed: run seed; per-sample randomness derives from (seed, condition, sample index).
        out: run directory.
        data_root: explicit dataset root searched first.
        shard: (index, count): this process evaluates sample positions ``i`` with ``i % count == index``.
        options: suite options.
        num_threads: CPU threads for torch (None: torch default).
    """

    suite: str
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    dataset: str = DEFAULT_DATASET
    split: str = "test"
    limit: int | None = None
    batch_size: int = 256
    device: str = "auto"
    seed: int = 0
    out: Path = Path("runs/latest")
    data_root: Path | None = None
    shard: tuple[int, int] = (0, 1)
    options: SuiteOptions = field(default_factory=SuiteOptions)
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f"--limit must be a positive integer, got {self.limit}")
        if self.batch_size <= 0:
            raise ConfigError(f"--batch-size must be positive, got {self.batch_size}")
        index, count = self.shard
        if not (count >= 1 and 0 <= index < count):
            raise ConfigError(f"shard must be INDEX/COUNT with 0 <= INDEX < COUNT, got {index}/{count}")
        if not self.models:
            raise ConfigError("at least one model is required")

    def replace(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = list(self.models)
        d["out"] = str(self.out)
        d["data_root"] = None if self.data_root is None else str(self.data_root)
        d["shard"] = list(self.shard)
        d["options"] = self.options.to_dict()
        return d
