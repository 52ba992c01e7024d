"""Batched, seeded training augmentation: random crop with zero padding and horizontal flip.

The standard CIFAR recipe (He et al. 2016, section 4.2: "4 pixels are padded on each side, and a 32x32
crop is randomly sampled from the padded image or its horizontal flip"). Every random number comes from
the explicit ``generator`` so a training run is reproducible and resumable bit for bit on the CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, *, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each side by ``padding`` and take one random (H, W) crop per image.

    Args:
        x: images.
        padding: pixels added on every side (0 returns ``x`` unchanged).
        generator: source of the crop offsets (on ``x``'s device or the CPU).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    if padding == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indexing puts the indexed dims first: (B, H, W, C).
    crops = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return crops.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, *, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)
