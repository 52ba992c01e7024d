"""``freqbench.evaluate``: a registered name or an in-memory ``nn.Module``, stored, resumable, refused.

The data is a tiny class-per-folder PNG tree written here, read by the real ``imagefolder:`` loader.
Values are checked against a forward pass done by hand (PIL -> numpy -> the module, log-softmax in
numpy), the fingerprint against hashlib over the tensors' bytes.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from freqbench import api
from freqbench.errors import ConfigError, IncompatibleError, StoreError
from freqbench.models import ModelConfig
from freqbench.models.in_memory import InMemoryModel, state_dict_sha256
from freqbench.store.run import RunStore

CLASSES = ("ant", "bee", "cat")
PER_CLASS = 4
FAST: dict[str, Any] = {
    "suite": "corruptions",
    "corruptions": "gaussian_noise",
    "severities": 1,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "images"
    rng = np.random.default_rng(7)
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        for i in range(PER_CLASS):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _by_hand(root: Path) -> tuple[torch.Tensor, np.ndarray]:
    """Images (N, 3, 8, 8) in [0, 1] and labels, in the loader's documented order."""
    xs, ys = [], []
    for label, c in enumerate(sorted(CLASSES)):
        for i in range(PER_CLASS):
            xs.append(np.asarray(Image.open(root / c / f"{i}.png").convert("RGB"), np.float64) / 255)
            ys.append(label)
    x = torch.from_numpy(np.stack(xs).transpose(0, 3, 1, 2).copy()).float()
    return x, np.array(ys)


class TinyNet(nn.Module):
    """Conv, BatchNorm (buffers in the state_dict), pool, linear: 3 logits."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def _net(seed: int, classes: int = 3) -> TinyNet:
    torch.manual_seed(seed)
    net = TinyNet(classes)
    assert net.bn.running_mean is not None and net.bn.running_var is not None
    with torch.no_grad():  # non-trivial BatchNorm statistics, so they matter to the output
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
    return net


def _value(df, condition: str, metric: str) -> float:  # type: ignore[no-untyped-def]
    rows = df[(df.condition == condition) & (df.metric == metric)]
    assert len(rows) == 1
    return float(rows.value.iloc[0])


def test_in_memory_module_matches_a_forward_pass_by_hand(folder: Path, tmp_path: Path) -> None:
    net, mean, std = _net(0), (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    x, y = _by_hand(folder)
    norm = (x.double() - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = net.eval()(norm.float()).double().numpy()
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    expected_acc = float((logits.argmax(1) == y).mean())
    expected_loss = float(-logp[np.arange(len(y)), y].mean())
    fingerprint = state_dict_sha256(net)

    result = api.evaluate(
        net, dataset=f"imagefolder:{folder}", mean=mean, std=std, out=tmp_path / "run", **FAST
    )
    df = result.to_pandas()
    assert result.evaluated == 2
    assert set(df.model) == {"module:TinyNet"} and set(df.condition) == {"clean", "gaussian_noise@1"}
    assert (df.n[df.metric == "accuracy"] == len(y)).all()
    assert _value(df, "clean", "accuracy") == pytest.approx(expected_acc, abs=1e-12)
    assert _value(df, "clean", "loss") == pytest.approx(expected_loss, rel=1e-5)
    entry = result.store.read_manifest()["models"]["module:TinyNet"]
    engine = entry.pop("engine")  # the forward pass that scored it (freqbench.engine.fast)
    assert entry == {"arch": "TinyNet", "weights": f"state_dict:sha256={fingerprint}"}
    assert engine["precision"] == "fp32" and engine["agreement"] == 1.0
    assert state_dict_sha256(net) == fingerprint  # evaluation changed no weight or BatchNorm statistic


def test_state_dict_sha256_is_the_documented_digest() -> None:
    net = _net(1)
    h = hashlib.sha256()
    for name, t in net.state_dict().items():
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(np.ascontiguousarray(t.numpy()).tobytes())
        h.update(b"\n")
    assert state_dict_sha256(net) == h.hexdigest()
    other = _net(1)
    # the same values in another memory layout: the same digest
    other.fc.weight = nn.Parameter(other.fc.weight.detach().t().contiguous().t())
    assert not other.fc.weight.is_contiguous() and state_dict_sha256(other) == h.hexdigest()
    with torch.no_grad():
        assert other.bn.running_var is not None
        other.bn.running_var[0] += 1e-3  # a buffer, not a parameter
    assert state_dict_sha256(other) != h.hexdigest()


def test_config_is_built_from_the_dataset_and_one_forward_pass() -> None:
    net = _net(0, classes=5)
    sample = torch.rand(1, 3, 8, 8)
    module, cfg, weights = InMemoryModel(net, name="mine").build(
        dataset="d", input_size=(3, 8, 8), sample=sample
    )
    assert module is net and not net.training
    assert (cfg.name, cfg.arch, cfg.num_classes, cfg.input_size) == ("mine", "TinyNet", 5, (3, 8, 8))
    assert (cfg.mean, cfg.std) == ((0.0,) * 3, (1.0,) * 3)  # normalisation inside the module
    assert cfg.result_spec()["extra"]["state_dict_sha256"] == state_dict_sha256(net)
    assert weights == f"state_dict:sha256={state_dict_sha256(net)}"
    given = InMemoryModel(net, num_classes=5, mean=(0.5,) * 3, std=(0.5,) * 3)
    wrapped, cfg2, _ = given.build(dataset="d", input_size=(3, 8, 8), sample=sample)
    assert wrapped.net is net and cfg2.result_spec() != cfg.result_spec()
    flat = InMemoryModel(nn.Flatten(0))
    with pytest.raises(IncompatibleError, match=r"returned \(192,\) for one image.*\(1, K\)"):
        flat.build(dataset="d", input_size=(3, 8, 8), sample=sample)


def test_a_module_that_does_not_fit_the_dataset_is_refused(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(IncompatibleError, match="the model has 5 classes, the dataset 3"):
        api.evaluate(_net(0, classes=5), dataset=f"imagefolder:{folder}", out=tmp_path / "a", **FAST)
    with pytest.raises(IncompatibleError, match="the model has 4 classes, the dataset 3"):
        api.evaluate(_net(0), num_classes=4, dataset=f"imagefolder:{folder}", out=tmp_path / "b", **FAST)


def test_resume_skips_stored_conditions(folder: Path, tmp_path: Path) -> None:
    out, data = tmp_path / "run", f"imagefolder:{folder}"
    first = api.evaluate(_net(0), dataset=data, limit=8, out=out, **FAST)
    again = api.evaluate(_net(0), dataset=data, limit=8, out=out, batch_size=3, **FAST)
    assert (first.evaluated, again.evaluated) == (2, 0)
    df = first.to_pandas()
    assert again.records == first.records and set(df.n[df.metric == "accuracy"]) == {8}
    assert len(RunStore(out).completed_keys()) == 2


def test_other_weights_under_the_same_name_are_refused(folder: Path, tmp_path: Path) -> None:
    out, data = tmp_path / "run", f"imagefolder:{folder}"
    stored = api.evaluate(_net(0), dataset=data, out=out, name="net", **FAST).records
    with pytest.raises(StoreError, match="holds results of another configuration.*weights"):
        api.evaluate(_net(1), dataset=data, out=out, name="net", **FAST)
    with pytest.raises(StoreError, match="holds results of another configuration.*models"):
        api.evaluate(_net(0), dataset=data, out=out, name="other", **FAST)
    assert RunStore(out).records() == stored
    fresh = api.evaluate(_net(1), dataset=data, out=out, name="net", force=True, **FAST)
    assert fresh.evaluated == 2 and fresh.records != stored


def test_out_none_is_a_new_temporary_directory(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    a = api.evaluate(_net(0), dataset=f"imagefolder:{folder}", **FAST)
    b = api.evaluate(_net(0), dataset=f"imagefolder:{folder}", **FAST)
    assert a.store.root.parent == tmp_path and a.store.root.name.startswith("freqbench-")
    assert a.store.root != b.store.root and (a.evaluated, b.evaluated) == (2, 2)
    assert api.render(a.store.root, "json")  # left in place: the stored run stays readable


def test_an_in_memory_run_cannot_be_rebuilt_from_its_name(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    api.evaluate(_net(0), dataset=f"imagefolder:{folder}", out=out, **FAST)
    with pytest.raises(ConfigError, match=r"nn.Module handed to freqbench.evaluate.*resume it from Python"):
        api.run(RunStore(out).config())  # what `freqbench run --resume --out DIR` does
    config = RunStore(out).config()
    with pytest.raises(ConfigError, match=r"in-memory models \['module:TinyNet'\] must be config.models"):
        api.run(config.replace(models=("x",)), modules=[InMemoryModel(_net(0))])


def test_bad_arguments_are_refused_before_a_directory_is_made(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = f"imagefolder:{folder}"
    with pytest.raises(ConfigError, match="num_classes describe an in-memory nn.Module"):
        api.evaluate("resnet20_cifar10", dataset=data, num_classes=3, **FAST)
    with pytest.raises(ConfigError, match="model name .* or a torch nn.Module, got dict"):
        api.evaluate({}, dataset=data, **FAST)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_classes must be a positive integer, got 3.0"):
        api.evaluate(_net(0), dataset=data, num_classes=3.0, **FAST)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="give both mean and std"):
        api.evaluate(_net(0), dataset=data, mean=(0.5,) * 3, **FAST)
    with pytest.raises(ConfigError, match=r"one value per channel \(3\), got 1 and 1"):
        api.evaluate(_net(0), dataset=data, mean=(0.5,), std=(0.5,), **FAST)
    with pytest.raises(ConfigError, match="eps"):
        api.evaluate(_net(0), dataset=data, eps="8/255", **FAST)
    with pytest.raises(ConfigError, match="--limit must be a positive integer"):
        api.evaluate(_net(0), dataset=data, limit=0, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_a_registered_name_runs_the_same_path(tmp_path: Path) -> None:
    root = tmp_path / "ten"
    rng = np.random.default_rng(0)
    for c in range(10):
        (root / f"c{c}").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"c{c}" / "0.png")
    with pytest.warns(UserWarning, match="randomly initialised"):
        result = api.evaluate("resnet20_cifar10", dataset=f"imagefolder:{root}", out=tmp_path / "run", **FAST)
    entry = result.store.read_manifest()["models"]["resnet20_cifar10"]
    assert entry["weights"] == "random-init:seed=0" and result.evaluated == 2
    assert set(result.to_pandas().model) == {"resnet20_cifar10"}


def test_load_model_attaches_its_config() -> None:
    model = api.load_model("resnet20_fashion_mnist")
    assert isinstance(model, nn.Module) and not model.training
    cfg = model.cfg
    assert isinstance(cfg, ModelConfig)
    assert (cfg.name, cfg.num_classes, cfg.input_size) == ("resnet20_fashion_mnist", 10, (1, 28, 28))
    assert cfg.weights is not None and "cfg" not in "".join(model.state_dict())
    with torch.no_grad():
        assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.warns(UserWarning, match="randomly initialised"):
        filtered = api.load_model("resnet20_cifar10+low_pass_ideal@r=4")
    assert isinstance(filtered, nn.Sequential) and isinstance(filtered.cfg, ModelConfig)
    assert filtered.cfg.name == "resnet20_cifar10"
    assert "resnet20_fashion_mnist" in api.list_models("resnet20_*")
