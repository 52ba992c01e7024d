"""Training checkpoints: atomic per-epoch writes, discovery of the latest one, safe loading.

A checkpoint is a dict of tensors and plain values (model, optimiser and scheduler state, epoch, RNG
states, metric history, the recipe's fingerprint) saved with :func:`torch.save` and read back with
``weights_only=True``: a resumed run never unpickles code. Writes go to a temporary file in the same
folder followed by :func:`os.replace` (:func:`freqbench.store.files.atomic_write_via`), so a run
killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from freqbench.errors import CheckpointError
from freqbench.store.files import atomic_write_via

_PATTERN = re.compile(r"epoch_(\d+)\.pt")


def checkpoint_path(folder: Path, epoch: int) -> Path:
    """``folder/epoch_NNN.pt``: the state after ``epoch`` completed epochs."""
    return folder / f"epoch_{epoch:03d}.pt"


def save_atomic(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary sibling, flushed to disk, then renamed over ``path``.

    The rule every file freqbench writes follows (:func:`freqbench.store.files.atomic_write_via`: the
    mode a plain ``open()`` gives, the temporary file removed on any error); missing folders are made.
    """
    atomic_write_via(path, lambda fh: torch.save(obj, fh), parents=True)


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every epoch checkpoint in ``folder``, by epoch."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PATTERN.fullmatch(p.name))]
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the highest epoch in ``folder``, or None."""
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a training checkpoint (``weights_only=True``) onto the CPU.

    Raises:
        CheckpointError: the file is unreadable or not a training checkpoint.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(
            f"cannot read training checkpoint {path}: {exc}. Delete it to restart from the previous "
            "epoch, or pass --no-resume to start over."
        ) from exc
    if not isinstance(state, dict) or "epoch" not in state or "model" not in state:
        raise CheckpointError(f"{path} is not a freqbench training checkpoint (no 'epoch'/'model' keys)")
    return state
