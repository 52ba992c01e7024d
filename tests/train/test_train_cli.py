"""``freqbench train`` end to end on the first images of Fashion-MNIST (``real``: skips when it is absent)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from freqbench.cli.train import train

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py


@pytest.mark.real
def test_train_command_exports_weights_and_prints_their_sha256(tmp_path: Path, real_data: RealData) -> None:
    for split in ("train", "t10k"):
        real_data.fashion_mnist(f"{split}-images-idx3-ubyte.gz")
        real_data.fashion_mnist(f"{split}-labels-idx1-ubyte.gz")
    app = typer.Typer()
    app.command()(train)
    out = tmp_path / "run"
    args = ["--limit", "64", "--epochs", "1", "--batch-size", "32", "--threads", "1", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    weights = out / "weights.pt"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert re.search(rf"sha256:\s+{digest}", result.output)
    assert f"checkpoint:{out / 'model.pt'}" in result.output
    assert (out / "checkpoints" / "epoch_001.pt").is_file()
