"""Does a model fit a dataset? Channels, input size and classes, and the logits of one forward pass.

The one home of these checks for evaluation (:mod:`freqbench.engine`) and training
(:mod:`freqbench.train`). They take the dataset's facts as plain values (image shape, class count,
name) because ``freqbench.models`` and ``freqbench.data`` are siblings that do not import each other.
"""

from __future__ import annotations

import torch
from torch import nn

from freqbench.errors import IncompatibleError
from freqbench.models.base import ModelConfig


def check_fits(
    cfg: ModelConfig,
    *,
    model: str,
    dataset: str,
    shape: tuple[int, int, int],
    num_classes: int,
    purpose: str = "evaluated",
) -> None:
    """Refuse a dataset of images ``shape`` (C, H, W) and ``num_classes`` classes the model cannot take.

    A ``None`` height or width in ``cfg.input_size`` accepts any size.

    Args:
        cfg: the model's config (``input_size``, ``num_classes``).
        model: the model's name as the user gave it (for the message).
        dataset: the dataset's name (for the message).
        shape: the dataset's image shape (C, H, W).
        num_classes: the dataset's number of classes.
        purpose: what was to be done, for the message (``evaluated``, ``trained``).

    Raises:
        IncompatibleError: naming every mismatch, the model's and the dataset's facts, and what to do.
    """
    c, h, w = shape
    mc, mh, mw = cfg.input_size
    problems = []
    if mc != c:
        problems.append(f"the model takes {mc}-channel images, the dataset has {c} channels")
    if (mh is not None and mh != h) or (mw is not None and mw != w):
        problems.append(f"the model expects {mh}x{mw} inputs, the dataset's images are {h}x{w}")
    if cfg.num_classes != num_classes:
        problems.append(f"the model has {cfg.num_classes} classes, the dataset {num_classes}")
    if problems:
        raise IncompatibleError(
            f"{model} cannot be {purpose} on {dataset}: "
            + "; ".join(problems)
            + f" (the model expects input {cfg.input_size} with {cfg.num_classes} classes, the dataset "
            f"has {tuple(shape)} with {num_classes}). Pick a matching --model/--dataset pair "
            "(`freqbench ls models`)."
        )


def check_logits(module: nn.Module, x: torch.Tensor, *, model: str, num_classes: int) -> None:
    """Run ``module`` on one image ``x`` (1, C, H, W) without gradients; refuse logits not (1, num_classes).

    Raises:
        IncompatibleError: the output has another shape.
    """
    with torch.no_grad():
        out = module(x)
    if out.shape != (1, num_classes):
        raise IncompatibleError(
            f"{model} returned logits of shape {tuple(out.shape)} for one image, expected (1, {num_classes})"
        )


__all__ = ["check_fits", "check_logits"]
