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

- ``freqmod``: freqbench's frequency-modulation protocol (REFERENCE.md section 5; freqbench's own, not
  Jia, Bao & Ma's): a ``resnet20_freqmod_*`` model built with its first-layer low-band proportion set to
  ``proportion`` (:meth:`Recipe.model_config`; the exported ``model.pt`` records it), trained on
  images whose amplitude spectrum is multiplied by a random smooth radial gain with the phase kept
  (:mod:`freqbench.train.spectrum_augment`), per-sample seeded from the stream
  ``train-spectrum/epoch=e`` (see :class:`FreqmodRecipe`).

A recipe may also change the model it trains (:meth:`Recipe.model_config`, the identity by default):
:func:`freqbench.train.recipe.fit` builds the network from the adjusted config and ``model.pt`` records
its builder parameters (``"extra"``), so ``checkpoint:OUT/model.pt`` rebuilds the same network.
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
from freqbench.models.base import MODELS, ModelConfig
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import Perturbation
from freqbench.perturbations.params import make_perturbation
from freqbench.registry import Registry
from freqbench.suites.base import parse_condition_key
from freqbench.train.spectrum_augment import SpectrumPerturbation


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

    def model_config(self, cfg: ModelConfig) -> ModelConfig:
        """The config of the network this recipe trains, from the registered model's ``cfg`` (identity).

        Raises:
            ConfigError: the recipe cannot train this model.
        """
        return cfg

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


#: the builder parameter (``ModelConfig.extra``) that the freqmod recipe sets
PROPORTION_KEY = "proportion"


def proportion_models() -> list[str]:
    """The registered models with a first-layer low-band ``proportion`` (what ``freqmod`` trains)."""
    return [n for n in MODELS.names() if PROPORTION_KEY in MODELS.get(n).cfg.extra]


@RECIPES.register("freqmod")
@dataclass(frozen=True)
class FreqmodRecipe(Recipe):
    """freqbench's frequency-modulation protocol: a low/high first-layer proportion plus spectrum noise.

    **freqbench's own protocol** (REFERENCE.md section 5), not the method of Jia, Bao & Ma (arXiv
    1911.12044), which publishes none. Two parts:

    1. The model (one with the builder parameter ``proportion``, i.e. ``resnet20_freqmod_*``) is built
       with its first layer's low-band proportion set to ``proportion``: ``floor(16 p + 1/2)`` of the
       16 stem filters are fixed to the low band, the rest to the high band, each with its learnable
       radial gain (:class:`~freqbench.nn.frequency_modulation.FrequencyModulation`). The exported
       ``model.pt`` records it, so ``checkpoint:OUT/model.pt`` rebuilds the same split.
    2. Every augmented training image (after crop and flip) gets a power-spectrum perturbation
       (:class:`~freqbench.train.spectrum_augment.SpectrumPerturbation`): its amplitude spectrum is
       multiplied by ``exp(strength * l(r))``, ``l`` linear in the radius between ``knots`` standard
       normal log gains from DC to Nyquist, the DC gain fixed to 1 (the mean is kept), the phase
       kept, the result clipped to [0, 1]. Image ``i`` of epoch ``e`` draws from the per-sample stream
       ``SampleGenerator.from_seed(seed, [i], stream="train-spectrum/epoch=e")``: deterministic,
       independent of the batch, resumable to identical weights.

    Defaults: ``proportion`` 0.5 (8 low and 8 high filters, the model's own balanced default, so the
    recipe's baseline favours neither band). ``strength`` 0.5: at two standard deviations a knot's
    log gain is +-1 (amplitude x0.37 to x2.7), which spans CIFAR-10-C's contrast at severities 1-3
    (c = 0.75, 0.5, 0.4: log c = -0.29, -0.69, -0.92) and its severity-5 Gaussian blur (sigma 1 px,
    an extra corruption) at 8 cycles per 32 px image (exp(-2 pi^2 sigma^2 (8/32)^2) = 0.29, log
    -1.23), as losses and as boosts, without erasing whole bands; it clips 6% of CIFAR-10 pixel
    values (measurements in :mod:`~freqbench.train.spectrum_augment`). ``knots`` 4 (at 0, 1/3, 2/3
    and 1 of the Nyquist radius): gains that tilt and bend the spectrum's envelope, not ones that
    pick out single frequencies.
    ``strength=0`` trains the proportion alone.

    Attributes:
        proportion: p in [0, 1], the fraction of first-layer filters fixed to the low band.
        strength: standard deviation of the log gain at each knot (>= 0).
        knots: number of knots from DC to the Nyquist radius (>= 2).
    """

    name: ClassVar[str] = "freqmod"
    proportion: float = 0.5
    strength: float = 0.5
    knots: int = 4

    def __post_init__(self) -> None:
        p = self.proportion
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ConfigError(
                f"freqmod recipe: proportion must be a number in [0, 1] (the low-band fraction of "
                f"first-layer filters), got {p!r}"
            )
        object.__setattr__(self, "proportion", float(p))
        aug = self.augmentation()
        object.__setattr__(self, "strength", aug.strength)

    def augmentation(self) -> SpectrumPerturbation:
        """The power-spectrum perturbation with this recipe's strength and knots."""
        return SpectrumPerturbation(strength=self.strength, knots=self.knots)

    def model_config(self, cfg: ModelConfig) -> ModelConfig:
        if PROPORTION_KEY not in cfg.extra:
            raise ConfigError(
                f"the freqmod recipe trains a frequency-modulated model with a first-layer proportion; "
                f"{cfg.name!r} has none (its builder parameters: {sorted(cfg.extra)}). Use one of "
                f"{', '.join(proportion_models())} with --model"
            )
        return dataclasses.replace(cfg, extra={**cfg.extra, PROPORTION_KEY: self.proportion})

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
        gen = SampleGenerator.from_seed(seed, indices.to(torch.int64), stream=f"train-spectrum/epoch={epoch}")
        with torch.no_grad():
            return self.augmentation()(x, gen.to(x.device))


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
    "PROPORTION_KEY",
    "AdversarialRecipe",
    "FilteredRecipe",
    "FreqmodRecipe",
    "NoiseRecipe",
    "Recipe",
    "StandardRecipe",
    "make_recipe",
    "proportion_models",
    "recipe_from_description",
]
