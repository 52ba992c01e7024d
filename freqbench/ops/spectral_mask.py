"""The spectral mask operator ``y = irfft2(rfft2(x) * mask, s=(H, W))``, with interchangeable backends.

Every frequency filter, the projection of the band-constrained attacks and the Fourier-mask probes
apply this one operation; :func:`apply_spectral_mask` is its one home (``ops.masks.apply_rfft_mask``
calls it).

Semantics. ``x`` is real, (B, C, H, W); ``mask`` is real, on the ``rfft2`` half plane (H, W//2+1), and
broadcasts over batch and channel: (H, W//2+1), (C, H, W//2+1), (1 or B, 1 or C, H, W//2+1). A real
half-plane mask defines a full-plane mask by Hermitian symmetry, ``M(-k) = M(k)``, so the result is
real. The half plane holds both bins (ky, 0) and (-ky, 0) of column 0, and for even W both (ky, W/2)
and (-ky, W/2): on these self-conjugate columns only the symmetric part ``(M[ky] + M[-ky]) / 2`` of the
mask can act. That is what torch's ``irfft2`` computes (its inverse real transform drops the imaginary
part there), and every backend here reproduces it exactly for any real mask, including masks that are
not symmetric in ky; the ``torch`` backend symmetrises those two columns itself, so that its result
does not depend on how an FFT library treats a non-Hermitian column (cuFFT documents no behaviour).
Radial masks are symmetric, and for them that step changes nothing, bit for bit.

The operator is linear in ``x`` and self-adjoint for a real mask (``<A x, g> = <x, A g>``, including
the self-conjugate columns once symmetrised), so the gradient with respect to ``x`` is the same masked
transform of the output gradient, on the same backend. The gradient with respect to the mask is
``w(kx) Re(X conj(G)) / (H W)`` summed over the broadcast dimensions, with ``X = rfft2(x)``,
``G = rfft2(grad)`` and ``w = 1`` on the self-conjugate columns, 2 elsewhere (torch's own ``irfft2``
backward), computed with ``torch.fft`` whatever the backend. Both are checked by ``gradcheck``.

Float16 and bfloat16 images are computed in float32 and the result rounded back; float64 stays
float64. Shape, dtype and device are preserved.

Backends (:data:`SPECTRAL_MASK_BACKENDS`; each names what it cannot serve, and asking for it by name
then raises :class:`~freqbench.errors.BackendError`):

- ``torch``: ``torch.fft``, the reference; any size, dtype and device.
- ``matmul``: real DFT matrices (:mod:`freqbench.ops.spectral_mask_matmul`, cached per size, dtype and
  device); any device, H, W <= 256 (its (W, H, H) operator grows as H^2 W).
- ``triton``: one fused kernel, one load and one store per image
  (:mod:`freqbench.ops.spectral_mask_triton`); CUDA tensors (or any under ``TRITON_INTERPRET=1``),
  float32/float16/bfloat16, H, W <= 64.

``auto`` picks by a fixed rule, never by trying, so it never silently changes the numbers (all
backends agree to float rounding): the backend set by :func:`spectral_mask_backend` if any; otherwise
on CUDA ``triton`` where it can serve, else ``torch`` (the GPU figures remain to be measured, see the
README); on the CPU ``matmul`` for a mask shared by every image ((H, W//2+1), or 1 in the batch and
channel dimensions) and H, W <= 64, measured 1.1-4.7x faster than ``torch.fft`` over the benchmark
grid (2.5x at 1024 x 3 x 32 x 32, ``reports/spectral-mask-cpu.md``), and ``torch`` for per-channel
and per-sample masks (measured no faster on ``matmul``) and larger images; ``torch`` on other devices.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch

from freqbench.errors import BackendError, ConfigError, DependencyError, IncompatibleError
from freqbench.ops.spectral_mask_matmul import apply_matmul
from freqbench.registry import Registry

_REAL = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: largest image side the ``auto`` rule sends to ``matmul`` on the CPU (measured: at 128 x 128 a
#: Gaussian mask is 2x slower there than on ``torch``)
MATMUL_CPU_MAX = 64
MATMUL_MAX = 256
TRITON_MAX = 64


@dataclass(frozen=True)
class SpectralBackend:
    """One way to compute the operator.

    Attributes:
        name: registry name.
        unsupported: ``(x, mask) -> reason`` why it cannot serve these tensors, or None if it can.
        run: ``(x, mask) -> y`` for validated tensors (mask already in the compute dtype).
    """

    name: str
    unsupported: Callable[[torch.Tensor, torch.Tensor], str | None]
    run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


SPECTRAL_MASK_BACKENDS: Registry[SpectralBackend] = Registry("spectral-mask backend")
_PREFERRED: ContextVar[str | None] = ContextVar("freqbench_spectral_mask_backend", default=None)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the transform is computed in: float64 for float64 images, float32 otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# torch ---------------------------------------------------------------------------------------------
def symmetrize_self_conjugate(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Replace the self-conjugate columns (0, and W/2 for even W) by their part symmetric in ky.

    Shape:
        (..., H, W//2+1) -> (..., H, W//2+1).
    """
    height = mask.shape[-2]
    cols = torch.tensor([0, width // 2] if width % 2 == 0 and width > 1 else [0], device=mask.device)
    mirror = torch.remainder(-torch.arange(height, device=mask.device), height)
    own = mask.index_select(-1, cols)
    return mask.index_copy(-1, cols, 0.5 * (own + own.index_select(-2, mirror)))


def _run_torch(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    if x.numel() == 0:  # MKL's FFT refuses empty batches
        return torch.empty_like(x)
    spec = torch.fft.rfft2(x.to(mask.dtype))
    return torch.fft.irfft2(spec * symmetrize_self_conjugate(mask, w), s=(h, w)).to(x.dtype)


# matmul --------------------------------------------------------------------------------------------
def _matmul_unsupported(x: torch.Tensor, mask: torch.Tensor) -> str | None:
    if max(x.shape[-2:]) > MATMUL_MAX:
        return f"images {x.shape[-2]}x{x.shape[-1]} (the matmul backend takes H, W <= {MATMUL_MAX})"
    return None


def _run_matmul(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return apply_matmul(x.to(mask.dtype).contiguous(), mask).to(x.dtype)


# triton --------------------------------------------------------------------------------------------
_TRITON_MODULE = "freqbench.ops.spectral_mask_triton"


def triton_interpreting() -> bool:
    """Whether Triton kernels run in its CPU interpreter (``TRITON_INTERPRET`` at kernel definition)."""
    module = sys.modules.get(_TRITON_MODULE)
    if module is not None:
        return bool(module.INTERPRETED)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def _triton_unsupported(x: torch.Tensor, mask: torch.Tensor) -> str | None:
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install triton)"
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return f"dtype {x.dtype} (the Triton kernel takes float32, float16 and bfloat16)"
    if max(x.shape[-2:]) > TRITON_MAX:
        return f"images {x.shape[-2]}x{x.shape[-1]} (the Triton kernel holds H, W <= {TRITON_MAX} on chip)"
    if x.device.type != "cuda" and not triton_interpreting():
        return (
            f"a {x.device.type} tensor (the Triton kernel runs on CUDA, or on the CPU under "
            "TRITON_INTERPRET=1 set before triton is imported)"
        )
    return None


def _run_triton(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    try:
        module = importlib.import_module(_TRITON_MODULE)
    except ImportError as exc:
        raise DependencyError(f"the triton backend cannot import triton ({exc}); pip install triton") from exc
    return module.apply_triton(x.contiguous(), mask)


def _always(x: torch.Tensor, mask: torch.Tensor) -> str | None:
    return None


SPECTRAL_MASK_BACKENDS.register("torch", SpectralBackend("torch", _always, _run_torch))
SPECTRAL_MASK_BACKENDS.register("matmul", SpectralBackend("matmul", _matmul_unsupported, _run_matmul))
SPECTRAL_MASK_BACKENDS.register("triton", SpectralBackend("triton", _triton_unsupported, _run_triton))


# choice --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def spectral_mask_backend(name: str) -> Iterator[None]:
    """Make ``backend="auto"`` mean ``name`` inside the block (e.g. ``"torch"`` for a reference run).

    A backend that cannot serve a call inside the block raises; nothing falls back.
    """
    _backend(name)
    token = _PREFERRED.set(name)
    try:
        yield
    finally:
        _PREFERRED.reset(token)


def _backend(name: str) -> SpectralBackend:
    if name not in SPECTRAL_MASK_BACKENDS:
        known = ", ".join(repr(n) for n in SPECTRAL_MASK_BACKENDS.names())
        raise ConfigError(f"unknown spectral-mask backend {name!r}: use 'auto' or one of {known}")
    return SPECTRAL_MASK_BACKENDS.get(name)


def auto_backend(x: torch.Tensor, mask: torch.Tensor) -> str:
    """The backend ``auto`` resolves to for these tensors (module docstring)."""
    preferred = _PREFERRED.get()
    if preferred is not None:
        return preferred
    if x.device.type == "cuda":
        return "triton" if _triton_unsupported(x, mask) is None else "torch"
    shared = all(n == 1 for n in mask.shape[:-2])
    if x.device.type == "cpu" and shared and max(x.shape[-2:]) <= MATMUL_CPU_MAX:
        return "matmul"
    return "torch"


# validation ----------------------------------------------------------------------------------------
def _check(x: Any, mask: Any) -> None:
    for what, t in (("x", x), ("mask", mask)):
        if not isinstance(t, torch.Tensor):
            raise IncompatibleError(f"apply_spectral_mask: {what} must be a torch.Tensor, got {type(t)}")
        if t.dtype not in _REAL:
            fix = "pass real images (e.g. x.float() / 255)" if what == "x" else "pass a real float mask"
            raise IncompatibleError(
                f"apply_spectral_mask: {what} has dtype {t.dtype}, expected a real floating dtype "
                f"(float16, bfloat16, float32, float64); {fix}"
            )
    if x.dim() != 4:
        raise IncompatibleError(
            f"apply_spectral_mask: x has shape {tuple(x.shape)}, expected (B, C, H, W); add the missing "
            "dimensions with x[None] or reshape"
        )
    b, c, h, w = x.shape
    half = (h, w // 2 + 1)
    lead = tuple(mask.shape[:-2])
    fits = (
        2 <= mask.dim() <= 4
        and tuple(mask.shape[-2:]) == half
        and all(m in (1, n) for m, n in zip(reversed(lead), (c, b)))
    )
    if not fits:
        raise IncompatibleError(
            f"mask shape {tuple(mask.shape)} does not fit images {tuple(x.shape)}: expected {half}, "
            f"(1 or {c}, {h}, {w // 2 + 1}) or (1 or {b}, 1 or {c}, {h}, {w // 2 + 1}) on the rfft2 half "
            "plane (build it with freqbench.ops.masks.frequency_mask)"
        )
    if mask.device != x.device:
        raise IncompatibleError(
            f"mask is on {mask.device} but x on {x.device}; move it with mask.to(x.device)"
        )


# autograd ------------------------------------------------------------------------------------------
def _mask_grad(x: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    if x.numel() == 0:
        return torch.zeros_like(mask)
    prod = torch.fft.rfft2(x.to(mask.dtype)) * torch.fft.rfft2(grad.to(mask.dtype)).conj()
    weight = torch.full((w // 2 + 1,), 2.0, dtype=mask.dtype, device=mask.device)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    full = prod.real * (weight / (h * w))
    lead = (1,) * (4 - mask.dim()) + tuple(mask.shape)
    return full.sum_to_size(lead).view(mask.shape)


class _SpectralMask(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, mask: torch.Tensor, backend: SpectralBackend) -> torch.Tensor:
        ctx.backend = backend
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, mask)
        return backend.run(x, mask)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, mask = ctx.saved_tensors
        # self-adjoint: the input gradient is the same transform (differentiable again: linear)
        gx = _SpectralMask.apply(grad, mask, ctx.backend) if ctx.needs_input_grad[0] else None
        gm = _mask_grad(x, grad, mask) if ctx.needs_input_grad[1] else None
        return gx, gm, None


def apply_spectral_mask(x: torch.Tensor, mask: torch.Tensor, *, backend: str = "auto") -> torch.Tensor:
    """``irfft2(rfft2(x) * mask, s=(H, W))`` on the chosen backend (module docstring).

    Args:
        x: real images, float16/bfloat16/float32/float64.
        mask: real half-plane mask, broadcastable over batch and channel; cast to the compute dtype
            (float64 for float64 images, float32 otherwise).
        backend: ``auto``, ``torch``, ``matmul`` or ``triton``.

    Raises:
        IncompatibleError: complex or integer tensors, a mask shape that does not fit, other devices.
        BackendError: a named backend that cannot serve these tensors.
        ConfigError: an unknown backend name.

    Shape:
        x (B, C, H, W), mask (H, W//2+1), (C, H, W//2+1) or (B, C, H, W//2+1) with 1 for broadcast
        dimensions -> (B, C, H, W).

    >>> x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    >>> keep_all = torch.ones(8, 5, dtype=torch.float64)
    >>> torch.allclose(apply_spectral_mask(x, keep_all, backend="matmul"), x)
    True
    """
    _check(x, mask)
    name = auto_backend(x, mask) if backend == "auto" else backend
    chosen = _backend(name)
    reason = chosen.unsupported(x, mask)
    if reason is not None:
        raise BackendError(
            f"spectral-mask backend {name!r} cannot serve {reason}; use backend='auto' or 'torch'"
        )
    mask = mask.to(compute_dtype(x.dtype))
    return _SpectralMask.apply(x, mask, chosen)
