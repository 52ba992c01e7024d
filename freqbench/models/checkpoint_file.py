"""The ``checkpoint:PATH`` family: a registered architecture filled from a local weight file.

The file must be a dict saved with :func:`torch.save` holding (this is what ``freqbench train`` writes
as ``model.pt``)::

    {"arch": "<registered model name or timm:NAME>",   # builds the bare network
     "state_dict": {...},                                # its weights
     "num_classes": 10, "input_size": [1, 28, 28],      # optional: adapt a timm arch
     "extra": {"proportion": 0.25}}                      # optional: builder parameters

``extra`` overrides the architecture's builder parameters (its ``ModelConfig.extra``) by name, so a
network trained with other ones (``freqbench train --recipe freqmod --proportion 0.25``) is rebuilt
as it was trained; every name must be one the architecture takes, and values are plain numbers,
strings, booleans, None or lists/tuples of them (the builder checks their types). The state dict alone
cannot carry them: a frequency-modulated stem's band masks are non-persistent buffers made by the
builder. The architecture's config supplies mean/std and input size; the file's sha256 enters the model
config (and so the result keys). The file is read with ``torch.load(..., weights_only=True)`` only, so a
checkpoint that needs code to unpickle is refused with the recipe to convert it. A file without
``arch`` is refused too: write ``{"arch": ..., "state_dict": model.state_dict()}`` yourself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from freqbench.errors import CheckpointError, ConfigError, MissingDataError
from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource
from freqbench.models.loading import adapt, extract_state_dict, fill, read_checkpoint
from freqbench.store.download import sha256_file

PREFIX = "checkpoint"
_FORMAT = '{"arch": "<model name>", "state_dict": model.state_dict()}'


def _positive_int(value: object) -> int | None:
    """``value`` as a positive int (a Python or 0-d integer tensor), else None."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _shape_fields(obj: Mapping[str, object], path: Path) -> tuple[tuple[int, int, int] | None, int | None]:
    """The optional ``input_size`` (C, H, W) and ``num_classes`` of a checkpoint dict, validated.

    Raises:
        CheckpointError: either is present but not positive integers of the documented form.
    """
    input_size = obj.get("input_size")
    size: tuple[int, int, int] | None = None
    if input_size is not None:
        items = list(input_size) if isinstance(input_size, list | tuple | torch.Size) else None
        dims = [_positive_int(v) for v in items] if items is not None else []
        if len(dims) != 3 or any(d is None for d in dims):
            raise CheckpointError(
                f"{path}: 'input_size' must be three positive integers [C, H, W] (e.g. [1, 28, 28]), got "
                f"{input_size!r}; fix or drop that key (the architecture's own input size is then used)"
            )
        size = (int(dims[0]), int(dims[1]), int(dims[2]))  # type: ignore[arg-type]
    raw_classes = obj.get("num_classes")
    num_classes = None if raw_classes is None else _positive_int(raw_classes)
    if raw_classes is not None and num_classes is None:
        raise CheckpointError(
            f"{path}: 'num_classes' must be a positive integer, got {raw_classes!r}; fix or drop that key"
        )
    return size, num_classes


_PLAIN = (str, int, float, bool, type(None))


def _extra_field(obj: Mapping[str, object], arch_cfg: ModelConfig, path: Path) -> dict[str, object]:
    """The architecture's builder parameters with the checkpoint's optional ``extra`` applied.

    Raises:
        CheckpointError: ``extra`` is not a mapping of the architecture's parameter names to plain values.
    """
    given = obj.get("extra")
    if given is None:
        return dict(arch_cfg.extra)
    takes = sorted(arch_cfg.extra) or "none"
    if not isinstance(given, Mapping) or not all(isinstance(k, str) for k in given):
        raise CheckpointError(
            f"{path}: 'extra' must map builder parameter names to values (the architecture takes "
            f"{takes}), got {type(given).__name__}; fix or drop that key"
        )
    unknown = sorted(k for k in given if k not in arch_cfg.extra)
    if unknown:
        raise CheckpointError(
            f"{path}: 'extra' names builder parameters {unknown} that architecture {arch_cfg.name!r} "
            f"does not take (it takes {takes}); the file belongs to another architecture or version"
        )
    for key, value in given.items():
        items = value if isinstance(value, list | tuple) else (value,)
        if not all(isinstance(v, _PLAIN) for v in items):
            raise CheckpointError(
                f"{path}: extra[{key!r}] must be a number, string, bool, None or a list of them, got "
                f"{value!r}; fix or drop that key"
            )
    return {**arch_cfg.extra, **given}


def checkpoint_entry(rest: str) -> ModelEntry:
    """Build the entry for ``checkpoint:<rest>`` (``rest`` is the file path).

    Raises:
        MissingDataError: the file does not exist.
        CheckpointError: unreadable, unsafe, or not of the documented layout.
    """
    if not rest:
        raise ConfigError("checkpoint: needs a file path, e.g. checkpoint:runs/train/x/model.pt")
    path = Path(rest).expanduser()
    if not path.is_file():
        raise MissingDataError(f"checkpoint file {path} does not exist (from 'checkpoint:{rest}')")
    obj = read_checkpoint(path)
    if not isinstance(obj, Mapping) or "arch" not in obj or "state_dict" not in obj:
        found = sorted(map(str, obj))[:5] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"{path} has no architecture: checkpoint: files must be dicts {_FORMAT} (found {found}). "
            "Re-save a plain state_dict in that layout, naming a registered model as arch."
        )
    arch = obj["arch"]
    if not isinstance(arch, str) or arch.startswith(PREFIX + ":"):
        raise CheckpointError(f"{path}: 'arch' must name a registered model or timm:NAME, got {arch!r}")
    arch_entry = MODELS.get(arch)
    input_size, num_classes = _shape_fields(obj, path)
    arch_cfg = adapt(
        arch_entry.cfg,
        channels=None if input_size is None else input_size[0],
        input_size=None if input_size is None else (input_size[1], input_size[2]),
        num_classes=num_classes,
    )
    source = WeightSource(sha256=sha256_file(path), filename=path.name, state_dict_key="state_dict")
    state_dict = extract_state_dict(obj, source, path=path)
    cfg = replace(
        arch_cfg,
        name=f"{PREFIX}:{rest}",
        extra=_extra_field(obj, arch_cfg, path),
        weights=source,
        adaptable=False,
        notes=f"weights from {path} on architecture {arch!r}",
    )

    def build_pretrained(cfg: ModelConfig) -> tuple[nn.Module, WeightSource]:
        net = arch_entry.build(cfg)
        fill(net, state_dict, path=path)
        return net, source

    return ModelEntry(cfg=cfg, build=arch_entry.build, build_pretrained=build_pretrained)


MODELS.register_prefix(
    PREFIX,
    checkpoint_entry,
    help=f"a local weight file saved as {_FORMAT} (what `freqbench train` writes as model.pt)",
)
