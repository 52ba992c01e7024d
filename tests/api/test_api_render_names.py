"""``api.render`` in every format (console included) and the model alias ``resnet20_fmnist``.

The run is a tiny in-memory model on a PNG folder written here (the real ``imagefolder:`` loader).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from freqbench import api
from freqbench.cli.main import app
from freqbench.config import DEFAULT_MODEL, RunConfig
from freqbench.errors import ConfigError
from freqbench.models import MODELS
from freqbench.store.run import RunStore


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("render")
    rng = np.random.default_rng(3)
    for c in ("a", "b"):
        (root / "img" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                root / "img" / c / f"{i}.png"
            )
    torch.manual_seed(0)
    result = api.evaluate(
        _Net(),
        dataset=f"imagefolder:{root / 'img'}",
        suite="corruptions",
        corruptions="gaussian_noise",
        severities=1,
        device="cpu",
        out=root / "run",
    )
    return result.store.root


def test_console_is_the_terminal_view_as_plain_text(run_dir: Path) -> None:
    text = api.render(run_dir, "console")
    assert isinstance(text, str) and "\x1b[" not in text  # no colour codes
    assert "module:_Net" in text and "gaussian_noise" in text
    assert max(len(line) for line in text.splitlines()) <= 120
    # the same text `freqbench report` prints (it prints to a terminal of its own width)
    cli = CliRunner().invoke(app, ["report", str(run_dir)], env={"COLUMNS": "120"}, terminal_width=120)
    assert cli.exit_code == 0, cli.output
    assert cli.output.split() == text.split()


def test_every_text_format_renders_and_unknown_ones_are_typed(run_dir: Path) -> None:
    doc = json.loads(api.render(run_dir, "json"))
    assert set(doc) >= {"header"} and "gaussian_noise@1" in json.dumps(doc)
    assert RunStore(run_dir).records()
    for fmt, name in (("md", "gaussian_noise"), ("csv", "gaussian_noise"), ("latex", r"gaussian\_noise")):
        assert name in api.render(run_dir, fmt), fmt
    with pytest.raises(ConfigError, match="unknown report format 'pdf'; choose one of console, md"):
        api.render(run_dir, "pdf")


def test_the_default_model_is_named_for_its_dataset_and_keeps_its_old_name() -> None:
    assert DEFAULT_MODEL == "resnet20_fashion_mnist" == RunConfig("corruptions").models[0]
    assert MODELS.get("resnet20_fmnist") is MODELS.get("resnet20_fashion_mnist")
    assert MODELS.get("resnet20_fmnist").cfg.name == "resnet20_fashion_mnist"
    assert MODELS.get(DEFAULT_MODEL).cfg.dataset == "fashion_mnist"
    assert "resnet20_fmnist" not in MODELS.names()  # listed as an alias, not as a second model


def test_an_alias_gives_the_canonical_specification_so_the_same_records() -> None:
    assert api.expand_models(["resnet20_fmnist"]) == ("resnet20_fashion_mnist",)
    assert api.expand_models(
        ["resnet20_fmnist+low_pass_ideal@r=8", "resnet20_fashion_mnist+low_pass_ideal@r=8"]
    ) == ("resnet20_fashion_mnist+low_pass_ideal@r=8",)
    assert api.expand_models(["resnet20_f[am]*"]) == ("resnet20_fashion_mnist",)
    assert api.canonical_model_spec("checkpoint:resnet20_fmnist") == "checkpoint:resnet20_fmnist"


def test_listing_shows_the_alias_as_such() -> None:
    assert api.list_names("models", "resnet20_f[am]*") == [
        "resnet20_fashion_mnist",
        "resnet20_fmnist  (alias of resnet20_fashion_mnist)",
    ]
    res = CliRunner().invoke(app, ["ls", "models", "resnet20_f[am]*"])
    assert res.exit_code == 0 and "resnet20_fmnist  (alias of resnet20_fashion_mnist)" in res.output


def test_c_datasets_are_listed_with_the_datasets_and_the_suite_that_reads_them() -> None:
    names = api.list_names("datasets")
    assert "cifar10" in names and "fashion_mnist" in names
    assert "cifar10c  (corrupted files: --suite cifar10c)" in names
    assert "cifar100c  (corrupted files: --suite cifar100c)" in names
    assert api.list_names("datasets", "cifar10c") == ["cifar10c  (corrupted files: --suite cifar10c)"]
    assert "cifar10c" in api.list_names("suites")
