"""Weight loading: search order, checksums, import, safe unpickling, key/shape checks, adaptation.

Expected values come from independent computations: ``hashlib`` digests of the files the tests
write, hand-built state dicts, and the normalisation formula written out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from freqbench.errors import (
    CheckpointError,
    ChecksumError,
    ConfigError,
    IncompatibleError,
    MissingDataError,
)
from freqbench.models import MODELS, ModelConfig, ModelEntry, WeightSource, adapt, import_weights, load_model
from freqbench.models.cifar_resnet import CifarResNet, build
from freqbench.models.loading import read_checkpoint
from freqbench.nn.normalize import Normalize

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


class NotAWeight:
    """A class torch.load(weights_only=True) must refuse to unpickle."""


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FREQBENCH_HOME", str(home))
    return home


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reference_net(seed: int = 1) -> CifarResNet:
    torch.manual_seed(seed)
    net = CifarResNet(20, num_classes=10, in_channels=3)
    # Non-trivial running statistics, so a test notices if buffers are not loaded.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _write_dataparallel_checkpoint(net: torch.nn.Module, path: Path) -> Path:
    """The akamaster layout: {'best_prec1', 'state_dict'} with 'module.' keys."""
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"best_prec1": 91.0, "state_dict": state}, path)
    return path


def _temporary_entry(monkeypatch: pytest.MonkeyPatch, weights: WeightSource) -> str:
    name = "resnet20_testset.tmp"
    cfg = ModelConfig(
        name=name,
        arch="resnet20",
        dataset="testset",
        num_classes=10,
        input_size=(3, 32, 32),
        mean=MEAN,
        std=STD,
        weights=weights,
        extra={"depth": 20},
    )
    MODELS.names()  # import the families first, so the temporary entry is the only change
    monkeypatch.setitem(MODELS._entries, name, ModelEntry(cfg=cfg, build=build))
    return name


def _expected_logits(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net((x - mean) / std)


def test_quirks_from_config_and_normalisation_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _reference_net()
    path = _write_dataparallel_checkpoint(ref, tmp_path / "w.th")
    source = WeightSource(
        sha256=_sha(path), filename="w.th", state_dict_key="state_dict", strip_prefix="module."
    )
    name = _temporary_entry(monkeypatch, source)
    model, cfg = load_model(name, weights_root=path)
    assert cfg.weights == source
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = model(x)
    torch.testing.assert_close(got, _expected_logits(ref, x), rtol=1e-5, atol=1e-5)
    # Normalisation buffers are not persistent: the wrapper's keys are exactly the network's.
    assert set(model.state_dict()) == {f"net.{k}" for k in ref.state_dict()}


def test_search_order_and_download_into_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    ref = _reference_net()
    remote = _write_dataparallel_checkpoint(ref, tmp_path / "remote.th")
    source = WeightSource(
        sha256=_sha(remote),
        filename="cached.th",
        url=remote.as_uri(),
        state_dict_key="state_dict",
        strip_prefix="module.",
    )
    name = _temporary_entry(monkeypatch, source)
    cached = _isolated_home / "weights" / "cached.th"
    with pytest.raises(MissingDataError) as info:
        load_model(name, download=False)
    assert str(cached) in str(info.value) and f"freqbench data import {name} PATH" in str(info.value)
    load_model(name, progress=False)  # file:// download, verified, into the cache
    assert _sha(cached) == _sha(remote)
    # A corrupted cache file is a checksum error, never silently used or replaced.
    cached.write_bytes(b"corrupt")
    with pytest.raises(ChecksumError, match="expected"):
        load_model(name, download=False)
    # An explicit root is searched first, so a good copy there still loads.
    folder = tmp_path / "explicit"
    folder.mkdir()
    (folder / "cached.th").write_bytes(remote.read_bytes())
    model, _ = load_model(name, weights_root=folder)
    torch.testing.assert_close(model.net.linear.weight, ref.linear.weight, rtol=0, atol=0)


def test_offline_without_url_names_path_and_command(monkeypatch: pytest.MonkeyPatch) -> None:
    name = _temporary_entry(monkeypatch, WeightSource(sha256="0" * 64, filename="absent.th"))
    with pytest.raises(MissingDataError, match=r"absent\.th.*freqbench data import"):
        load_model(name)


def test_import_weights_verifies_and_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    good = _write_dataparallel_checkpoint(_reference_net(), tmp_path / "good.th")
    source = WeightSource(
        sha256=_sha(good), filename="imp.th", state_dict_key="state_dict", strip_prefix="module."
    )
    name = _temporary_entry(monkeypatch, source)
    bad = tmp_path / "bad.th"
    bad.write_bytes(good.read_bytes()[:-1] + b"x")
    with pytest.raises(ChecksumError):
        import_weights(name, bad)
    assert not (_isolated_home / "weights" / "imp.th").exists()
    dest = import_weights(name, good)
    assert dest == _isolated_home / "weights" / "imp.th" and _sha(dest) == _sha(good)
    with pytest.raises(ConfigError, match="no weight file"):
        import_weights("resnet20_cifar10", good)


def test_wrong_sha_for_registered_model(tmp_path: Path) -> None:
    fake = _write_dataparallel_checkpoint(_reference_net(), tmp_path / "resnet20-12fca82f.th")
    with pytest.raises(ChecksumError, match="12fca82f0bebc413"):
        load_model("resnet20_cifar10.akamaster", weights_root=tmp_path)
    with pytest.raises(ChecksumError):
        import_weights("resnet20_cifar10.akamaster", fake)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "code.pt"
    torch.save({"arch": "resnet20_cifar10", "state_dict": {}, "extra": NotAWeight()}, path)
    for call in (lambda: read_checkpoint(path), lambda: load_model(f"checkpoint:{path}")):
        with pytest.raises(CheckpointError, match="refuses to unpickle code") as info:
            call()
        assert "state_dict()" in str(info.value)  # says how to convert


def test_truncated_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"arch": "resnet20_cifar10", "state_dict": _reference_net().state_dict()}, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model(f"checkpoint:{cut}")


def test_shape_mismatch_and_missing_keys_are_listed(tmp_path: Path) -> None:
    torch.manual_seed(0)
    one_channel = CifarResNet(20, in_channels=1).state_dict()
    path = tmp_path / "mismatch.pt"
    torch.save({"arch": "resnet20_cifar10", "state_dict": one_channel}, path)
    with pytest.raises(
        CheckpointError, match=r"conv1\.weight: file \(16, 1, 3, 3\) vs model \(16, 3, 3, 3\)"
    ):
        load_model(f"checkpoint:{path}")
    partial = {k: v for k, v in _reference_net().state_dict().items() if not k.startswith("linear.")}
    partial["extra.weight"] = torch.zeros(1)
    torch.save({"arch": "resnet20_cifar10", "state_dict": partial}, path)
    with pytest.raises(
        CheckpointError, match=r"missing keys: linear\.weight.*unexpected keys: extra\.weight"
    ):
        load_model(f"checkpoint:{path}")


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    ref = _reference_net(seed=3)
    path = tmp_path / "model.pt"
    torch.save({"arch": "resnet20_cifar10", "state_dict": ref.state_dict()}, path)
    model, cfg = load_model(f"checkpoint:{path}")
    assert cfg.name == f"checkpoint:{path}"
    assert cfg.weights is not None and cfg.weights.sha256 == _sha(path)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    imagenet_mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    imagenet_std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = ref((x - imagenet_mean) / imagenet_std)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_checkpoint_needs_an_architecture(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(_reference_net().state_dict(), path)
    with pytest.raises(CheckpointError, match='"arch"'):
        load_model(f"checkpoint:{path}")
    with pytest.raises(MissingDataError, match="does not exist"):
        load_model(f"checkpoint:{tmp_path / 'nowhere.pt'}")


def test_adapt_refuses_fixed_models_and_keeps_matching_requests() -> None:
    cfg = MODELS.get("resnet20_cifar10").cfg
    assert adapt(cfg, channels=3, num_classes=10, input_size=(32, 32)) is cfg
    with pytest.raises(IncompatibleError, match="expects input"):
        adapt(cfg, channels=1)
    with pytest.raises(IncompatibleError):
        load_model("resnet20_fashion_mnist", pretrained=False, num_classes=100)


def test_normalize_formula_buffers_and_dtype() -> None:
    norm = Normalize(MEAN, STD)
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    expected = (x.numpy() - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]
    np.testing.assert_allclose(norm.double()(x).numpy(), expected, rtol=1e-12)
    assert norm(x).dtype == torch.float64
    assert norm.state_dict() == {}
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        norm(torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match="positive"):
        Normalize((0.5,), (0.0,))
