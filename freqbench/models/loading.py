"""Build a registered model and fill it with its pretrained weights, safely.

:func:`load_model` turns a name into an ``nn.Module`` that takes [0, 1] images (a
:class:`~freqbench.nn.normalize.Classifier`), in eval mode, plus its :class:`ModelConfig`.

A weight file is looked for in this order, and always checked against the pinned sha256:

1. ``weights_root``: an explicit file (used as is), or a folder searched for ``<filename>``;
2. the cache, ``$FREQBENCH_HOME/weights/<filename>``;
3. a file bundled inside the package (``WeightSource.package_resource``);
4. a download from ``WeightSource.url`` (progress bar, verified before it enters the cache).

Offline, a missing file is a :class:`MissingDataError` naming the path expected and the command that
provides it (``freqbench data import NAME PATH``, see :func:`import_weights`). Files are read with
``torch.load(..., weights_only=True)`` only: a checkpoint that needs code to unpickle is refused. The
checkpoint's layout quirks (the key holding the state dict, a ``module.`` prefix) come from the entry's
:class:`WeightSource`, never from the model's name.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from freqbench.errors import CheckpointError, ConfigError, IncompatibleError, MissingDataError
from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource
from freqbench.nn.normalize import Classifier, Normalize
from freqbench.store.download import download as download_file
from freqbench.store.download import install_file, verify_sha256, weights_dir

_SHOWN_KEYS = 5
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def read_checkpoint(path: Path) -> object:
    """``torch.load(path, weights_only=True)`` onto the CPU, with typed errors.

    Raises:
        CheckpointError: the file needs code to unpickle, or is corrupt or truncated.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's weights-only unpickler names the global a file asks for; any other refusal
        # (an unknown opcode, a bad key) means the bytes are not a pickle at all
        found = _UNSUPPORTED_GLOBAL.search(str(exc))
        if found is not None:
            raise CheckpointError(
                f"{path} contains pickled objects other than tensors and plain containers ({found[1]}); "
                "freqbench refuses to unpickle code. If you trust the file, load it yourself with "
                "torch.load(path, weights_only=False) and re-save only its weights: "
                "torch.save(model.state_dict(), 'weights.pt')."
            ) from None
        reason = next((ln.strip() for ln in str(exc).splitlines() if "unsupported" in ln.lower()), "")
        detail = f": {reason}" if reason else ""
        raise CheckpointError(
            f"{path} is corrupt or truncated (not a readable torch checkpoint{detail}); "
            "delete it and fetch it again."
        ) from None
    except Exception as exc:  # zip, EOF and key errors all mean "corrupt or truncated"
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(exc).__name__}: {first}); delete it and fetch it again."
        ) from exc


def extract_state_dict(obj: object, source: WeightSource | None, *, path: Path) -> dict[str, torch.Tensor]:
    """Apply a checkpoint's layout quirks: pick ``state_dict_key``, strip ``strip_prefix``.

    Raises:
        CheckpointError: the expected key is absent or the result is not a name -> tensor mapping.
    """
    key = source.state_dict_key if source is not None else None
    prefix = source.strip_prefix if source is not None else ""
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            found = sorted(map(str, obj))[:_SHOWN_KEYS] if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointError(f"{path}: expected a dict with key {key!r}, found {found}")
        obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state_dict (names -> tensors), found {type(obj).__name__}")
    return {(k.removeprefix(prefix) if prefix else k): v for k, v in obj.items()}


def fill(net: nn.Module, state_dict: Mapping[str, torch.Tensor], *, path: Path | str) -> None:
    """Load ``state_dict`` into ``net``: every key must match (shape included), or nothing is trusted.

    Raises:
        CheckpointError: missing or unexpected keys, or tensors of the wrong shape (a few are listed).
    """
    expected = net.state_dict()
    wrong = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if wrong:
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
    else:
        # Let the modules judge missing keys: BatchNorm accepts old checkpoints without
        # num_batches_tracked through its own versioned loading hook.
        result = net.load_state_dict(state_dict, strict=False)
        missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    problems = []
    for label, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", wrong),
    ):
        if keys:
            more = f" (+{len(keys) - _SHOWN_KEYS} more)" if len(keys) > _SHOWN_KEYS else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOWN_KEYS])}{more}")
    if problems:
        raise CheckpointError(
            f"{path} does not fit the architecture: " + "; ".join(problems) + ". Check that the "
            "checkpoint belongs to this model (and its state_dict_key / strip_prefix)."
        )


def cached_weight_path(source: WeightSource) -> Path:
    """Where the cache keeps ``source``: ``$FREQBENCH_HOME/weights/<filename>``."""
    return weights_dir() / source.filename


def find_weights(
    cfg: ModelConfig, *, weights_root: Path | None = None, download: bool = True, progress: bool = True
) -> Path:
    """Locate (or download) ``cfg``'s weight file and verify its sha256.

    Raises:
        ConfigError: the entry has no weight source.
        MissingDataError: nothing found and no download possible.
        ChecksumError: a file was found but its checksum differs.
    """
    source = cfg.weights
    if source is None:
        raise ConfigError(f"model {cfg.name!r} has no pretrained weights")
    candidates: list[Path] = []
    if weights_root is not None:
        root = Path(weights_root).expanduser()
        if root.is_file():
            verify_sha256(root, source.sha256)
            return root
        candidates.append(root / source.filename)
    cached = cached_weight_path(source)
    candidates.append(cached)
    if source.package_resource is not None:
        candidates.append(Path(str(resources.files("freqbench").joinpath(source.package_resource))))
    for candidate in candidates:
        if candidate.is_file():
            verify_sha256(candidate, source.sha256)
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    hint = (
        f"Run `freqbench data import {cfg.name} PATH` with a copy of {source.filename}"
        + (f" (from {source.url})" if source.url else "")
        + f" to put it at {cached}."
    )
    if source.url is None or not download:
        raise MissingDataError(
            f"weights for {cfg.name!r}: expected {cached}, found nothing (searched {searched}). {hint}"
        )
    try:
        return download_file(source.url, cached, sha256=source.sha256, progress=progress)
    except MissingDataError as exc:
        raise MissingDataError(f"weights for {cfg.name!r}: {exc}. {hint}") from exc


def adapt(
    cfg: ModelConfig,
    *,
    channels: int | None = None,
    num_classes: int | None = None,
    input_size: tuple[int, int] | None = None,
) -> ModelConfig:
    """``cfg`` adjusted to a dataset's channels, classes and image size.

    Only ``cfg.adaptable`` entries (timm models, whose builder honours the config) may change; for any
    other entry a differing request is an :class:`IncompatibleError`. Changing the channel count
    averages (1 channel) or repeats (from 1 channel) the mean/std.

    Raises:
        IncompatibleError: the entry cannot be adapted and the request differs from it.
    """
    c, h, w = cfg.input_size
    want_c = c if channels is None else channels
    want_hw = (h, w) if input_size is None else input_size
    want_k = cfg.num_classes if num_classes is None else num_classes
    size_ok = input_size is None or (h is None or h == want_hw[0]) and (w is None or w == want_hw[1])
    if want_c == c and want_k == cfg.num_classes and size_ok:
        return cfg
    if not cfg.adaptable:
        raise IncompatibleError(
            f"model {cfg.name!r} expects input {cfg.input_size} and {cfg.num_classes} classes, asked for "
            f"{(want_c, *want_hw)} and {want_k} classes. Pick a model made for this dataset "
            "(`freqbench ls models`), or a `timm:` model, which adapts."
        )
    mean, std = cfg.mean, cfg.std
    if want_c != c:
        if c == 1:
            mean, std = mean * want_c, std * want_c
        elif want_c == 1:
            mean, std = (sum(mean) / c,), (sum(std) / c,)
        else:
            raise IncompatibleError(f"cannot adapt {cfg.name!r} from {c} to {want_c} input channels")
    return replace(cfg, num_classes=want_k, input_size=(want_c, *want_hw), mean=tuple(mean), std=tuple(std))


def load_model(
    name: str,
    *,
    pretrained: bool = True,
    weights_root: Path | None = None,
    download: bool = True,
    progress: bool = True,
    channels: int | None = None,
    num_classes: int | None = None,
    input_size: tuple[int, int] | None = None,
) -> tuple[Classifier, ModelConfig]:
    """Build ``name`` with its weights, in eval mode, taking [0, 1] input.

    Args:
        name: registered name or prefix family (``timm:NAME``, ``checkpoint:PATH``).
        pretrained: load the entry's weights; False builds a random initialisation (an entry without
            weights always does, with a warning).
        weights_root: explicit weight file, or a folder holding the entry's file, searched first.
        download: allow fetching the weights from their URL when not found locally.
        progress: progress bar for downloads.
        channels, num_classes, input_size: adapt the model to a dataset (see :func:`adapt`).

    Returns:
        (model, config); the config describes the model actually built: ``config.weights`` is the
        source of the weights loaded (its sha256 the fingerprint of the file read, for every source:
        bundled, cache, download, ``checkpoint:``, timm hub cache, RobustBench model_dir), or None for
        a random initialisation.

    Raises:
        UnknownNameError, MissingDataError, ChecksumError, CheckpointError, IncompatibleError.
    """
    entry = MODELS.get(name)
    cfg = adapt(entry.cfg, channels=channels, num_classes=num_classes, input_size=input_size)
    if not pretrained:
        cfg = replace(cfg, weights=None)
    if pretrained and entry.build_pretrained is not None:
        net, loaded = entry.build_pretrained(cfg)
        cfg = replace(cfg, weights=loaded)
    else:
        net = entry.build(cfg)
        if pretrained and cfg.weights is not None:
            # find_weights verified the file against the pinned sha256, so cfg.weights names it
            path = find_weights(cfg, weights_root=weights_root, download=download, progress=progress)
            fill(net, extract_state_dict(read_checkpoint(path), cfg.weights, path=path), path=path)
        elif pretrained and not entry.random_init:
            warnings.warn(
                f"model {name!r} has no pretrained weights: it is randomly initialised. {cfg.notes}",
                stacklevel=2,
            )
    model = Classifier(Normalize(cfg.mean, cfg.std), net)
    return model.eval(), cfg


def import_weights(name: str, path: Path) -> Path:
    """Verify a local copy of ``name``'s weight file and copy it into the cache.

    Backs ``freqbench data import NAME PATH``.

    Returns:
        The cached path (``$FREQBENCH_HOME/weights/<filename>``).

    Raises:
        ConfigError: ``name`` has no weight file to import.
        MissingDataError: ``path`` does not exist.
        ChecksumError: ``path`` has a different sha256 (nothing is copied).
    """
    entry = MODELS.get(name)
    weights = entry.cfg.weights
    if weights is None or not _importable(entry):
        raise ConfigError(
            f"model {name!r} has no weight file to import (it is built without pretrained weights or "
            "gets them from elsewhere, such as the Hugging Face cache). Models with importable weights: "
            + ", ".join(n for n in MODELS.names() if _importable(MODELS.get(n)))
        )
    return install_file(Path(path).expanduser(), cached_weight_path(weights), sha256=weights.sha256)


def _importable(entry: ModelEntry) -> bool:
    return entry.cfg.weights is not None and entry.build_pretrained is None
