"""One adapter for every kind of condition: perturbation, attack, replayed files.

The engine sees a :class:`Step`: ``step(model, x, y, indices, generator) -> x'``. Each condition kind
maps to a builder in ``STEP_BUILDERS``; the evaluation loop never branches on the kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from freqbench.attacks import ATTACKS
from freqbench.data import REPLAYS, DataRequest
from freqbench.errors import IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations import PERTURBATIONS
from freqbench.suites.base import Condition, Kind

StepFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, np.ndarray, SampleGenerator], torch.Tensor]


@dataclass(frozen=True)
class Step:
    """A resolved condition.

    Attributes:
        fn: the transform, ``fn(model, x, y, indices, generator) -> x'``.
        spec: JSON-stable description of what ran (enters the content key and the records).
        needs_grad: whether the transform differentiates through the model.
    """

    fn: StepFn
    spec: dict[str, Any]
    needs_grad: bool = False
    module: nn.Module | None = field(default=None, compare=False)

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        indices: np.ndarray,
        generator: SampleGenerator,
    ) -> torch.Tensor:
        return self.fn(model, x, y, indices, generator)


@dataclass(frozen=True)
class StepContext:
    """What builders may need besides the condition."""

    device: torch.device
    data_request: DataRequest
    state_dir: Path


def _perturbation(cond: Condition, ctx: StepContext) -> Step:
    module = PERTURBATIONS.get(cond.transform)(**cond.params).to(ctx.device)

    def fn(
        model: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, g: SampleGenerator
    ) -> torch.Tensor:
        return module(x, g)

    return Step(fn, module.spec(), module=module)


def _attack(cond: Condition, ctx: StepContext) -> Step:
    attack = ATTACKS.get(cond.transform)(**cond.params)
    attack.state_dir = ctx.state_dir / re.sub(r"[^A-Za-z0-9_.=-]+", "_", cond.key)

    def fn(
        model: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, g: SampleGenerator
    ) -> torch.Tensor:
        return attack(model, x, y, generator=g)

    return Step(fn, {**attack.spec(), "implementation": attack.implementation}, needs_grad=True)


def _replay(cond: Condition, ctx: StepContext) -> Step:
    source = REPLAYS.get(cond.transform)(ctx.data_request, **cond.params)

    def fn(
        model: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: np.ndarray, g: SampleGenerator
    ) -> torch.Tensor:
        xr, yr = source.batch(idx)
        if not torch.equal(yr, y.cpu()):
            raise IncompatibleError(
                f"{cond.transform} labels differ from the dataset's at the same indices: the replayed files "
                "do not belong to this dataset/split (use the matching --dataset, e.g. cifar10 for cifar10c)"
            )
        if xr.shape != x.shape:
            raise IncompatibleError(
                f"{cond.transform} images are {tuple(xr.shape[1:])}, the dataset's {tuple(x.shape[1:])}"
            )
        return xr.to(x.device, x.dtype)

    return Step(fn, {"kind": "replay", "name": cond.transform, **cond.params})


STEP_BUILDERS: dict[Kind, Callable[[Condition, StepContext], Step]] = {
    Kind.PERTURBATION: _perturbation,
    Kind.ATTACK: _attack,
    Kind.REPLAY: _replay,
}


def build_step(cond: Condition, ctx: StepContext) -> Step:
    """Resolve a condition into a callable step."""
    return STEP_BUILDERS[cond.kind](cond, ctx)
