"""Per-sample scores of a classifier's logits, and batched prediction over a dataset.

:func:`score_logits` is the one definition of what freqbench measures per sample (prediction,
correctness, cross-entropy, logit margin): the evaluation engine scores every condition with it and
training scores its test split with it through :func:`predict`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from freqbench.ops.device import map_batches


def score_logits(logits: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample scores of logits against integer labels, computed in float32 (or wider).

    ``pred`` (int64, argmax), ``correct`` (bool), ``loss`` (cross-entropy) and ``margin`` (true-class
    logit minus the largest other logit; negative when misclassified).

    Shape:
        logits: (B, K), y: (B,) -> each value (B,).
    """
    logits = logits.float()
    pred = logits.argmax(1)
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return {
        "pred": pred,
        "correct": pred == y,
        "loss": F.cross_entropy(logits, y, reduction="none"),
        "margin": true - other,
    }


def predict(
    model: nn.Module,
    batch: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]],
    n: int,
    *,
    batch_size: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """:func:`score_logits` of ``model`` (as it is: eval mode is the caller's choice) on rows ``0..n-1``.

    ``batch(rows)`` returns the images and labels of those rows (``ArrayDataset.batch``). Runs under
    ``torch.no_grad()`` in batches of ``batch_size``, halved on out-of-memory
    (:func:`~freqbench.ops.device.map_batches`).

    Returns:
        ``{"pred", "correct", "loss", "margin"}``, each an (n,) array.
    """
    out = {
        "pred": np.zeros(n, np.int64),
        "correct": np.zeros(n, bool),
        "loss": np.zeros(n, np.float32),
        "margin": np.zeros(n, np.float32),
    }

    def work(rows: np.ndarray) -> dict[str, torch.Tensor]:
        x, y = batch(rows)
        with torch.no_grad():
            return score_logits(model(x.to(device)), y.to(device))

    for sl, scores in map_batches(n, work, batch_size=batch_size, device=device):
        for name, value in scores.items():
            out[name][sl] = value.cpu().numpy()
    return out


__all__ = ["predict", "score_logits"]
