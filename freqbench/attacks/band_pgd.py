"""Frequency-constrained PGD: perturbations confined to a low-, high- or band-pass region.

Reference: Y. Sharma, G. W. Ding, M. Brubaker, "On the Effectiveness of Low Frequency Perturbations",
IJCAI 2019, arXiv:1903.00073: PGD whose perturbation is projected onto a low-frequency band after every
step. The bands reuse the frequency suite's masks (:func:`freqbench.ops.masks.frequency_mask`, cutoffs
in cycles per image, ``ideal`` profile by default), applied with :func:`~freqbench.ops.masks.apply_rfft_mask`.

Each step, with P the band projection (for the ideal profile an orthogonal projector: a 0/1 mask on
the Fourier coefficients):

1. ``g = P(grad of the summed cross-entropy)``; the step is ``alpha * g / ||g||`` in the attack's norm
   (Linf: divided by ``max |g|``; L2: by ``||g||_2``), so every step moves ``alpha`` and stays in the
   band. The usual Linf step ``sign(grad)`` is not band-limited and would mostly be projected away.
2. ``delta = P(delta + step)``: back into the band.
3. ``delta = delta * min(1, eps / ||delta||)``: into the eps ball by *rescaling* each sample, which
   keeps delta in the band (element-wise clipping would put energy outside it). For L2 this is the
   exact Euclidean projection onto band ∩ ball; for Linf it is a feasible point of that set.
4. ``x_adv = clamp(x + delta, 0, 1)``: the [0, 1] box of the model contract, last because it is not
   negotiable. It is the only step that can leak energy outside the band, and only at pixels within
   ``eps`` of 0 or 1 (saturated regions); step 2 of the next iteration removes that leak again.

The order is band -> eps -> box so that the result is always a valid image within budget, and is
exactly band-limited wherever the box is inactive.

Random start (default on): Linf draws ``U(-eps, eps)`` per pixel, L2 a Gaussian direction with radius
``eps * U(0, 1)``, both from the per-sample :class:`~freqbench.ops.random.SampleGenerator` streams, then
steps 2-4. Everything else is per-sample, so the result does not depend on the batch size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.attacks.attack import AttackBase, as_eps
from freqbench.attacks.base import ATTACKS, Norm
from freqbench.errors import ConfigError
from freqbench.ops.masks import Band, Profile, apply_rfft_mask, frequency_mask
from freqbench.ops.random import SampleGenerator


def _norm(d: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-sample norm, shape (B, 1, 1, 1)."""
    flat = d.flatten(1)
    n = flat.abs().amax(1) if norm is Norm.LINF else flat.norm(dim=1)
    return n.view(-1, 1, 1, 1)


class BandPGD(AttackBase):
    """PGD whose perturbation is projected onto a frequency band after every step.

    Args:
        norm: ``Linf`` or ``L2``.
        eps: budget (number or exact fraction text).
        band: ``low``, ``high`` or ``band``.
        r: cutoff in cycles per image (low/high) or a (low, high) pair (band).
        steps: PGD steps.
        alpha: step size (default eps / 4).
        profile: mask profile (``ideal``; ``gaussian``/``butterworth`` filter instead of projecting).
        random_start: start from a random point of the constrained set.
    """

    random = True

    def __init__(
        self,
        norm: Norm | str,
        *,
        eps: float | str,
        band: Band | str,
        r: float | list[float] | tuple[float, ...],
        steps: int = 10,
        alpha: float | str | None = None,
        profile: Profile | str = Profile.IDEAL,
        random_start: bool = True,
    ) -> None:
        super().__init__()
        self.norm = Norm(norm)
        if self.norm is Norm.NONE:
            raise ConfigError("band-constrained PGD needs norm 'Linf' or 'L2'")
        self.name = f"pgd_{str(self.norm).lower()}_band"  # type: ignore[misc]
        self.eps = as_eps(eps)
        self.band = Band(band)
        cut = (float(r),) if isinstance(r, (int, float)) else tuple(float(c) for c in r)
        if len(cut) != (2 if self.band is Band.BAND else 1):
            raise ConfigError(
                f"band={self.band} needs {2 if self.band is Band.BAND else 1} cutoff(s), got r={r!r}"
            )
        self.cutoffs = cut
        if int(steps) < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        self.steps = int(steps)
        self.alpha = self.eps / 4 if alpha is None else as_eps(alpha, name="alpha")
        self.profile = Profile(profile)
        self.random = bool(random_start)  # type: ignore[misc]
        self.random_start = bool(random_start)
        self.implementation = "freqbench band-constrained PGD (Sharma et al. 2019)"

    def params(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "band": str(self.band),
            "r": self.cutoffs[0] if len(self.cutoffs) == 1 else list(self.cutoffs),
            "steps": self.steps,
            "alpha": self.alpha,
            "profile": str(self.profile),
            "random_start": self.random_start,
        }

    def _start(self, x: torch.Tensor, generator: SampleGenerator) -> torch.Tensor:
        g = generator.to(x.device)
        shape = tuple(x.shape[1:])
        if self.norm is Norm.LINF:
            return g.uniform(shape, low=-self.eps, high=self.eps, dtype=x.dtype)
        direction = g.normal(shape, dtype=x.dtype)
        radius = self.eps * g.uniform((), dtype=x.dtype).view(-1, 1, 1, 1)
        return direction / _norm(direction, Norm.L2).clamp_min(1e-12) * radius

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: SampleGenerator | None
    ) -> torch.Tensor:
        mask = frequency_mask(
            self.band, self.cutoffs, (x.shape[-2], x.shape[-1]), profile=self.profile, device=x.device
        )

        def constrain(d: torch.Tensor) -> torch.Tensor:
            d = apply_rfft_mask(d, mask)
            d = d * (self.eps / _norm(d, self.norm).clamp_min(1e-30)).clamp(max=1.0)
            return (x + d).clamp(0.0, 1.0) - x

        if self.random_start:
            assert generator is not None  # AttackBase enforces it for random attacks
            delta = constrain(self._start(x, generator))
        else:
            delta = torch.zeros_like(x)
        for _ in range(self.steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model(x + delta), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            grad = apply_rfft_mask(grad, mask)
            step = self.alpha * grad / _norm(grad, self.norm).clamp_min(1e-30)
            delta = constrain(delta.detach() + step)
        return (x + delta).clamp(0.0, 1.0)


def pgd_linf_band(**params: Any) -> BandPGD:
    """Band-constrained PGD in Linf (see the module docstring for the parameters)."""
    return BandPGD(Norm.LINF, **params)


def pgd_l2_band(**params: Any) -> BandPGD:
    """Band-constrained PGD in L2 (see the module docstring for the parameters)."""
    return BandPGD(Norm.L2, **params)


ATTACKS.register("pgd_linf_band", pgd_linf_band)
ATTACKS.register("pgd_l2_band", pgd_l2_band)
