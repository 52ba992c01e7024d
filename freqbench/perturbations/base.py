"""The perturbation contract and its registry.

A perturbation is an input-only transform x -> x' on float images in [0, 1], shape (B, C, H, W). Each
comes as a function (``low_pass(x, radius, profile=...)``, ``gaussian_noise(x, severity, generator=g)``)
plus a :class:`Perturbation` module that stores the parameters and calls it. Randomness comes only
from an explicit :class:`~freqbench.ops.random.SampleGenerator` (one stream per sample), so the output
for a sample does not depend on the batch it is in.

``PERTURBATIONS`` maps a name to a *factory* ``(**params) -> Perturbation``; a suite condition
``gaussian_noise@3`` resolves to ``PERTURBATIONS.get("gaussian_noise")(severity=3)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from freqbench.ops.random import SampleGenerator
from freqbench.registry import Registry

PerturbationFactory = Callable[..., "Perturbation"]
PERTURBATIONS: Registry[PerturbationFactory] = Registry("perturbation")


class Perturbation(nn.Module):
    """Base module: subclasses set ``name``, store parameters, implement ``forward``.

    ``forward(x, generator=None)`` must preserve shape, dtype and device and return values in [0, 1]
    (or finite signed values when ``signed`` is True, e.g. a high-pass residual).
    Deterministic perturbations ignore ``generator``; random ones raise if it is missing.
    """

    name: ClassVar[str] = ""
    #: bump when the output for the same parameters changes; it enters result keys
    version: ClassVar[int] = 1
    #: whether forward() draws from the generator
    random: ClassVar[bool] = False
    #: True for outputs that are signed by design (high-pass residuals): not clamped to [0, 1]
    signed: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        """JSON-stable parameters (numbers, strings, lists)."""
        raise NotImplementedError(f"{type(self).__name__} must define params()")

    def spec(self) -> dict[str, Any]:
        """JSON-stable description that enters the result content key."""
        return {"kind": "perturbation", "name": self.name, "version": self.version, **self.params()}

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def diagnostics(self, x: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample measurements of what this transform did to a batch (default: none).

        The engine calls it once per batch, without gradients, with the input ``x`` and this
        perturbation's output ``out`` for that batch. Return ``{name: value}`` with one float per
        sample, shape (B,). The engine stores each as the per-sample array ``diag_<name>`` of the
        condition and :func:`freqbench.store.aggregate.summarize` turns it into the record ``<name>``
        (the mean over samples with a normal-approximation 95% interval), so names must be
        lowercase identifiers (``[a-z][a-z0-9_]*``) that are not already a metric (``accuracy``,
        ``loss``...). Return the same names for every batch.

        Compute from ``(x, out)``, so the numbers describe the output that was scored (e.g. the
        fraction of output pixels on the [0, 1] bounds, or an amplitude-spectrum error from
        ``torch.fft.fft2`` of both); the output of a random perturbation cannot be redrawn here.
        What only ``forward`` saw (the unclamped image of a clamped filter) it may keep for the
        ``out`` it returned (:mod:`freqbench.perturbations.frequency` does). Attacks have the same
        hook (:meth:`freqbench.attacks.base.AttackBase.diagnostics`).

        Shape:
            x, out: (B, C, H, W) -> each value (B,).
        """
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params().items())


def require_generator(generator: SampleGenerator | None, x: torch.Tensor, name: str) -> SampleGenerator:
    """Check that a random perturbation got a generator with one stream per sample."""
    if generator is None:
        raise ValueError(
            f"{name} is random: pass generator=SampleGenerator.from_seed(seed, batch_size) "
            "(or sample indices) so results are reproducible"
        )
    if len(generator) != x.shape[0]:
        raise ValueError(f"{name}: generator has {len(generator)} streams for a batch of {x.shape[0]}")
    return generator.to(x.device) if generator.keys.device != x.device else generator


def check_images(x: torch.Tensor, name: str) -> None:
    """Check the (B, C, H, W) floating-point contract."""
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"{name} expects float images of shape (B, C, H, W), got {tuple(x.shape)} {x.dtype}")


class Identity(Perturbation):
    """The unperturbed ``clean`` condition every suite starts with."""

    name = "clean"

    def params(self) -> dict[str, Any]:
        return {}

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        return x


PERTURBATIONS.register("clean", Identity)
