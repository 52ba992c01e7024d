"""Shared machinery of the CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019).

Each corruption is a function ``fn(x, severity, *, generator=None) -> x'`` on float (B, C, H, W) in
[0, 1] plus a :class:`Corruption` module registered in ``PERTURBATIONS`` under the corruption's name.
Severity parameter tables live next to each family's code (``noise.py``, ``blur.py``, ``weather.py``,
``digital.py``), each with the source of its table (REFERENCE.md section 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch

from freqbench.corruption_names import SEVERITIES
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import PERTURBATIONS, Perturbation
from freqbench.perturbations.params import number


class CorruptionFn(Protocol):
    def __call__(
        self, x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
    ) -> torch.Tensor: ...


class Corruption(Perturbation):
    """Module wrapper of a corruption function at one severity (1..5)."""

    fn: ClassVar[Callable[..., torch.Tensor]]

    def __init__(self, severity: int) -> None:
        super().__init__()
        lo, hi = min(SEVERITIES), max(SEVERITIES)
        self.severity = int(number(self.name, "severity", severity, integer=True, ge=lo, le=hi))

    def params(self) -> dict[str, Any]:
        return {"severity": self.severity}

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        return type(self).fn(x, self.severity, generator=generator)


def register_corruption(
    name: str, *, random: bool, version: int = 1
) -> Callable[[CorruptionFn], CorruptionFn]:
    """Decorator: register ``fn`` as corruption ``name`` (module class built here)."""

    def decorator(fn: CorruptionFn) -> CorruptionFn:
        cls = type(
            "".join(p.title() for p in name.split("_")),
            (Corruption,),
            {
                "name": name,
                "random": random,
                "version": version,
                "fn": staticmethod(fn),
                "__doc__": fn.__doc__,
            },
        )
        PERTURBATIONS.register(name, cls)
        return fn

    return decorator
