"""Frequency-constrained PGD: perturbations confined to a low-, high- or band-pass region.

Reference: Y. Sharma, G. W. Ding, M. Brubaker, "On the Effectiveness of Low Frequency Perturbations",
IJCAI 2019, arXiv:1903.00073: PGD whose perturbation is projected onto a low-frequency band after every
step. The bands reuse the frequency suite's ideal masks (:func:`freqbench.ops.masks.frequency_mask`,
cutoffs in cycles per image), applied with :func:`~freqbench.ops.masks.apply_rfft_mask`.

**The band.** ``P = irfft2(M * rfft2(.))`` with the ideal 0/1 mask ``M``. The mask is a function of the
radius, which is the same at k and -k (including the self-conjugate ``kx = 0`` and ``kx = W/2``
columns and the ``ky = -H/2`` row), so ``M * rfft2(d)`` is the half plane of a Hermitian spectrum
and ``P`` is the orthogonal projector onto the subspace ``A`` of real images whose spectrum lies in
the band (symmetric and idempotent; ``tests/attacks/test_attacks_band_pgd.py`` checks both). When the
mask keeps every bin (``band="low"`` with ``r`` beyond the corner of the spectrum) ``P`` is the
identity and is not applied at all, so no FFT rounding enters. Only the ``ideal`` profile defines a
band; smooth profiles are not projectors and are refused.

**The feasible set** of the perturbation ``delta`` is ``C = A ∩ B``, where ``B`` is the eps ball of
the attack's norm intersected with the [0, 1] box of the model contract (``0 <= x + delta <= 1``):

- Linf: ``B`` is one box, ``max(-eps, -x) <= delta <= min(eps, 1 - x)``; its projection is computed
  as torchattacks does, ``x_adv = clamp(x + clamp(u, -eps, eps), 0, 1)``, which equals the clamp of
  ``u`` onto that box because both intervals contain 0.
- L2: ``B = {||delta||_2 <= eps} ∩ box``; its projection is ``clamp(t u, -x, 1 - x)`` with the
  largest ``t`` in [0, 1] that keeps the norm within eps (the KKT point of the ball constraint,
  found exactly from the sorted breakpoints of the piecewise-quadratic norm, :func:`_project_l2_box`).

**The projection onto C** (the Euclidean one) is computed by Dykstra's alternating projections
(Boyle & Dykstra 1986; Bauschke & Combettes, *Convex Analysis*, 2nd ed., Thm. 30.7). Because ``A``
is a subspace, its correction term vanishes and the iteration from ``u`` is::

    b_0 = u, q_0 = 0
    b_k = proj_B(P(b_{k-1}) + q_{k-1}),   q_k = P(b_{k-1}) + q_{k-1} - b_k

Every iterate ``b_k`` lies in ``B`` (eps budget and box hold exactly, up to the float rounding of
``x + delta``), and ``b_k`` converges to ``proj_C(u)``. Each sample stops on its own (so the result
does not depend on the batch) once its **stopping residual**, the fraction of its energy outside the
band ``||b_k - P b_k||^2 / ||b_k||^2``, is at most ``proj_tol`` (default 1e-5, ten times below the
promised :data:`OUT_OF_BAND_LIMIT` = 1e-4), or after ``proj_iters`` iterations (default 2000). On
the akamaster ResNet-20 and real CIFAR-10 images the residual reaches 1e-4 within about 300
iterations and 1e-5 within about 1600 even for the thinnest band of the suite (low-pass r = 2; median
50-150). A sample that stops at the cap keeps its iterate if its residual is within
:data:`OUT_OF_BAND_LIMIT`; otherwise it is not silently kept: it is replaced by the feasible point
``s * P(b)`` (``P(b)`` shrunk towards 0 until it is inside ``B``), which lies in the band to float
precision but can be much weaker (``s = 0`` when ``P(b)`` points out of a saturated pixel). Either way
the returned images satisfy all three constraints, and the per-sample ``out_of_band_energy``
diagnostic reports what was achieved.

**Each step**, with ``g`` the gradient of the batch-mean cross-entropy (as torchattacks, so that the
gradients are bitwise the same; the 1/B factor does not change the step):

- Linf: ``u = (x_adv + alpha * sign(P g)) - x``: steepest ascent in Linf of the band-projected
  gradient (it maximises ``<g, P s>`` over ``||s||_inf <= alpha``); then ``x_adv = x + proj_C(u)``.
- L2: ``u = delta + alpha * P g / ||P g||_2``, which is already in the band; then project.

With an all-pass band this is, operation for operation, torchattacks 3.5.1 ``PGD`` (Linf):
``adv = adv + alpha * grad.sign(); delta = clamp(adv - x, -eps, eps); adv = clamp(x + delta, 0, 1)``,
so from the same start both return identical tensors (tested on real CIFAR-10 images).

Random start (default on): Linf draws ``U(-eps, eps)`` per pixel, L2 a Gaussian direction with radius
``eps * U(0, 1)``, both from the per-sample :class:`~freqbench.ops.random.SampleGenerator` streams, and
projects it onto ``C``. Everything is per sample, so the result does not depend on the batch size.

Diagnostics (:meth:`BandPGD.diagnostics`): ``out_of_band_energy``, the fraction of the returned
perturbation's energy outside the band, per sample (0 for a zero perturbation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.attacks.base import ATTACKS, AttackBase, Norm, check_inputs, eval_mode
from freqbench.budget import as_eps
from freqbench.errors import ConfigError
from freqbench.ops.masks import Band, Profile, apply_rfft_mask, frequency_mask
from freqbench.ops.random import SampleGenerator

Projector = Callable[[torch.Tensor], torch.Tensor]
#: the promise: the returned perturbation has at most this fraction of its energy outside the band
OUT_OF_BAND_LIMIT = 1e-4


def _l2(d: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm, shape (B, 1, 1, 1)."""
    return d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def _sq(d: torch.Tensor) -> torch.Tensor:
    """Per-sample squared L2 norm in float64, shape (B,)."""
    return d.double().flatten(1).square().sum(1)


class BallBox:
    """The set ``B`` = eps ball of ``norm`` ∩ [0, 1] box around ``x``, and two maps into it.

    ``project(u, x)`` is the Euclidean projection, returned as ``(x + delta, delta)``;
    ``shrink(a, x)`` is ``s * a`` with the largest ``s`` in [0, 1] inside ``B`` (a point of ``A ∩ B``
    when ``a`` is in the subspace ``A``, since ``B`` is convex and contains 0).
    """

    def __init__(self, norm: Norm, eps: float) -> None:
        self.norm, self.eps = norm, eps

    def bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel bounds of delta: ``[max(-eps, -x), min(eps, 1 - x)]`` (Linf), ``[-x, 1 - x]`` (L2)."""
        if self.norm is Norm.LINF:
            return (-x).clamp(min=-self.eps), (1 - x).clamp(max=self.eps)
        return -x, 1 - x

    def project(self, u: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.norm is Norm.LINF:
            # torchattacks' arithmetic; equal to the clamp of u onto bounds(x) in exact arithmetic
            x_adv = torch.clamp(x + torch.clamp(u, min=-self.eps, max=self.eps), min=0, max=1)
        else:
            x_adv = torch.clamp(x + _project_l2_box(u, x, self.eps), min=0, max=1)
        return x_adv, x_adv - x

    def shrink(self, a: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.bounds(x.double())
        v = a.double()
        up = torch.where(v > 0, hi / v.where(v > 0, 1.0), 1.0)
        ratio = torch.where(v < 0, lo / v.where(v < 0, -1.0), up)
        s = ratio.flatten(1).amin(1).clamp(0.0, 1.0).view(-1, 1, 1, 1)
        if self.norm is Norm.L2:
            s = torch.minimum(s, (self.eps / _l2(v).clamp_min(1e-300)).clamp(max=1.0))
        return self.project((s * v).to(a.dtype), x)


def _project_l2_box(u: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Exact projection of ``u`` onto ``{||d||_2 <= eps} ∩ {-x <= d <= 1 - x}``.

    KKT: ``d = clamp(t u, lo, hi)`` with ``t = 1 / (1 + lambda)`` in (0, 1]. ``f(t) = ||d(t)||^2`` is
    continuous, nondecreasing and piecewise quadratic: coordinate i follows ``t u_i`` up to its
    breakpoint ``s_i = c_i / u_i`` (``c_i`` the bound in the direction of ``u_i``) and stays at ``c_i``
    after it. With the breakpoints sorted, ``f(t) = t^2 * (sum of u_i^2 not yet clipped) + (sum of
    c_i^2 clipped)``; the segment where ``f`` crosses ``eps^2`` gives ``t`` in closed form.

    Shape:
        u, x: (B, C, H, W) -> (B, C, H, W).
    """
    b, n = u.shape[0], u[0].numel()
    v, lo, hi = u.double().flatten(1), -x.double().flatten(1), (1.0 - x.double()).flatten(1)
    e2 = eps * eps
    c = torch.where(v > 0, hi, torch.where(v < 0, lo, 0.0))
    brk = torch.where(v != 0, c / v.where(v != 0, 1.0), torch.inf)
    order = brk.argsort(dim=1)
    brk = brk.gather(1, order)
    v2, c2 = v.square().gather(1, order), c.square().gather(1, order)
    # on the segment ending at breakpoint j, coordinates < j are clipped and those >= j scale with t
    suffix_v2 = v2.flip(1).cumsum(1).flip(1)
    prefix_c2 = torch.cat([torch.zeros(b, 1, dtype=v.dtype, device=v.device), c2.cumsum(1)[:, :-1]], 1)
    f_at = torch.where(torch.isfinite(brk), brk.square() * suffix_v2 + prefix_c2, torch.inf)
    f_at = torch.cummax(f_at, dim=1).values  # nondecreasing in exact arithmetic; make it so for searchsorted
    j = torch.searchsorted(f_at, torch.full((b, 1), e2, dtype=v.dtype, device=v.device)).clamp_max(n - 1)
    t = torch.sqrt((e2 - prefix_c2.gather(1, j)).clamp_min(0.0) / suffix_v2.gather(1, j).clamp_min(1e-300))
    fits = torch.clamp(v, lo, hi).square().sum(1, keepdim=True) <= e2  # the box alone is inside the ball
    t = torch.where(fits, 1.0, t.clamp(max=1.0))
    d = torch.clamp(t * v, lo, hi)
    d = d * (eps / d.norm(dim=1, keepdim=True).clamp_min(1e-300)).clamp(max=1.0)  # float rounding only
    return d.view_as(u).to(u.dtype)


def dykstra(
    u: torch.Tensor,
    x: torch.Tensor,
    *,
    band: Projector | None,
    ball_box: BallBox,
    iters: int,
    tol: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean projection of ``u`` onto ``A ∩ B`` by Dykstra's algorithm (module docstring).

    Args:
        u: perturbations to project (B, C, H, W).
        x: the clean images, which define the box.
        band: the orthogonal projector onto ``A``; ``None`` for the whole space (skipped).
        ball_box: the set ``B`` (eps ball ∩ box) and its projection.
        iters: most iterations per sample.
        tol: stop a sample once ``||b - P b||^2 <= tol * ||b||^2``; samples above
            :data:`OUT_OF_BAND_LIMIT` after ``iters`` get the shrunk point (module docstring).

    Returns:
        ``(x_adv, delta)`` with ``delta`` in ``B`` and ``x_adv = x + delta`` in [0, 1].

    Shape:
        u, x: (B, C, H, W) -> two (B, C, H, W).
    """
    a = u if band is None else band(u)
    x_adv, b = ball_box.project(a, x)
    if band is None:  # B is the whole feasible set: one projection is exact
        return x_adv, b
    q = a - b
    active = torch.arange(u.shape[0], device=u.device)
    for _ in range(iters):
        pb = band(b[active])
        energy = _sq(b[active])
        converged = _sq(b[active] - pb) <= tol * energy
        pb, active = pb[~converged], active[~converged]
        if active.numel() == 0:
            return x_adv, b
        step = pb + q[active]
        adv_a, b_a = ball_box.project(step, x[active])
        q[active], b[active], x_adv[active] = step - b_a, b_a, adv_a
    pb = band(b[active])
    late = _sq(b[active] - pb) > OUT_OF_BAND_LIMIT * _sq(b[active])
    if late.any():
        idx = active[late]
        x_adv[idx], b[idx] = ball_box.shrink(pb[late], x[idx])
    return x_adv, b


class BandPGD(AttackBase):
    """PGD whose perturbation is kept in a frequency band by the exact projection (module docstring).

    Args:
        norm: ``Linf`` or ``L2``.
        eps: budget (number or exact fraction text).
        band: ``low``, ``high`` or ``band``.
        r: cutoff in cycles per image (low/high) or a (low, high) pair (band).
        steps: PGD steps.
        alpha: step size (default eps / 4).
        profile: the mask profile; only ``ideal`` (a projector) is accepted.
        random_start: start from a random point of the constrained set.
        proj_iters: most Dykstra iterations per projection and sample.
        proj_tol: Dykstra's stopping residual (out-of-band energy fraction).
    """

    version = 2
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
        proj_iters: int = 2000,
        proj_tol: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm = Norm(norm)
        if self.norm is Norm.NONE:
            raise ConfigError("band-constrained PGD needs norm 'Linf' or 'L2', got 'none'")
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
        if self.profile is not Profile.IDEAL:
            raise ConfigError(
                f"band-constrained PGD projects onto a band, which needs the 0/1 'ideal' mask; got "
                f"profile={self.profile!r} (a smooth filter is not a projection): use profile='ideal'"
            )
        self.random = bool(random_start)  # type: ignore[misc]
        self.random_start = bool(random_start)
        if int(proj_iters) < 1 or not 0.0 < float(proj_tol) <= OUT_OF_BAND_LIMIT:
            raise ConfigError(
                f"proj_iters must be >= 1 and 0 < proj_tol <= {OUT_OF_BAND_LIMIT} (the out-of-band "
                f"energy promised), got proj_iters={proj_iters} and proj_tol={proj_tol}"
            )
        self.proj_iters = int(proj_iters)
        self.proj_tol = float(proj_tol)
        self.implementation = "freqbench band-constrained PGD (Sharma et al. 2019), Dykstra projection"

    def params(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "band": str(self.band),
            "r": self.cutoffs[0] if len(self.cutoffs) == 1 else list(self.cutoffs),
            "steps": self.steps,
            "alpha": self.alpha,
            "profile": str(self.profile),
            "random_start": self.random_start,
            "proj_iters": self.proj_iters,
            "proj_tol": self.proj_tol,
        }

    def mask(self, size: tuple[int, int], *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The 0/1 band mask on the rfft2 half plane for images of ``size``."""
        return frequency_mask(self.band, self.cutoffs, size, profile=self.profile, device=device, dtype=dtype)

    def projector(self, x: torch.Tensor) -> Projector | None:
        """The band projector for images like ``x``; ``None`` when the band keeps every frequency."""
        mask = self.mask((x.shape[-2], x.shape[-1]), device=x.device, dtype=x.dtype)
        if bool((mask == 1).all()):
            return None
        return lambda d: apply_rfft_mask(d, mask)

    def _start(self, x: torch.Tensor, generator: SampleGenerator) -> torch.Tensor:
        g = generator.to(x.device)
        shape = tuple(x.shape[1:])
        if self.norm is Norm.LINF:
            return g.uniform(shape, low=-self.eps, high=self.eps, dtype=x.dtype)
        direction = g.normal(shape, dtype=x.dtype)
        radius = self.eps * g.uniform((), dtype=x.dtype).view(-1, 1, 1, 1)
        return direction / _l2(direction).clamp_min(1e-12) * radius

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: SampleGenerator | None
    ) -> torch.Tensor:
        if self.random_start:
            assert generator is not None  # AttackBase enforces it for random attacks
            return self._pgd(model, x, y, self._start(x, generator))
        return self._pgd(model, x, y, None)

    def attack_from(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None
    ) -> torch.Tensor:
        """PGD from a given starting perturbation (projected onto the feasible set first).

        ``start=None`` starts at ``x``. Used to compare with other implementations from the same
        start, e.g. torchattacks' ``U(-eps, eps)`` draw; ``__call__`` is this with its own start.

        Shape:
            x: (B, C, H, W) in [0, 1], y: (B,), start: (B, C, H, W) -> (B, C, H, W).
        """
        check_inputs(x, y)
        with torch.inference_mode(False), torch.enable_grad(), eval_mode(model):
            return self._pgd(model, x.clone(), y.clone(), start).detach()

    def _pgd(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None
    ) -> torch.Tensor:
        band = self.projector(x)
        ball_box = BallBox(self.norm, self.eps)

        def project(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return dykstra(u, x, band=band, ball_box=ball_box, iters=self.proj_iters, tol=self.proj_tol)

        if start is not None:
            x_adv, delta = project(start.to(x.dtype))
        else:
            x_adv, delta = x.clone(), torch.zeros_like(x)
        for _ in range(self.steps):
            x_adv.requires_grad_(True)
            loss = F.cross_entropy(model(x_adv), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = x_adv.detach()
            g = grad if band is None else band(grad)
            if self.norm is Norm.LINF:
                u = (x_adv + self.alpha * g.sign()) - x
            else:
                u = delta + self.alpha * g / _l2(g).clamp_min(1e-30)
            x_adv, delta = project(u)
        return x_adv

    def diagnostics(self, x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
        """``out_of_band_energy``: ``||(I - P) delta||^2 / ||delta||^2`` per sample, in float64."""
        delta = (x_adv - x).double()
        band = self.projector(delta)
        energy = _sq(delta)
        if band is None:  # every frequency is in the band
            return {"out_of_band_energy": torch.zeros_like(energy)}
        outside = _sq(delta - band(delta))
        frac = torch.where(energy > 0, outside / energy.clamp_min(1e-300), torch.zeros_like(energy))
        return {"out_of_band_energy": frac}


def pgd_linf_band(**params: Any) -> BandPGD:
    """Band-constrained PGD in Linf (see the module docstring for the parameters)."""
    return BandPGD(Norm.LINF, **params)


def pgd_l2_band(**params: Any) -> BandPGD:
    """Band-constrained PGD in L2 (see the module docstring for the parameters)."""
    return BandPGD(Norm.L2, **params)


ATTACKS.register("pgd_linf_band", pgd_linf_band)
ATTACKS.register("pgd_l2_band", pgd_l2_band)
