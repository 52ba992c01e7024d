"""Where tensors run: device selection, the CPU thread count, and batching that backs off on out-of-memory.

Evaluation (:mod:`freqbench.engine`) and training (:mod:`freqbench.train`), siblings that must not
import each other, share these rules: one ``--device`` grammar with typed errors (:func:`select_device`,
checked per device type in :data:`DEVICE_CHECKS`), a thread count that is restored afterwards
(:func:`torch_threads`), and one batched loop that halves the batch when memory runs out
(:func:`map_batches`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import torch

from freqbench.errors import ConfigError, IncompatibleError

T = TypeVar("T")


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


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Set torch's CPU thread count to ``n`` inside the block and restore it afterwards (None: keep)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is torch running out of device (CUDA) or host (CPU allocator) memory."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "can't allocate memory" in str(err)


def map_batches(
    n: int,
    work: Callable[[np.ndarray], T],
    *,
    batch_size: int,
    device: torch.device,
    on_shrink: Callable[[int], None] | None = None,
) -> Iterator[tuple[slice, T]]:
    """``work(rows)`` over consecutive rows ``0..n-1`` in batches; yields ``(rows as a slice, result)``.

    When ``work`` runs out of memory (:func:`is_out_of_memory`) the batch size is halved, the CUDA
    cache emptied, ``on_shrink(new size)`` told, and the same rows tried again with the smaller
    batch; any other error, or running out of memory with one row, propagates. Batches therefore
    cover the rows in order, each exactly once, whatever the back-off: results that do not depend on
    the batch size do not depend on it either.
    """
    bs = batch_size
    start = 0
    while start < n:
        stop = min(n, start + bs)
        try:
            out = work(np.arange(start, stop))
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err) or bs == 1:
                raise
            bs //= 2
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if on_shrink is not None:
                on_shrink(bs)
            continue
        yield slice(start, stop), out
        start = stop


__all__ = ["DEVICE_CHECKS", "is_out_of_memory", "map_batches", "select_device", "torch_threads"]
