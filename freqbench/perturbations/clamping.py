"""What a clamp to [0, 1] did to a perturbed batch: per-sample diagnostics and the unclamped output.

The low-pass filters and phase scrambling of :mod:`freqbench.perturbations.frequency` clamp their
output to [0, 1], which changes pixels (ringing, scrambled phases leave the range) and so the
spectrum the model sees. Their modules keep the unclamped output of the last ``forward`` in a
:class:`ClampedOutput` and report, per sample, :func:`clamped_fraction`, :func:`clamp_error` and
(phase scrambling) :func:`amplitude_error`, the diagnostics the engine stores beside each condition
(:meth:`freqbench.perturbations.base.Perturbation.diagnostics`).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch


def clamped_fraction(unclamped: torch.Tensor) -> torch.Tensor:
    """Per sample, the fraction of values outside [0, 1], i.e. changed by a clamp to [0, 1].

    Shape:
        (B, ...) -> (B,), float64.
    """
    flat = unclamped.flatten(1)
    return ((flat < 0) | (flat > 1)).to(torch.float64).mean(1)


def clamp_error(unclamped: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per sample, ``||out - unclamped||_2 / ||unclamped||_2``: how far the clamp moved the image (the
    size of the change that :func:`clamped_fraction` counts).

    Shape:
        (B, ...), (B, ...) -> (B,), float64.
    """
    before = unclamped.double().flatten(1)
    den = before.norm(dim=1).clamp_min(torch.finfo(torch.float64).tiny)
    return (out.double().flatten(1) - before).norm(dim=1) / den


def amplitude_error(unclamped: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per sample, ``||(|F(out)| - |F(unclamped)|)||_2 / |||F(unclamped)|||_2`` over every channel's
    ``fft2``: how much the clamp changed the amplitude spectrum (0 when it changed nothing).

    Shape:
        (B, C, H, W), (B, C, H, W) -> (B,), float64.
    """
    before = torch.fft.fft2(unclamped.double()).abs().flatten(1)
    after = torch.fft.fft2(out.double()).abs().flatten(1)
    den = before.norm(dim=1).clamp_min(torch.finfo(torch.float64).tiny)
    return (after - before).norm(dim=1) / den


class ClampedOutput:
    """The unclamped output of a module's last ``forward``, keyed by the tensor it returned."""

    def __init__(self) -> None:
        self._out: weakref.ref[torch.Tensor] | None = None
        self._pre: torch.Tensor | None = None

    def keep(self, pre: torch.Tensor, out: torch.Tensor) -> None:
        # detached: a filter inside a model under attack must not keep the autograd graph alive
        self._out, self._pre = weakref.ref(out), pre.detach()

    def __getstate__(self) -> dict[str, Any]:
        return {}  # copies and pickles (torch.save of a filtered model) start with nothing pending

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def get(self, out: torch.Tensor, name: str) -> torch.Tensor:
        if self._out is None or self._out() is not out or self._pre is None:
            raise RuntimeError(
                f"{name}.diagnostics(x, out) measures the clamp of the last forward: call it once, right "
                "after forward, with the tensor forward returned"
            )
        pre, self._out, self._pre = self._pre, None, None
        return pre
