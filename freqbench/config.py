"""Frozen run configuration: the one object passed from the CLI down to the engine.

A run directory holds exactly one configuration. :data:`RESULT_FIELDS` names the fields that decide
results; a later run into the same directory must agree on all of them (``freqbench run`` refuses
otherwise). ``batch_size``, ``num_threads``, ``device`` and ``out`` are not among them: per-sample
randomness derives from (seed, condition, sample index), so batch size and thread count change no
result, and ``device`` changes at most float rounding (every invocation's device is kept in the
manifest). Nor is the number of processes of a sharded run (``torchrun``, ``freqbench run --nproc``):
it is no field here, only recorded per invocation in the manifest, so a run may resume with another
world size (:mod:`freqbench.engine.distributed`). :meth:`RunConfig.from_dict` is the one way back
from a stored manifest to a config (it still reads manifests holding the retired ``shard`` field,
and reads those written before ``precision`` and ``compile`` as float32 with ``compile`` auto).
``precision`` decides results (autocast changes predictions); ``compile`` does not: like the other
engine steps it is only used where it gives eager float32's predictions on a probe batch
(:mod:`freqbench.engine.fast`), so it changes at most float rounding, like ``device``.

Torch-free, so reports and the CLI's argument parsing never import torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from freqbench.errors import ConfigError

DEFAULT_MODEL = "resnet20_fashion_mnist"
DEFAULT_DATASET = "fashion_mnist"
#: seeds are unsigned 64-bit integers (torch's generators take nothing wider)
SEED_LIMIT = 2**64
#: ``RunConfig.suite`` of a probe run: ``probe:NAME``
PROBE_PREFIX = "probe:"
#: the fields of :class:`RunConfig` that decide results (compared with a run directory's stored config)
RESULT_FIELDS = ("suite", "models", "dataset", "split", "limit", "seed", "data_root", "options", "precision")
#: ``RunConfig.precision``: float32, or the forward pass under autocast to bfloat16 or float16
PRECISIONS = ("fp32", "bf16", "fp16")
#: ``RunConfig.compile``: ``torch.compile`` where the run is long enough to pay for it, always, never
COMPILE_MODES = ("auto", "on", "off")
#: fields of older versions, accepted in stored manifests and ignored: ``shard`` ([INDEX, COUNT], never
#: used before sharded runs existed; the world size of a sharded run is not configuration)
REMOVED_FIELDS = ("shard",)


def freqbench_home() -> Path:
    """The cache root: ``$FREQBENCH_HOME`` or ``~/.cache/freqbench``."""
    env = os.environ.get("FREQBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "freqbench"


# typed reading of stored values -------------------------------------------------------------------
def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{where}: expected a string, got {_kind(v)} {v!r}")
    return v


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{where}: expected an integer, got {_kind(v)} {v!r}")
    return v


def _optional(read: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    return lambda v, where: None if v is None else read(v, where)


def _list_of(read: Callable[[Any, str], Any]) -> Callable[[Any, str], tuple[Any, ...]]:
    def go(v: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(v, list):
            raise ConfigError(f"{where}: expected a list, got {_kind(v)} {v!r}")
        return tuple(read(x, f"{where}[{i}]") for i, x in enumerate(v))

    return go


def _object(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ConfigError(f"{where} must be an object, got {_kind(v)}")
    return dict(v)


def _path(v: Any, where: str) -> Path:
    return Path(_str(v, where))


def _fields_of(
    cls: type,
    d: Any,
    where: str,
    readers: Mapping[str, Callable[[Any, str], Any]],
    added: Mapping[str, Any] | None = None,
    removed: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The fields of ``cls`` read from ``d``; ``added`` maps fields added in later versions to the
    value a manifest written before them means, and ``removed`` names fields of earlier versions that
    are dropped (so older run directories stay readable)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected an object, got {_kind(d)}")
    d = {**(added or {}), **{k: v for k, v in d.items() if k not in removed}}
    names = [f.name for f in fields(cls)]
    missing = [n for n in names if n not in d]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    extra = sorted(set(d) - set(names))
    if extra:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(extra)}")
    return {n: readers[n](d[n], f"{where}.{n}") for n in names}


@dataclass(frozen=True)
class SuiteOptions:
    """Options a suite may read to shape its condition grid; ``None`` means the suite default.

    Each suite declares the fields it reads (``Suite.reads``); giving one it does not read is an error.

    Attributes:
        eps: attack budgets as written on the command line (``("2/255", "8/255")``).
        corruptions: restrict a corruption suite to these names.
        severities: restrict a corruption suite to these severities.
        baseline: model name used for mCE / relative mCE (never implicit).
        probe: a probe run's (``suite="probe:NAME"``) resolved probe options, every field of the
            probe's options dataclass as JSON values; no suite reads it.
    """

    eps: tuple[str, ...] | None = None
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] | None = None
    baseline: str | None = None
    probe: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def given(self) -> tuple[str, ...]:
        """Names of the options that are set (not ``None``)."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "options") -> SuiteOptions:
        """Inverse of :meth:`to_dict`, validating every type (:class:`ConfigError` naming the field)."""
        return cls(**_fields_of(cls, d, where, _OPTION_READERS, added={"probe": None}))


_OPTION_READERS: dict[str, Callable[[Any, str], Any]] = {
    "eps": _optional(_list_of(_str)),
    "corruptions": _optional(_list_of(_str)),
    "severities": _optional(_list_of(_int)),
    "baseline": _optional(_str),
    "probe": _optional(_object),
}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run.

    Attributes:
        suite: suite name (``frequency``, ``corruptions``...), or ``probe:NAME`` for a probe run
            (``freqbench probe NAME``; its options in ``options.probe``).
        models: model names, wildcards already expanded (empty only for a probe that reads no model).
        dataset: dataset name (``fashion_mnist``, ``imagefolder:PATH``...).
        split: dataset split.
        limit: evaluate the fixed ``limit``-sample subset of ``ArrayDataset.subset`` (None: all).
        batch_size: starting batch size (halved on out-of-memory).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``...
        seed: run seed in ``[0, 2**64)``; per-sample randomness derives from (seed, condition, sample index).
        out: run directory.
        data_root: explicit dataset root searched first.
        options: suite options.
        num_threads: CPU threads for torch (None: torch default), at least 1.
        precision: ``fp32`` (default), ``bf16`` or ``fp16``: the forward pass that scores input-only
            conditions under autocast, refused where it agrees with float32 on less than 99% of a
            probe batch (:mod:`freqbench.engine.fast`).
        compile: ``auto`` (default: ``torch.compile`` the forward pass on a CPU when the run scores
            enough images to pay for the compilation, :data:`freqbench.engine.fast.AUTO_COMPILE_IMAGES`),
            ``on`` or ``off``; a failure falls back to eager, with a warning and a note in the manifest.
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
    options: SuiteOptions = field(default_factory=SuiteOptions)
    num_threads: int | None = None
    precision: str = "fp32"
    compile: str = "auto"

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f"--limit must be a positive integer, got {self.limit}")
        if self.batch_size <= 0:
            raise ConfigError(f"--batch-size must be positive, got {self.batch_size}")
        if not 0 <= self.seed < SEED_LIMIT:
            raise ConfigError(f"--seed must be an integer in [0, 2**64), got {self.seed}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(
                f"--threads must be at least 1, got {self.num_threads}; omit it for torch's default"
            )
        if not self.models and not self.suite.startswith(PROBE_PREFIX):
            raise ConfigError("at least one model is required")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"--compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")

    def replace(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = list(self.models)
        d["out"] = str(self.out)
        d["data_root"] = None if self.data_root is None else str(self.data_root)
        d["options"] = self.options.to_dict()
        return d

    def results(self) -> dict[str, Any]:
        """The result-deciding part of :meth:`to_dict` (:data:`RESULT_FIELDS`), options one by one.

        ``data_root`` is compared resolved (absolute), so ``./data`` and its absolute path agree.
        """
        d = self.to_dict()
        out = {k: d[k] for k in RESULT_FIELDS if k != "options"}
        if self.data_root is not None:
            out["data_root"] = str(self.data_root.expanduser().resolve())
        return {**out, **d["options"]}

    def result_differences(self, other: RunConfig) -> list[str]:
        """``'seed 0 vs 7'`` for each result-deciding field on which ``self`` and ``other`` differ."""
        a, b = self.results(), other.results()
        return [f"{k} {a[k]!r} vs {b[k]!r}" for k in a if a[k] != b[k]]

    @classmethod
    def from_dict(cls, d: Any, *, where: str = "config") -> RunConfig:
        """Rebuild a config from :meth:`to_dict`'s output (a stored manifest's ``config``).

        Raises:
            ConfigError: ``d`` is not an object, misses or adds a field, or holds a value of the wrong
                type or out of range; the message names the field.
        """
        return cls(
            **_fields_of(
                cls,
                d,
                where,
                _CONFIG_READERS,
                added={"precision": "fp32", "compile": "auto"},
                removed=REMOVED_FIELDS,
            )
        )


_CONFIG_READERS: dict[str, Callable[[Any, str], Any]] = {
    "suite": _str,
    "models": _list_of(_str),
    "dataset": _str,
    "split": _str,
    "limit": _optional(_int),
    "batch_size": _int,
    "device": _str,
    "seed": _int,
    "out": _path,
    "data_root": _optional(_path),
    "options": lambda v, where: SuiteOptions.from_dict(v, where=where),
    "num_threads": _optional(_int),
    "precision": _str,
    "compile": _str,
}
