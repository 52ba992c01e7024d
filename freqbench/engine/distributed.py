"""Sharded evaluation: one run split over the processes of a ``torchrun`` job, rank 0 alone writing.

Launch::

    torchrun --nproc-per-node N -m freqbench run ...      # one machine (or: freqbench run --nproc N)
    torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint HOST:PORT \\
        --rdzv-id JOB -m freqbench run ...               # M machines sharing one filesystem

**World.** :meth:`World.from_env` reads what torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``);
without ``WORLD_SIZE`` (or with 1) the run is one process and nothing joins anything. :func:`session`
joins the process group: ``gloo`` on the CPU; on CUDA each rank takes the GPU ``cuda:LOCAL_RANK``
(:func:`rank_device`) and the group is ``cpu:gloo,cuda:nccl``: NCCL for device tensors, gloo for the
per-sample results, which are host arrays and so need no round trip through a GPU.

**Split** (:func:`shard_slices`). The sample positions ``0..n-1`` of the evaluated (sub)set are cut
into ``B`` blocks of ``--batch-size``; rank ``r`` of ``W`` takes the contiguous run of whole blocks
``floor(r B / W) .. floor((r + 1) B / W) - 1``, rank 0 the first. Every batch a rank evaluates is
therefore exactly a batch of the one-process run with the same ``--batch-size``, so the records are
bitwise those of one process: the model's float rounding, which kernels may choose by batch size, is
the same, and so are the attacks whose random start depends on which samples share a batch
(:func:`batch_dependent`: torchattacks and the reference AutoAttack, seeded per batch), as long as no
rank halves its batch on out-of-memory. The images of every other condition come from (seed,
condition, sample index) and do not depend on the split at all. With fewer blocks than ranks some
ranks get no samples: lower ``--batch-size`` to use them.

**Plan** (:func:`agree_on_plan`). Rank 0 decides which conditions are stored and sends the plan (the
condition keys, the stored ones, the batch size) to every rank, which checks its own keys against it
(a rank that loaded other weights, data or C dataset files is a :class:`DistributedError`); all ranks
then skip the same conditions.

**Results** (:func:`gather`). After each condition every rank sends its share of per-sample arrays
(:meth:`freqbench.engine.collector.Collector.share`) to rank 0, which reassembles them in sample order
(:func:`freqbench.engine.collector.merge_shares`) and stores the condition. Rank 0 alone holds the run
directory's lock and writes the manifest, arrays, records and commits, and a condition is committed
only once every rank's share has arrived.

**Failures.** A rank that raises ends with its error on stderr (exit code 2 for freqbench's own
errors), a rank killed by a signal just dies; torchrun's agent notices within its monitor interval
(0.1 s), stops the other ranks and exits non-zero. Nothing is committed for a condition whose shares
did not all arrive, and ``--resume`` (with any number of processes: the world size decides no result)
evaluates it again and repeats no stored condition. A rank that hangs without exiting is bounded by
the collective timeout, ``$FREQBENCH_DIST_TIMEOUT`` seconds (:data:`DEFAULT_TIMEOUT_S` by default):
a collective waits for the slowest rank's share of one condition, so raise it only for conditions
whose per-rank work is slower than that.

**Resumable state** (reference AutoAttack, ``RUN_DIR/state/<key>/batch-*``) is kept by the rank that
runs the batch, one file per batch named by its first sample; like ``--resume``, it needs the run
directory on a filesystem every rank sees.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from freqbench.attacks import ATTACKS
from freqbench.data import ArrayDataset
from freqbench.errors import ConfigError, DistributedError, IncompatibleError
from freqbench.ops.device import select_device
from freqbench.suites.base import Condition, Kind, Suite

#: environment variable: the collective timeout of a sharded run, in seconds
TIMEOUT_ENV = "FREQBENCH_DIST_TIMEOUT"
#: torch's own default for gloo: generous for one condition's work, still a bound on a hung rank
DEFAULT_TIMEOUT_S = 1800.0
#: how :func:`shard_slices` splits the samples, as the manifest records it
SPLIT = "contiguous runs of whole --batch-size blocks of sample positions, rank 0 first"

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place in the job: its rank, the number of processes, its rank on the machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def writer(self) -> bool:
        """Whether this process writes the run directory (rank 0)."""
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        return self.size > 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> World:
        """The world torchrun describes in ``env`` (default ``os.environ``); one process without it.

        Raises:
            DistributedError: ``WORLD_SIZE`` is set but ``RANK`` is missing or the values are not
                integers in range.
        """
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()

        def read(name: str, default: str | None = None) -> int:
            raw = env.get(name, default)
            try:
                return int(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise DistributedError(
                    f"{name}={raw!r} in the environment, expected an integer (WORLD_SIZE is set, so this "
                    "is taken for a torchrun worker); start sharded runs with torchrun, which sets it"
                ) from None

        world = cls(rank=read("RANK"), size=read("WORLD_SIZE"), local_rank=read("LOCAL_RANK", "0"))
        if world.size < 1 or not 0 <= world.rank < world.size or world.local_rank < 0:
            raise DistributedError(
                f"RANK={world.rank}, WORLD_SIZE={world.size}, LOCAL_RANK={world.local_rank} in the "
                "environment, expected 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0; start sharded runs "
                "with torchrun"
            )
        return world


def rank_device(spec: str, world: World) -> torch.device:
    """This rank's device: ``--device`` as for one process, except that CUDA is ``cuda:LOCAL_RANK``.

    Raises:
        ConfigError: a sharded run given one GPU (``cuda:1``): each rank takes its own.
        IncompatibleError: more ranks on this machine than it has GPUs (and what :func:`select_device`
            raises).
    """
    device = select_device(spec)
    if not world.sharded or device.type != "cuda":
        return device
    if spec not in ("auto", "cuda"):
        raise ConfigError(
            f"--device {spec} names one GPU, but each rank of a sharded run takes its own (cuda:LOCAL_RANK); "
            "pass --device cuda or auto"
        )
    count = torch.cuda.device_count()
    if world.local_rank >= count:
        raise IncompatibleError(
            f"rank {world.rank} has LOCAL_RANK {world.local_rank}, but this machine has {count} CUDA "
            f"device(s): start at most {count} process(es) per machine (--nproc-per-node {count})"
        )
    return torch.device("cuda", world.local_rank)


def backend(device: torch.device) -> str:
    """The process group's backend for ranks on ``device``'s type (see the module docstring)."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def collective_timeout(env: Mapping[str, str] | None = None) -> datetime.timedelta:
    """``$FREQBENCH_DIST_TIMEOUT`` seconds, else :data:`DEFAULT_TIMEOUT_S`.

    Raises:
        ConfigError: not a positive, finite number.
    """
    raw = (os.environ if env is None else env).get(TIMEOUT_ENV)
    if raw is None:
        return datetime.timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(
            f"{TIMEOUT_ENV}={raw!r}, expected a positive number of seconds (default {DEFAULT_TIMEOUT_S:g})"
        )
    return datetime.timedelta(seconds=seconds)


@contextlib.contextmanager
def session(world: World, device: torch.device) -> Iterator[None]:
    """Join the job's process group for the block and leave it afterwards (nothing for one process).

    A group the caller joined already (a script of its own under torchrun) is used as it is.

    Raises:
        DistributedError: the group cannot be joined (no torchrun rendezvous), or the joined group is
            not the world of the environment.
    """
    if not world.sharded:
        yield
        return
    if dist.is_initialized():
        if (dist.get_rank(), dist.get_world_size()) != (world.rank, world.size):
            raise DistributedError(
                f"the process group already joined is rank {dist.get_rank()} of {dist.get_world_size()}, "
                f"the environment says rank {world.rank} of {world.size}"
            )
        yield
        return
    timeout = collective_timeout()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend(device), timeout=timeout)
    except (RuntimeError, ValueError) as e:
        raise DistributedError(
            f"rank {world.rank} of {world.size} could not join the process group ({_first_line(e)}); "
            "start sharded runs with torchrun, which sets MASTER_ADDR and MASTER_PORT"
        ) from e
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError, ValueError):
            dist.destroy_process_group()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _collective_failed(world: World, what: str, e: BaseException) -> DistributedError:
    timeout = collective_timeout().total_seconds()
    return DistributedError(
        f"rank {world.rank} of {world.size}: {what} failed ({_first_line(e)}): another rank failed or was "
        f"killed (its error comes first), or did not arrive within {TIMEOUT_ENV}={timeout:g} s; nothing "
        "uncommitted is kept, resume with `freqbench run --resume --out RUN_DIR`"
    )


def broadcast(obj: T, world: World, *, what: str = "the broadcast") -> T:
    """Rank 0's ``obj`` on every rank (what the other ranks pass is ignored).

    Raises:
        DistributedError: the collective failed (a rank died, or the timeout passed).
    """
    if not world.sharded:
        return obj
    box: list[Any] = [obj if world.writer else None]
    try:
        dist.broadcast_object_list(box, src=0)
    except RuntimeError as e:
        raise _collective_failed(world, what, e) from e
    return box[0]  # type: ignore[no-any-return]


def gather(obj: T, world: World, *, what: str = "the gather") -> list[T] | None:
    """Every rank's ``obj`` on rank 0, in rank order; None on the other ranks.

    Raises:
        DistributedError: the collective failed (a rank died, or the timeout passed).
    """
    if not world.sharded:
        return [obj]
    out: list[Any] | None = [None] * world.size if world.writer else None
    try:
        dist.gather_object(obj, out, dst=0)
    except RuntimeError as e:
        raise _collective_failed(world, what, e) from e
    return out


def shard_slices(n: int, *, batch_size: int, size: int) -> list[slice]:
    """The rows each of ``size`` ranks evaluates: contiguous runs of whole ``batch_size`` blocks.

    >>> shard_slices(10, batch_size=3, size=2)
    [slice(0, 6, None), slice(6, 10, None)]
    """
    blocks = -(-n // batch_size)
    cuts = [min(n, (r * blocks // size) * batch_size) for r in range(size + 1)]
    return [slice(a, b) for a, b in zip(cuts, cuts[1:], strict=False)]


def shard_of(data: ArrayDataset, rows: slice) -> ArrayDataset:
    """The rows ``rows`` of ``data`` with their stable sample indices (a view of a memory map)."""
    return ArrayDataset(data.info, data.images[rows], data.labels[rows], data.indices[rows])


def agree_on_plan(
    conditions: Sequence[Condition],
    keys: Sequence[str],
    stored: set[str] | None,
    *,
    batch_size: int,
    world: World,
    model: str,
) -> set[str]:
    """Rank 0's stored condition keys (``stored``, given on rank 0) on every rank, once every rank has
    checked that it computed rank 0's condition keys and batch size.

    Raises:
        DistributedError: this rank's keys or batch size differ from rank 0's.
    """
    plan: dict[str, Any] = broadcast(
        {"keys": list(keys), "stored": sorted(stored or ()), "batch_size": batch_size},
        world,
        what=f"sending the plan of {model}",
    )
    if plan["batch_size"] != batch_size:
        raise DistributedError(
            f"rank {world.rank} runs with --batch-size {batch_size}, rank 0 with {plan['batch_size']}: the "
            "samples would be split differently; start every rank with the same options"
        )
    differ = [c.key for c, a, b in zip(conditions, keys, plan["keys"], strict=False) if a != b]
    if differ or len(keys) != len(plan["keys"]):
        raise DistributedError(
            f"rank {world.rank} computed other condition keys than rank 0 for {model} "
            f"({', '.join(differ[:3]) or 'the condition list'}): the ranks loaded other weights, data, C "
            "dataset files or freqbench versions; every machine must hold the same ones"
        )
    return set(plan["stored"])


def batch_dependent(suite: Suite) -> list[str]:
    """Keys of the conditions whose per-sample results depend on which samples share a batch: attacks
    that draw from torch's global RNG seeded per batch (:func:`freqbench.attacks.base.batch_seed`)."""
    out = []
    for cond in suite.conditions:
        if cond.kind is Kind.ATTACK:
            attack = ATTACKS.get(cond.transform)(**cond.params)
            if getattr(attack, "random", False) and getattr(attack, "uses_global_rng", False):
                out.append(cond.key)
    return out


def describe(world: World, device: torch.device, suite: Suite) -> dict[str, Any]:
    """The manifest's ``sharding`` entry: world size, backend, split and the batch-dependent conditions."""
    return {
        "world_size": world.size,
        "backend": backend(device) if world.sharded else None,
        "split": SPLIT,
        "batch_dependent": batch_dependent(suite),
    }


def torchrun_command(nproc: int, args: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc-per-node N ARGS``: ``nproc`` processes on
    this machine (``ARGS`` as after ``python``, e.g. ``-m freqbench run ...``)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIMEOUT_ENV",
    "World",
    "agree_on_plan",
    "batch_dependent",
    "broadcast",
    "describe",
    "gather",
    "rank_device",
    "session",
    "shard_of",
    "shard_slices",
    "torchrun_command",
]
