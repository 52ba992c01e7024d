"""The attack contract and its registry.

An attack needs the model and the labels: ``attack(model, x, y, *, generator=None) -> x_adv`` on float
images in [0, 1] (the model normalises internally, so attacks never normalise). Each attack declares
its ``norm`` and ``eps`` and a JSON-stable ``spec()`` that enters the result key, and ``implementation``
names the code that ran (``torchattacks 3.5.1``, ``pyautoattack 0.2.0``...).

``ATTACKS`` maps a name to a factory ``(**params) -> Attack``; the condition ``pgd_linf@eps=8/255``
resolves to ``ATTACKS.get("pgd_linf")(eps="8/255")``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from freqbench.ops.random import SampleGenerator
from freqbench.registry import Registry


class Norm(StrEnum):
    LINF = "Linf"
    L2 = "L2"
    NONE = "none"


@runtime_checkable
class Attack(Protocol):
    norm: Norm
    eps: float
    implementation: str
    #: True when the attack keeps resumable state under ``state_dir``
    resumable: ClassVar[bool]
    #: a folder inside the run directory named by the condition's content key (so per model weights,
    #: data and condition), set by the engine before calling; only resumable attacks use it
    state_dir: Path | None

    def spec(self) -> dict[str, Any]: ...

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, generator: SampleGenerator | None = None
    ) -> torch.Tensor: ...

    def diagnostics(self, x: torch.Tensor, x_adv: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample measurements ``{name: (B,)}`` of a returned batch (see ``AttackBase``)."""
        ...


AttackFactory = Callable[..., Attack]
ATTACKS: Registry[AttackFactory] = Registry("attack")
