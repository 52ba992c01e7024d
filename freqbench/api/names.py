"""Names -> objects: model specifications, models, datasets, suites and the registries' listings."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freqbench.config import SuiteOptions
from freqbench.data import C_DATASETS, DATASETS, ArrayDataset, DataRequest
from freqbench.engine.loop import ModelUnderTest
from freqbench.errors import ConfigError, UnknownNameError
from freqbench.model_spec import format_model_spec, parse_model_spec
from freqbench.models import MODELS
from freqbench.models import load_model as load_model_and_config
from freqbench.perturbations import PERTURBATIONS
from freqbench.perturbations.params import make_perturbation
from freqbench.suites import SUITES, Suite
from freqbench.suites.base import build_suite, parse_condition_key


def expand_models(specs: Sequence[str]) -> tuple[str, ...]:
    """Model specifications (:mod:`freqbench.model_spec`) with their wildcards expanded.

    A pattern (wildcards in a name without a source prefix) becomes every registered name it matches,
    each behind the same filter; an alias (``resnet20_fmnist``) becomes the name it stands for, so both
    spellings give the same records; other specifications pass through as written. Filters are checked
    here, before anything is loaded.

    Raises:
        ConfigError: a specification off the grammar, or a filter with bad parameters.
        UnknownNameError: a pattern that matches nothing, or an unknown filter.
    """
    out: list[str] = []
    for text in specs:
        spec = parse_model_spec(text)
        if spec.filter is not None:
            _filter_module(spec.filter, text)
        if spec.is_pattern:
            found = MODELS.names(spec.base)
            if not found:
                raise UnknownNameError(f"no model matches {spec.base!r}; see `freqbench ls models`")
            out += [format_model_spec(f, spec.filter) for f in found]
        else:
            out.append(canonical_model_spec(text))
    return tuple(dict.fromkeys(out))


def canonical_model_spec(text: str) -> str:
    """``text`` with a model alias replaced by the name it stands for (``resnet20_fmnist+F`` ->
    ``resnet20_fashion_mnist+F``); any other specification as written."""
    spec = parse_model_spec(text)
    name = MODELS.canonical(spec.base) if spec.source is None else spec.base
    return text if name == spec.base else format_model_spec(name, spec.filter)


def _filter_module(key: str, spec: str) -> nn.Module:
    """The checked, deterministic filter ``key`` of the model specification ``spec``."""
    fname, params = parse_condition_key(key)
    pert = make_perturbation(fname, params)
    if pert.random:
        raise ConfigError(f"{fname} is random; only deterministic filters can wrap a model ({spec!r})")
    return pert


def build_model(name: str, *, seed: int = 0, data: ArrayDataset | None = None) -> ModelUnderTest:
    """Build a registered model (optionally ``MODEL+FILTER``) in eval mode.

    With ``data``, adaptable models (``timm:``) take its channels, class count and image size; fixed
    models must already match it. Random-init models are seeded with ``seed`` so they are reproducible.
    """
    spec = parse_model_spec(name)
    base, sep, filt = spec.base, bool(spec.filter), spec.filter or ""
    torch.manual_seed(seed)
    fit: dict[str, Any] = {}
    if data is not None:
        c, h, w = data.shape
        fit = {"channels": c, "num_classes": data.info.num_classes, "input_size": (h, w)}
    module: nn.Module
    module, cfg = load_model_and_config(base, **fit)
    weights = cfg.weights.sha256 if cfg.weights is not None else f"random-init:seed={seed}"
    if sep:
        module = nn.Sequential(_filter_module(filt, name), module)
        weights += f"+{filt}"
    return ModelUnderTest(name=name, module=module.eval(), cfg=cfg, weights_sha256=weights)


def load_dataset(
    name: str, *, split: str = "test", root: Path | None = None, limit: int | None = None
) -> ArrayDataset:
    """A registered dataset, or its documented ``--limit`` subset (:meth:`ArrayDataset.subset`)."""
    return DATASETS.get(name)(DataRequest(split=split, root=root)).subset(limit)


def get_suite(name: str, options: SuiteOptions | None = None) -> Suite:
    """The suite ``name``; options it does not read are refused (:func:`.suites.base.build_suite`)."""
    return build_suite(name, options)


def list_names(kind: str, pattern: str = "*") -> list[str]:
    """Names in one registry: models, datasets, suites, perturbations, attacks, probes, recipes.

    Aliases follow the names, marked ``NAME  (alias of CANONICAL)``; the C datasets (``cifar10c``)
    follow the datasets, marked with the suite that reads them; with ``*``, the prefix families last,
    as ``PREFIX:<...>  (help)``.
    """
    from freqbench.attacks import ATTACKS
    from freqbench.probes import PROBES
    from freqbench.train.recipes import RECIPES

    registries: dict[str, Any] = {
        "models": MODELS,
        "datasets": DATASETS,
        "suites": SUITES,
        "perturbations": PERTURBATIONS,
        "attacks": ATTACKS,
        "probes": PROBES,
        "recipes": RECIPES,
    }
    if kind not in registries:
        raise UnknownNameError(f"unknown kind {kind!r}; choose one of {', '.join(registries)}")
    reg = registries[kind]
    names: list[str] = reg.names(pattern)
    aliases = sorted(reg.aliases().items())
    names += [f"{a}  (alias of {n})" for a, n in aliases if fnmatch.fnmatchcase(a, pattern)]
    if kind == "datasets":  # read condition by condition beside their clean dataset, by their suite
        names += [f"{n}  (corrupted files: --suite {n})" for n in C_DATASETS.names(pattern)]
    if kind == "probes":
        names = [f"{n}  ({PROBES.get(n).summary})" for n in names]
    if pattern == "*":
        names += [f"{p}:<...>  ({h})" for p, h in reg.prefixes().items()]
    return names


def load_model(name: str, *, seed: int = 0) -> nn.Module:
    """The model ``name`` (any model specification), in eval mode, with its config as ``model.cfg``.

    ``model.cfg`` is the :class:`~freqbench.models.ModelConfig` of what was built (classes, input
    size, mean/std, the weights actually loaded). A random initialisation is seeded with ``seed``.
    (:func:`freqbench.models.load_model` is the lower-level ``(model, cfg)`` form.)
    """
    built = build_model(name, seed=seed)
    # a plain attribute, outside the state_dict (nn.Module's __setattr__ is typed for tensors only)
    built.module.cfg = built.cfg  # type: ignore[assignment]
    return built.module


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching ``pattern`` (fnmatch wildcards; ``'robustbench:*'`` too)."""
    return MODELS.names(pattern)
