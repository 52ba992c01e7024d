"""Checkpoint writes follow the cache's atomic-write rule (freqbench.store.files.atomic_write_via)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from freqbench.train.checkpoints import load_checkpoint, save_atomic


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_checkpoint_has_a_plain_files_mode_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "ck" / "epoch_001.pt"
    save_atomic({"epoch": 1, "model": {"w": torch.ones(2)}}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["epoch_001.pt"]


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "epoch_001.pt"
    save_atomic({"epoch": 1, "model": {}}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - torch.save's own error type for an unpicklable object
        save_atomic({"epoch": 2, "model": {}, "bad": lambda: None}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_001.pt"]
