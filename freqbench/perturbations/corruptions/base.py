"""Shared machinery of the CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019).

Each corruption is a function ``fn(x, severity, *, generator=None) -> x'`` on float (B, C, H, W) in
[0, 1] plus a :class:`Corruption` subclass, registered in ``PERTURBATIONS`` under the corruption's
name by its class statement. Severity parameter tables live next to each family's code
(``noise.py``, ``blur.py``, ``weather.py``, ``spatter.py``, ``digital.py``, ``elastic.py``), each with
the source of its table (REFERENCE.md section 1); :func:`severity_row` reads them.

8-bit levels. The reference generator works per image on uint8 arrays and ends with ``np.uint8``
(truncation), or, where ImageMagick writes the file, with rounding. Here a *level* is a value
``k / 255`` and a *uint8 value* the integer ``k`` (held in a float tensor):

- :func:`read_levels` / :func:`read_uint8_values` read the input as the reference does,
  ``round(x * 255) / 255`` / ``round(x * 255)`` in float64: exact for 8-bit images, at most half a
  level away for other inputs. float32 cannot hold ``k / 255`` exactly, and the final truncation
  turns such last-bit differences into one-level differences, so every corruption starts from them;
- :func:`truncate_to_levels` / :func:`round_to_levels` are the reference's final
  ``np.uint8(clip(v, 0, 1) * 255) / 255`` and ImageMagick's rounding to the nearest level; their
  ``_`` variants work in place and return the input dtype through :func:`levels_as`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import torch

from freqbench.corruption_names import SEVERITIES
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import PERTURBATIONS, Perturbation
from freqbench.perturbations.params import number

T = TypeVar("T")


# --- severity tables ---------------------------------------------------------------------------------
def severity_row(table: Sequence[T], severity: int, name: str) -> T:
    """The parameters of ``severity`` (1..5) in a severity table.

    >>> severity_row((0.04, 0.06, 0.08, 0.09, 0.10), 2, "gaussian_noise")
    0.06
    """
    if int(severity) not in range(1, len(table) + 1):
        raise ValueError(f"{name}: severity must be one of 1..{len(table)}, got {severity!r}")
    return table[int(severity) - 1]


# --- 8-bit levels --------------------------------------------------------------------------------------
def read_uint8_values(x: torch.Tensor) -> torch.Tensor:
    """The integer levels ``round(clip(x, 0, 1) * 255)`` in float64: the reference's uint8 input.

    Shape:
        any -> same, float64.
    """
    return x.to(torch.float64, copy=True).clamp_(0.0, 1.0).mul_(255.0).round_()


def read_levels(x: torch.Tensor) -> torch.Tensor:
    """The input as the reference reads it: 8-bit levels ``round(x * 255) / 255`` in float64.

    Shape:
        any -> same, float64.
    """
    return read_uint8_values(x).div_(255.0)


def levels_as(k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Integer levels ``k`` in 0..255 (a float tensor) as ``(k / 255).to(dtype)``, the division done
    in ``k``'s dtype.

    Only a float64 ``k`` with a float64 ``dtype`` is divided in float64: for the 256 levels, float32
    division by 255 rounds every quotient exactly as float64 division cast to float32 does, and so do
    their float16 and bfloat16 casts (checked exhaustively), so other outputs need no float64 work.
    ``k`` may be overwritten.

    Shape:
        any -> same, ``dtype``.
    """
    if k.dtype == torch.float64 and dtype == torch.float64:
        return k.div_(255.0)
    return k.to(torch.float32).div_(255.0).to(dtype)


def truncate_to_levels(v: torch.Tensor) -> torch.Tensor:
    """The reference's ``np.uint8(np.clip(v, 0, 1) * 255)``, returned as levels / 255.

    Shape:
        any -> same shape and dtype.
    """
    return v.clamp(0.0, 1.0).mul_(255.0).floor_().div_(255.0)


def truncate_to_levels_(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """:func:`truncate_to_levels` computed in place in ``v`` and returned in ``dtype``: the same values
    as ``truncate_to_levels(v).to(dtype)`` (see :func:`levels_as`).

    Shape:
        any -> same shape, ``dtype``.
    """
    return levels_as(v.clamp_(0.0, 1.0).mul_(255.0).floor_(), dtype)


def round_to_levels(v: torch.Tensor) -> torch.Tensor:
    """Round to the nearest 8-bit level (ImageMagick 6's write of an 8-bit PNG, 2018), as levels / 255.

    Shape:
        any -> same shape and dtype.
    """
    return torch.floor(v.clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0


def round_to_levels_(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """:func:`round_to_levels` computed in place in ``v`` and returned in ``dtype``.

    Shape:
        any -> same shape, ``dtype``.
    """
    return levels_as(v.clamp_(0.0, 1.0).mul_(255.0).add_(0.5).floor_(), dtype)


# --- modules and registration ----------------------------------------------------------------------------
class CorruptionFn(Protocol):
    def __call__(
        self, x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
    ) -> torch.Tensor: ...


class Corruption(Perturbation):
    """Module wrapper of a corruption function at one severity (1..5).

    A subclass names its corruption in the class statement and is registered in ``PERTURBATIONS``
    under that name::

        class GaussianNoise(Corruption, name="gaussian_noise", fn=gaussian_noise, random=True):
            ...

    ``version`` (default 1) is bumped when the output for the same severity changes; it enters the
    result keys.
    """

    fn: ClassVar[Callable[..., torch.Tensor]]

    def __init_subclass__(
        cls, *, name: str, fn: CorruptionFn, random: bool, version: int = 1, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.name, cls.random, cls.version = name, random, version
        cls.fn = staticmethod(fn)
        PERTURBATIONS.register(name, cls)

    def __init__(self, severity: int) -> None:
        super().__init__()
        lo, hi = min(SEVERITIES), max(SEVERITIES)
        self.severity = int(number(self.name, "severity", severity, integer=True, ge=lo, le=hi))

    def params(self) -> dict[str, Any]:
        return {"severity": self.severity}

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        return type(self).fn(x, self.severity, generator=generator)
