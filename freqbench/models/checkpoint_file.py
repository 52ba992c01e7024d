"""The ``checkpoint:PATH`` family: a registered architecture filled from a local weight file.

The file must be a dict saved with :func:`torch.save` holding (this is what ``freqbench train`` writes
as ``model.pt``)::

    {"arch": "<registered model name or timm:NAME>",   # builds the bare network
     "state_dict": {...},                                # its weights
     "num_classes": 10, "input_size": [1, 28, 28]}       # optional: adapt a timm arch

The architecture's config supplies mean/std and input size; the file's sha256 enters the model config
(and so the result keys). The file is read with ``torch.load(..., weights_only=True)`` only, so a
checkpoint that needs code to unpickle is refused with the recipe to convert it. A file without
``arch`` is refused too: write ``{"arch": ..., "state_dict": model.state_dict()}`` yourself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from torch import nn

from freqbench.errors import CheckpointError, ConfigError, MissingDataError
from freqbench.models.base import MODELS, ModelConfig, ModelEntry, WeightSource
from freqbench.models.loading import adapt, extract_state_dict, fill, read_checkpoint
from freqbench.ops.download import sha256_file

PREFIX = "checkpoint"
_FORMAT = '{"arch": "<model name>", "state_dict": model.state_dict()}'


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
    input_size = obj.get("input_size")
    arch_cfg = adapt(
        arch_entry.cfg,
        channels=None if input_size is None else int(input_size[0]),
        input_size=None if input_size is None else (int(input_size[1]), int(input_size[2])),
        num_classes=obj.get("num_classes"),
    )
    source = WeightSource(sha256=sha256_file(path), filename=path.name, state_dict_key="state_dict")
    state_dict = extract_state_dict(obj, source, path=path)
    cfg = replace(
        arch_cfg,
        name=f"{PREFIX}:{rest}",
        weights=source,
        adaptable=False,
        notes=f"weights from {path} on architecture {arch!r}",
    )

    def build_pretrained(cfg: ModelConfig) -> nn.Module:
        net = arch_entry.build(cfg)
        fill(net, state_dict, path=path)
        return net

    return ModelEntry(cfg=cfg, build=arch_entry.build, build_pretrained=build_pretrained)


MODELS.register_prefix(
    PREFIX,
    checkpoint_entry,
    help=f"a local weight file saved as {_FORMAT} (what `freqbench train` writes as model.pt)",
)
