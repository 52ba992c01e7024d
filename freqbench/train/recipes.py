"""Training recipes: what a run does to each training batch, and what stands in front of the model.

One frozen, typed config class per recipe, registered in :data:`RECIPES` under the name that
``freqbench train --recipe NAME`` takes. Every recipe shares the optimiser, schedule, crop and flip of
:mod:`freqbench.train.recipe`; a recipe adds a step on each augmented batch (:meth:`Recipe.prepare`)
and, optionally, a deterministic input filter that the trained model is evaluated (and exported)
behind (:attr:`Recipe.input_filter`).

- ``standard``: nothing more (the recipe of the bundled ``resnet20_fashion_mnist`` weights; it draws
  no extra random numbers, so its weights are unchanged by the existence of the others).
- ``filtered``: train and test on a frequency-suite filter, e.g. ``gaussian_filter@sigma=2`` (low
  pass) or ``gaussian_residual@sigma=12`` (original minus blur), written as a condition key and built
  with the validated constructor (:func:`freqbench.perturbations.params.make_perturbation`). The filter
  is applied after the crop and flip and in front of the model at test time; the exported ``model.pt``
  records it, and the run's model specification is ``checkpoint:OUT/model.pt+FILTER``.
- ``noise``: additive Gaussian noise of standard deviation ``sigma`` (in [0, 1] pixel units), clipped
  to [0, 1]. The noise of image ``i`` in epoch ``e`` comes from the per-sample stream
  ``SampleGenerator.from_seed(seed, [i], stream="train-noise/epoch=e")`` (:mod:`freqbench.ops.random`),
  so it depends on nothing but the seed, the epoch and the image index: runs are reproducible and
  resume to identical weights.

- ``adversarial``: PGD adversarial training (Madry et al. 2018) with the registered ``pgd_linf``
  attack, per-sample seeded (see :class:`AdversarialRecipe`).

The frequency-modulation recipe (``freqmod``) is not registered yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from freqbench.attacks import ATTACKS, Attack
from freqbench.budget import as_eps
from freqbench.errors import ConfigError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import Perturbation
from freqbench.perturbations.params import make_perturbation
from freqbench.registry import Registry
from freqbench.suites.base import parse_condition_key


@dataclass(frozen=True)
class Recipe:
    """Base of the recipe configs: the standard recipe's (identity) behaviour."""

    name: ClassVar[str] = ""

    def describe(self) -> dict[str, Any]:
        """JSON-stable name and settings (recorded in checkpoints, ``train_config.json``, ``model.pt``)."""
        return {"name": self.name, **dataclasses.asdict(self)}

    @property
    def input_filter(self) -> str | None:
        """The deterministic filter (a condition key) placed in front of the model, or None."""
        return None

    def filter_module(self) -> nn.Module | None:
        """:attr:`input_filter` as a module (what evaluation and ``checkpoint:...+FILTER`` put in front)."""
        return None

    def prepare(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        indices: torch.Tensor,
        epoch: int,
        seed: int,
        model: nn.Module,
    ) -> torch.Tensor:
        """The training batch fed to the model, from the augmented batch ``x`` of images ``indices``.

        Shape:
            x: (B, C, H, W) in [0, 1]; y: (B,) labels; indices: (B,) dataset indices -> (B, C, H, W).
        """
        return x


RECIPES: Registry[type[Recipe]] = Registry("recipe")


@RECIPES.register("standard")
@dataclass(frozen=True)
class StandardRecipe(Recipe):
    """Crop, flip and SGD only (:mod:`freqbench.train.recipe`)."""

    name: ClassVar[str] = "standard"


def _build_filter(key: str) -> Perturbation:
    fname, params = parse_condition_key(key)
    pert = make_perturbation(fname, params)
    if pert.random:
        raise ConfigError(
            f"train filter {key!r} is random; the filtered recipe needs a deterministic filter such as "
            "gaussian_filter@sigma=2 or gaussian_residual@sigma=12"
        )
    return pert


@RECIPES.register("filtered")
@dataclass(frozen=True)
class FilteredRecipe(Recipe):
    """Train and test behind one deterministic frequency filter.

    Attributes:
        train_filter: condition key of a registered deterministic perturbation, e.g.
            ``gaussian_filter@sigma=2`` or ``gaussian_residual@sigma=12``.
    """

    name: ClassVar[str] = "filtered"
    train_filter: str = ""

    def __post_init__(self) -> None:
        if not self.train_filter:
            raise ConfigError(
                "the filtered recipe needs --train-filter, e.g. gaussian_filter@sigma=2 or "
                "gaussian_residual@sigma=12 (see `freqbench ls perturbations`)"
            )
        _build_filter(self.train_filter)

    @property
    def input_filter(self) -> str | None:
        return self.train_filter

    def filter_module(self) -> Perturbation:
        return _build_filter(self.train_filter)

    def prepare(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        indices: torch.Tensor,
        epoch: int,
        seed: int,
        model: nn.Module,
    ) -> torch.Tensor:
        with torch.no_grad():
            return self.filter_module()(x)


@RECIPES.register("noise")
@dataclass(frozen=True)
class NoiseRecipe(Recipe):
    """Gaussian-noise augmentation, per-sample seeded.

    Attributes:
        sigma: noise standard deviation in [0, 1] pixel units (> 0).
    """

    name: ClassVar[str] = "noise"
    sigma: float = 0.1

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ConfigError(f"noise recipe: sigma must be > 0 (pixel units in [0, 1]), got {self.sigma}")
        object.__setattr__(self, "sigma", float(self.sigma))

    def prepare(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        indices: torch.Tensor,
        epoch: int,
        seed: int,
        model: nn.Module,
    ) -> torch.Tensor:
        gen = SampleGenerator.from_seed(seed, indices.to(torch.int64), stream=f"train-noise/epoch={epoch}")
        noise = gen.to(x.device).normal(tuple(x.shape[1:]), dtype=x.dtype)
        return (x + self.sigma * noise).clamp_(0.0, 1.0)


@RECIPES.register("adversarial")
@dataclass(frozen=True)
class AdversarialRecipe(Recipe):
    """PGD adversarial training (Madry et al. 2018): every training batch replaced by its Linf PGD attack.

    The attack is the registered ``pgd_linf`` (:data:`freqbench.attacks.ATTACKS`, torchattacks' PGD
    with a random start), run with the model in eval mode (batch-norm statistics are not updated by
    the attack's forward passes; the flags are restored afterwards). Its random start is seeded from
    the per-sample streams ``(seed, "train-pgd/epoch=e", image index)`` through the attack contract's
    batch seed, inside a forked RNG, so runs are deterministic and resume to identical weights. The
    defaults are Madry et al.'s CIFAR-10 settings: eps 8/255, step 2/255, 7 steps.

    Attributes:
        eps: Linf budget in [0, 1] pixel units (a number, or exact text such as ``"8/255"``).
        alpha: step size (same units).
        steps: PGD iterations (>= 1).
    """

    name: ClassVar[str] = "adversarial"
    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 7

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", as_eps(self.eps, name="adversarial recipe eps"))
        object.__setattr__(self, "alpha", as_eps(self.alpha, name="adversarial recipe alpha"))
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"adversarial recipe: steps must be an integer >= 1, got {self.steps!r}")

    def attack(self) -> Attack:
        """The registered ``pgd_linf`` attack with this recipe's budget."""
        return ATTACKS.get("pgd_linf")(eps=self.eps, alpha=self.alpha, steps=self.steps)

    def prepare(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        indices: torch.Tensor,
        epoch: int,
        seed: int,
        model: nn.Module,
    ) -> torch.Tensor:
        gen = SampleGenerator.from_seed(seed, indices.to(torch.int64), stream=f"train-pgd/epoch={epoch}")
        return self.attack()(model, x, y, generator=gen.to(x.device))


def make_recipe(
    name: str, options: Mapping[str, Any] | None = None, *, spelled: Mapping[str, str] | None = None
) -> Recipe:
    """The config of recipe ``name`` with ``options`` (its fields), checked.

    ``spelled`` maps a field to how the user wrote it (``{"sigma": "--noise-sigma"}``) for the errors.

    Raises:
        UnknownNameError: no recipe ``name`` (with the closest names).
        ConfigError: an option the recipe does not take, or a value it refuses.
    """
    cls = RECIPES.get(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    given = dict(options or {})
    say = dict(spelled or {})
    for key in given:
        if key not in fields:
            allowed = ", ".join(sorted(say.get(f, f) for f in fields)) or "no options"
            raise ConfigError(f"recipe {name!r} takes no option {say.get(key, key)}; it takes {allowed}")
    return cls(**given)


def recipe_from_description(desc: Mapping[str, Any]) -> Recipe:
    """Inverse of :meth:`Recipe.describe` (what a checkpoint records)."""
    options = {k: v for k, v in desc.items() if k != "name"}
    return make_recipe(str(desc["name"]), options)


__all__ = [
    "RECIPES",
    "AdversarialRecipe",
    "FilteredRecipe",
    "NoiseRecipe",
    "Recipe",
    "StandardRecipe",
    "make_recipe",
    "recipe_from_description",
]
