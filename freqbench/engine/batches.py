"""Applying a condition to a dataset, batch by batch: the one path from images to a condition's images.

:func:`condition_batches` is what the evaluation loop (:func:`freqbench.engine.loop.evaluate_condition`)
scores and what ``make-c`` (:func:`freqbench.api.make_c`) writes to files, so both see the same
images for the same (seed, condition key, sample index).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
) -> Iterator[Batch]:
    """Apply a condition to every image of ``data``, batch by batch, and score the output on ``model``.

    The one path from a dataset to a condition's images: each sample's random stream is
    ``SampleGenerator(sample_keys(seed, cond.key, sample index))``, so the output for a sample does
    not depend on the batch it is in; the batch is halved on out-of-memory
    (:func:`~freqbench.ops.device.map_batches`). Without ``model`` only input-only conditions
    (perturbations, C dataset files) can run and ``Batch.logits`` is None.

    Raises:
        ConfigError: an attack condition without a model (from its step).
    """
    n = len(data)
    task = progress.start(label, n)

    def work(rows: np.ndarray) -> _Work:
        idx = data.indices[rows]
        x, y = data.batch(rows)
        x, y = x.to(device), y.to(device)
        g = SampleGenerator(sample_keys(seed, cond.key, torch.from_numpy(idx)).to(device))
        grad = torch.enable_grad() if step.needs_grad else torch.no_grad()
        with grad:
            out = step(model, x, y, idx, g)
        if out.requires_grad:
            out = out.detach()
        logits = None
        if model is not None:
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
    progress.finish(task)


__all__ = ["Batch", "condition_batches"]
