"""The ``timm:NAME`` family: any timm model, adapted to the dataset, weights from the local HF cache.

Spelling: ``timm:NAME`` (``timm:resnet18.a1_in1k``) asks for timm's pretrained weights;
``timm:NAME?pretrained=false`` asks explicitly for a random initialisation. Nothing else is accepted
after ``?``.

Input size, mean/std and class count come from the model's timm *pretrained cfg*
(``timm.models.get_pretrained_cfg``); a model without one gets timm's ImageNet defaults
(3x224x224, mean/std of ``timm.data``) and can only be built randomly initialised. The entries are
``adaptable``: :func:`freqbench.models.loading.adapt` changes channels, classes and input size, and the
builder passes them to ``timm.create_model(name, num_classes=K, in_chans=C)`` (plus ``img_size`` for
models with a fixed input size, such as ViTs). With pretrained weights and a different class count the
classifier head is new (random); with a different channel count timm folds the first convolution.

Pretrained weights are never downloaded here: they are read from the local Hugging Face cache
(``huggingface_hub.constants.HF_HUB_CACHE``, what ``HF_HUB_OFFLINE=1`` would use), found with
``huggingface_hub.try_to_load_from_cache``. ``.safetensors`` files load with safetensors, others with
``torch.load(..., weights_only=True)``. When they are absent the build raises
:class:`~freqbench.errors.MissingDataError` saying how to provide them. The sha256 of the file read
(computed from its bytes, cached by file stamp: :mod:`freqbench.store.fingerprint`) is the entry's
``weights.sha256`` and enters the result keys.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freqbench.errors import ConfigError, DependencyError, MissingDataError, UnknownNameError
from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource
from freqbench.models.loading import read_checkpoint
from freqbench.store.fingerprint import sha256_cached

PREFIX = "timm"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _timm() -> Any:
    try:
        import timm
    except ImportError as exc:  # pragma: no cover - timm is a declared dependency
        raise DependencyError(f"timm: models need the timm package ({exc}); pip install timm") from exc
    return timm


def parse_spec(rest: str) -> tuple[str, bool]:
    """``NAME[?pretrained=true|false]`` -> (NAME, pretrained).

    Raises:
        ConfigError: an empty name or an unknown option.
    """
    name, _, query = rest.partition("?")
    if not name:
        raise ConfigError(
            "timm: needs a model name, e.g. timm:resnet18.a1_in1k (see `freqbench ls models 'timm:*'`)"
        )
    pretrained = True
    if query:
        key, _, value = query.partition("=")
        if key != "pretrained" or value.lower() not in ("true", "false"):
            raise ConfigError(f"timm:{rest}: the only option is '?pretrained=false' (or true), got {query!r}")
        pretrained = value.lower() == "true"
    return name, pretrained


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder searched for pretrained weights."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cached_weight_file(hf_hub_id: str, filename: str | None = None) -> Path | None:
    """The cached weight file of ``hf_hub_id`` (``filename`` or a standard name), or None."""
    from huggingface_hub import try_to_load_from_cache

    for candidate in (filename,) if filename else _WEIGHT_FILES:
        found = try_to_load_from_cache(hf_hub_id, candidate, cache_dir=hf_cache_dir())
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def weight_source(path: Path) -> WeightSource:
    """The :class:`WeightSource` of a cached weight file: the sha256 of its bytes and its name.

    The Hugging Face blob name is not trusted as the digest: a blob replaced or damaged in place keeps
    its name, and the key must follow the bytes that are read.
    """
    return WeightSource(sha256=sha256_cached(path), filename=path.name)


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    obj = read_checkpoint(path)
    if not isinstance(obj, dict):
        raise MissingDataError(f"{path} is not a state_dict; delete it and fetch the weights again")
    return obj


def _create(cfg: ModelConfig, *, state_dict: dict[str, torch.Tensor] | None) -> nn.Module:
    timm = _timm()
    name = str(cfg.extra["timm_name"])
    kwargs: dict[str, Any] = {"num_classes": cfg.num_classes, "in_chans": cfg.input_size[0]}
    if cfg.extra.get("fixed_input_size") and tuple(cfg.input_size[1:]) != cfg.extra["default_size"]:
        kwargs["img_size"] = tuple(cfg.input_size[1:])
    if state_dict is None:
        return timm.create_model(name, pretrained=False, **kwargs)
    # Hand timm the state dict we read safely; timm then adapts channels and drops a mismatched head.
    overlay = {"state_dict": state_dict, "source": "", "file": None}
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)


def timm_entry(rest: str) -> ModelEntry:
    """Build the entry for ``timm:<rest>``.

    Raises:
        UnknownNameError: timm has no such model.
        ConfigError: a malformed option.
    """
    name, pretrained = parse_spec(rest)
    timm = _timm()
    arch = name.split(".")[0]
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch[:4]}*")[:5]
        raise UnknownNameError(
            f"timm has no model {arch!r}"
            + (f"; similar: {', '.join(close)}" if close else "")
            + ". See `freqbench ls models 'timm:*'`."
        )
    pcfg = timm.models.get_pretrained_cfg(name)
    cfg = _config(rest, name, arch, pcfg, pretrained=pretrained)
    hf_hub_id = pcfg.hf_hub_id if pcfg is not None else None
    hf_filename = pcfg.hf_hub_filename if pcfg is not None else None
    cached = cached_weight_file(hf_hub_id, hf_filename) if pretrained and hf_hub_id else None
    if cached is not None:
        cfg = replace(cfg, weights=weight_source(cached))
    build = partial(_create, state_dict=None)
    if not pretrained:
        # The random initialisation was spelled out in the name: it is what this entry provides.
        return ModelEntry(cfg=cfg, build=build, random_init=True)
    build_pretrained = partial(_build_pretrained, name=name, hf_hub_id=hf_hub_id, hf_filename=hf_filename)
    return ModelEntry(cfg=cfg, build=build, build_pretrained=build_pretrained)


def _config(rest: str, name: str, arch: str, pcfg: Any, *, pretrained: bool) -> ModelConfig:
    """The entry's config from timm's pretrained cfg ``pcfg`` (timm's ImageNet defaults without one)."""
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    input_size = tuple(pcfg.input_size) if pcfg is not None else (3, 224, 224)
    extra: dict[str, object] = {
        "timm_name": name,
        "default_size": tuple(input_size[1:]),
        "fixed_input_size": bool(pcfg.fixed_input_size) if pcfg is not None else False,
        "hf_hub_id": pcfg.hf_hub_id if pcfg is not None else None,
    }
    return ModelConfig(
        name=f"{PREFIX}:{rest}",
        arch=arch,
        dataset=(pcfg.tag or "") if pcfg is not None else "",
        num_classes=pcfg.num_classes if pcfg is not None else 1000,
        input_size=input_size,  # type: ignore[arg-type]
        mean=tuple(pcfg.mean) if pcfg is not None else IMAGENET_DEFAULT_MEAN,
        std=tuple(pcfg.std) if pcfg is not None else IMAGENET_DEFAULT_STD,
        license=(pcfg.license or "") if pcfg is not None else "",
        paper=", ".join(pcfg.paper_ids) if pcfg is not None and pcfg.paper_ids else "",
        notes="timm model" + ("" if pretrained else ", random initialisation (asked for explicitly)"),
        adaptable=True,
        extra=extra,
    )


def _build_pretrained(
    cfg: ModelConfig, *, name: str, hf_hub_id: str | None, hf_filename: str | None
) -> tuple[nn.Module, WeightSource]:
    """Build ``cfg`` with the weights read from the local Hugging Face cache (never downloaded)."""
    if hf_hub_id is None:
        raise MissingDataError(
            f"timm has no pretrained weights for {name!r} (no Hugging Face hub id in its pretrained "
            f"cfg). Use 'timm:{name}?pretrained=false' for a random initialisation."
        )
    path = cached_weight_file(hf_hub_id, hf_filename)
    if path is None:
        expected = hf_cache_dir() / f"models--{hf_hub_id.replace('/', '--')}" / "snapshots"
        raise MissingDataError(
            f"pretrained weights of timm:{name} are not in the local Hugging Face cache (expected "
            f"{expected}/<revision>/{hf_filename or _WEIGHT_FILES[0]}). freqbench does not download "
            f'them: on a machine with internet run `python -c "import timm; timm.create_model('
            f"'{name}', pretrained=True)\"` and copy the cache folder (HF_HUB_CACHE) here, or use "
            f"'timm:{name}?pretrained=false' for a random initialisation."
        )
    source = weight_source(path)
    return _create(cfg, state_dict=_read_weights(path)), source


def list_pretrained() -> list[str]:
    """``timm:NAME`` for every timm model with pretrained weights (for ``freqbench ls models 'timm:*'``)."""
    return [f"{PREFIX}:{n}" for n in _timm().list_models(pretrained=True)]


MODELS.register_prefix(
    PREFIX,
    timm_entry,
    lister=list_pretrained,
    help="any timm model, e.g. timm:resnet18.a1_in1k (weights from the local Hugging Face cache) or "
    "timm:resnet18?pretrained=false (random initialisation)",
)
