"""Per-channel input normalisation inside the model, and the wrapper every built model wears.

Every freqbench model takes float images in [0, 1] and normalises them itself (RobustBench's
contract), so perturbations and attacks always work in pixel space. The mean and std live in
*non-persistent* buffers (the idea of timm's ``layers/blur_pool.py`` filter buffers): they follow
``.to(device, dtype)`` but never enter a ``state_dict``, so a checkpoint of the bare network loads
into :attr:`Classifier.net` unchanged and the wrapper's ``state_dict`` keys are exactly the network's
keys prefixed with ``net.``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel.

    Args:
        mean: per-channel mean (length C).
        std: per-channel standard deviation (length C, all positive).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).

    Example:
        >>> norm = Normalize((0.5,), (0.25,))
        >>> norm(torch.ones(1, 1, 2, 2)).flatten().tolist()
        [2.0, 2.0, 2.0, 2.0]
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or len(mean) == 0:
            raise ValueError(f"mean and std need the same non-zero length, got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        # Held in float64 and cast to the input's dtype, so float64 evaluation sees the exact values.
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"expected (B, {self.mean.shape[1]}, H, W) input, got {tuple(x.shape)}")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        mean = tuple(round(v, 4) for v in self.mean.flatten().tolist())
        std = tuple(round(v, 4) for v in self.std.flatten().tolist())
        return f"mean={mean}, std={std}"


class Classifier(nn.Module):
    """A bare network behind its input normalisation: takes [0, 1] images, returns logits.

    Args:
        normalize: the input normalisation.
        net: the bare architecture (whatever a checkpoint's ``state_dict`` fills).

    Shape:
        x: (B, C, H, W) in [0, 1] -> logits (B, K).
    """

    def __init__(self, normalize: Normalize, net: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))
