"""Applying a condition to a dataset, batch by batch: the one path from images to a condition's images.

:func:`condition_batches` is what the evaluation loop (:func:`freqbench.engine.loop.evaluate_condition`)
scores and what ``make-c`` (:func:`freqbench.api.make_c`) writes to files, so both see the same
images for the same (seed, condition key, sample index).

On a CUDA device the host side of the next batch (reading uint8 images, converting them to float,
pinning the memory) is prepared in a thread while the device computes the current one, and batches
are copied to the device without blocking (:data:`READ_AHEAD_DEVICES`). On the CPU, where reading a
batch costs well under 1% of a ResNet-20 forward pass and a thread would compete with torch for the
cores, batches are read in line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from freqbench.data import ArrayDataset
from freqbench.engine.progress import Progress
from freqbench.engine.steps import Step
from freqbench.ops.device import map_batches
from freqbench.ops.random import SampleGenerator, sample_keys
from freqbench.suites.base import Condition

#: what one batch's work returns: indices, x, y, x', logits
_Work = tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]
#: host side of a batch: sample indices, images, labels
_Host = tuple[np.ndarray, torch.Tensor, torch.Tensor]
#: device types whose batches are read one ahead in a thread (module docstring)
READ_AHEAD_DEVICES = frozenset({"cuda"})


class _HostBatches:
    """Reads the host side of batches. With a ``pool``, starts reading the rows after each batch in its
    thread, used when the next call asks for exactly those rows (after an out-of-memory back-off it
    asks for fewer, which are read in line). ``pin``: page-locked memory, for non-blocking copies."""

    def __init__(self, data: ArrayDataset, pool: ThreadPoolExecutor | None, *, pin: bool) -> None:
        self.data, self.pool, self.pin = data, pool, pin
        self.pending: tuple[tuple[int, int], Future[_Host]] | None = None

    def read(self, rows: np.ndarray) -> _Host:
        x, y = self.data.batch(rows)
        if self.pin:
            x, y = x.pin_memory(), y.pin_memory()
        return self.data.indices[rows], x, y

    def __call__(self, rows: np.ndarray) -> _Host:
        span = (int(rows[0]), int(rows[-1]) + 1)
        pending, self.pending = self.pending, None
        got = pending[1].result() if pending is not None and pending[0] == span else self.read(rows)
        start, stop = span[1], min(len(self.data), span[1] + len(rows))
        if self.pool is not None and start < stop:
            self.pending = ((start, stop), self.pool.submit(self.read, np.arange(start, stop)))
        return got


@dataclass(frozen=True)
class Batch:
    """One batch of a condition: dataset rows, sample indices, input, labels, output, logits.

    Attributes:
        rows: the dataset rows of the batch (consecutive).
        indices: their stable sample indices (seeds and C dataset files follow them).
        x: the images, on the device.
        y: the labels, on the device.
        out: the condition's output ``x'`` (``x`` itself for the identity), detached.
        logits: the model's logits on ``out``; None when no model was given.
    """

    rows: slice
    indices: np.ndarray
    x: torch.Tensor
    y: torch.Tensor
    out: torch.Tensor
    logits: torch.Tensor | None


def condition_batches(
    data: ArrayDataset,
    step: Step,
    cond: Condition,
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
    progress: Progress,
    label: str,
    model: nn.Module | None = None,
    score: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[Batch]:
    """Apply a condition to every image of ``data``, batch by batch, and score the output on ``model``.

    The one path from a dataset to a condition's images: each sample's random stream is
    ``SampleGenerator(sample_keys(seed, cond.key, sample index))``, so the output for a sample does
    not depend on the batch it is in; the batch is halved on out-of-memory
    (:func:`~freqbench.ops.device.map_batches`). Without ``model`` only input-only conditions
    (perturbations, C dataset files) can run and ``Batch.logits`` is None. ``score``: what computes
    the logits instead of ``model`` under ``no_grad`` (the gated forward pass of
    :func:`freqbench.engine.fast.prepare_model`); the step itself always gets ``model``.

    Raises:
        ConfigError: an attack condition without a model (from its step).
    """
    n = len(data)
    task = progress.start(label, n)
    ahead = device.type in READ_AHEAD_DEVICES
    pool = ThreadPoolExecutor(1, thread_name_prefix="freqbench-batches") if ahead else None
    try:
        host = _HostBatches(data, pool, pin=device.type == "cuda")
        yield from _batches(
            n,
            host,
            step,
            cond,
            seed=seed,
            batch_size=batch_size,
            device=device,
            progress=progress,
            task=task,
            model=model,
            score=score,
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    progress.finish(task)


def _batches(
    n: int,
    host: _HostBatches,
    step: Step,
    cond: Condition,
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
    progress: Progress,
    task: Any,
    model: nn.Module | None,
    score: Callable[[torch.Tensor], torch.Tensor] | None,
) -> Iterator[Batch]:
    copy_async = device.type == "cuda"  # from page-locked memory (_HostBatches)

    def work(rows: np.ndarray) -> _Work:
        idx, x, y = host(rows)
        x, y = x.to(device, non_blocking=copy_async), y.to(device, non_blocking=copy_async)
        g = SampleGenerator(sample_keys(seed, cond.key, torch.from_numpy(idx)).to(device))
        grad = torch.enable_grad() if step.needs_grad else torch.no_grad()
        with grad:
            out = step(model, x, y, idx, g)
        if out.requires_grad:
            out = out.detach()
        logits = None
        if score is not None:
            logits = score(out)
        elif model is not None:
            with torch.no_grad():
                logits = model(out)
        return idx, x, y, out, logits

    def shrunk(bs: int) -> None:
        progress.note(f"out of memory: batch size lowered to {bs}")

    for sl, (idx, x, y, out, logits) in map_batches(
        n, work, batch_size=batch_size, device=device, on_shrink=shrunk
    ):
        yield Batch(sl, idx, x, y, out, logits)
        progress.advance(task, sl.stop - sl.start)


__all__ = ["Batch", "condition_batches"]
