"""RobustBench family: the import shim, offline listing, missing-weights error, loading a zoo checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from freqbench.errors import ConfigError, MissingDataError, UnknownNameError
from freqbench.models import MODELS, load_model
from freqbench.models.robustbench import import_robustbench, parse_name
from freqbench.store.download import sha256_file


def test_shim_imports_robustbench() -> None:
    rb = import_robustbench()
    import pyautoattack.state

    assert rb.__name__ == "robustbench" and hasattr(rb.utils, "load_model")
    assert sys.modules["autoattack.state"].EvaluationState is pyautoattack.state.EvaluationState


def test_listing_offline() -> None:
    names = MODELS.names("robustbench:*")
    assert "robustbench:cifar10/Linf/Standard" in names
    assert "robustbench:cifar10/L2/Standard" in names
    assert len(names) > 150  # 76 cifar10/Linf entries alone in robustbench 1.1.1
    assert MODELS.names("robustbench:cifar100/Linf/*")[0].startswith("robustbench:cifar100/Linf/")


def test_spelling() -> None:
    assert parse_name("Standard") == ("cifar10", "Linf", "Standard")
    assert parse_name("cifar100/corruptions/X") == ("cifar100", "corruptions", "X")
    with pytest.raises(ConfigError, match="<dataset>/<threat_model>/<name>"):
        parse_name("cifar10/Standard")
    with pytest.raises(UnknownNameError, match="Did you mean 'Standard'"):
        MODELS.get("robustbench:cifar10/Linf/Standart")
    cfg = MODELS.get("robustbench:Standard").cfg
    assert cfg.name == "robustbench:cifar10/Linf/Standard"
    assert cfg.mean == (0.0, 0.0, 0.0) and cfg.std == (1.0, 1.0, 1.0) and cfg.num_classes == 10


def test_missing_weights_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_ROBUSTBENCH_DIR", str(tmp_path / "rb"))
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingDataError) as err:
        load_model("robustbench:cifar10/Linf/Standard")
    msg = str(err.value)
    assert str(tmp_path / "rb" / "cifar10" / "Linf" / "Standard.pt") in msg
    assert "gdown 1t98aEuzeTL8P7Kpd5DIrCoCL21BNZUhC" in msg
    assert not (tmp_path / "rb" / "cifar10" / "Linf" / "Standard.pt").exists()  # nothing downloaded


def test_standard_loads_from_model_dir_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_ROBUSTBENCH_DIR", str(tmp_path / "rb"))
    from robustbench.model_zoo.architectures.wide_resnet import WideResNet

    torch.manual_seed(0)
    reference = WideResNet(depth=28, widen_factor=10).eval()
    folder = tmp_path / "rb" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    # The layout RobustBench's own checkpoints use: {'state_dict': ...} with DataParallel's 'module.'.
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, folder / "Standard.pt"
    )
    model, cfg = load_model("robustbench:cifar10/Linf/Standard")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
        expected = reference(x)  # [0, 1] input straight into the network: identity normalisation
    assert out.shape == (2, 10)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert not model.training
    # the weights actually loaded are named (and so enter the result keys), not "random-init"
    assert cfg.weights is not None and cfg.weights.sha256 == sha256_file(folder / "Standard.pt")
