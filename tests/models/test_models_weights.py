"""Every pretrained entry names the weights it actually loaded (their sha256 enters the result keys),
the result spec ignores provenance text, and bad weight files are typed errors.

The file read is observed at the bottom (``torch.load`` and safetensors' ``load_file``), and its sha256
is computed here with hashlib, independently of freqbench's fingerprint cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import safetensors.torch
import torch
from torch import nn

from freqbench.api import build_model
from freqbench.errors import CheckpointError
from freqbench.models import MODELS, ModelConfig, WeightSource, load_model
from freqbench.models.robustbench import files_source, import_robustbench

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

#: where the shared real data keeps a copy of each publisher's downloadable weights
SHARED_WEIGHTS = {"https://github.com/akamaster/": "weights/akamaster"}
TIMM_TAGGED = "test_efficientnet.r160_in1k"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FREQBENCH_ROBUSTBENCH_DIR", str(tmp_path / "rb"))
    monkeypatch.chdir(tmp_path)  # RobustBench's default ./models stays empty


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every weight file read, in order, as the two readers at the bottom see them."""
    seen: list[Path] = []
    torch_load, st_load = torch.load, safetensors.torch.load_file

    def spy_torch(f: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(Path(f))
        return torch_load(f, *args, **kwargs)

    def spy_st(f: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(Path(f))
        return st_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy_torch)
    monkeypatch.setattr(safetensors.torch, "load_file", spy_st)
    yield seen


def _pretrained_names() -> list[Any]:
    out = []
    for name in MODELS.names():
        entry = MODELS.get(name)
        if entry.cfg.weights is None and entry.build_pretrained is None:
            continue  # architecture-only entries: built randomly initialised, and say so
        downloadable = entry.cfg.weights is not None and entry.cfg.weights.url is not None
        out.append(pytest.param(name, marks=pytest.mark.real) if downloadable else name)
    return out


def _shared_copy(cfg: ModelConfig) -> str:
    assert cfg.weights is not None and cfg.weights.url is not None
    folders = [f for prefix, f in SHARED_WEIGHTS.items() if cfg.weights.url.startswith(prefix)]
    assert folders, f"{cfg.name}: no shared copy of {cfg.weights.url} is known; add it to SHARED_WEIGHTS"
    return f"{folders[0]}/{cfg.weights.filename}"


@pytest.mark.parametrize("name", _pretrained_names())
def test_every_registered_pretrained_entry_names_its_weights(
    name: str, reads: list[Path], request: pytest.FixtureRequest
) -> None:
    cfg = MODELS.get(name).cfg
    root = None
    if request.node.get_closest_marker("real") is not None:
        real_data: RealData = request.getfixturevalue("real_data")
        root = real_data.shared(_shared_copy(cfg))
    _, loaded = load_model(name, weights_root=root, download=False)
    assert loaded.weights is not None and reads, f"{name} loaded no weight file"
    assert loaded.weights.sha256 == _sha256(reads[-1])


# one instance per prefix family, with a weight file in the family's own layout -------------------
def _checkpoint(tmp_path: Path) -> str:
    torch.manual_seed(3)
    net = MODELS.get("resnet20_cifar10").build(MODELS.get("resnet20_cifar10").cfg)
    path = tmp_path / "ckpt" / "model.pt"
    path.parent.mkdir()
    torch.save({"arch": "resnet20_cifar10", "state_dict": net.state_dict()}, path)
    return f"checkpoint:{path}"


def _timm(tmp_path: Path) -> str:
    import timm
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    pytest.MonkeyPatch().setattr(constants, "HF_HUB_CACHE", str(cache))  # undone below
    folder = cache / f"models--timm--{TIMM_TAGGED}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0123abcd")
    (folder / "snapshots" / "0123abcd").mkdir(parents=True)
    state = timm.create_model("test_efficientnet", pretrained=False).state_dict()
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in state.items()},
        str(folder / "snapshots" / "0123abcd" / "model.safetensors"),
    )
    return f"timm:{TIMM_TAGGED}"


class TinyZooNet(nn.Module):
    """Stands in for a zoo architecture (a WRN-28-10 would cost seconds per test)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.fixture
def tiny_zoo(monkeypatch: pytest.MonkeyPatch) -> Path:
    """``robustbench:cifar10/Linf/Standard`` built as :class:`TinyZooNet`; returns its checkpoint path."""
    import_robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    entry = model_dicts[BenchmarkDataset.cifar_10][ThreatModel.Linf]["Standard"]
    monkeypatch.setitem(entry, "model", TinyZooNet)
    return Path("rb") / "cifar10" / "Linf" / "Standard.pt"


def _robustbench(tmp_path: Path) -> str:
    torch.manual_seed(4)
    path = tmp_path / "rb" / "cifar10" / "Linf" / "Standard.pt"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in TinyZooNet().state_dict().items()}}, path)
    return "robustbench:cifar10/Linf/Standard"


FAMILIES: dict[str, Callable[[Path], str]] = {
    "checkpoint": _checkpoint,
    "timm": _timm,
    "robustbench": _robustbench,
}


def test_every_family_has_a_case() -> None:
    assert set(FAMILIES) == set(MODELS.prefixes()), "add a case for the new model family to FAMILIES"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_names_the_weights_it_loaded(
    family: str, tmp_path: Path, reads: list[Path], tiny_zoo: Path
) -> None:
    from huggingface_hub import constants

    hub_cache = constants.HF_HUB_CACHE
    try:
        name = FAMILIES[family](tmp_path)
        reads.clear()
        model = build_model(name, seed=0)
    finally:
        constants.HF_HUB_CACHE = hub_cache
    assert reads, f"{name} read no weight file"
    assert model.weights_sha256 == model.cfg.weights.sha256 == _sha256(reads[-1])  # type: ignore[union-attr]
    assert "random-init" not in model.weights_sha256


def test_an_ensemble_is_named_by_all_its_members(tmp_path: Path) -> None:
    for i, data in enumerate((b"first", b"second")):
        (tmp_path / f"E.pt_m{i}.pt").write_bytes(data)
    files = ["E.pt_m0.pt", "E.pt_m1.pt"]
    lines = "".join(f"{f} {hashlib.sha256(d).hexdigest()}\n" for f, d in zip(files, (b"first", b"second")))
    assert files_source(tmp_path, files).sha256 == hashlib.sha256(lines.encode()).hexdigest()
    (tmp_path / "E.pt_m1.pt").write_bytes(b"other")
    assert files_source(tmp_path, files).sha256 != hashlib.sha256(lines.encode()).hexdigest()


# the result spec -----------------------------------------------------------------------------------
def test_result_spec_ignores_provenance_and_follows_what_decides_outputs() -> None:
    cfg = dataclasses.replace(
        MODELS.get("resnet20_fashion_mnist").cfg, weights=WeightSource(sha256="ab" * 32, filename="w.pt")
    )
    spec = cfg.result_spec()
    assert spec == pickle.loads(pickle.dumps(spec))  # plain JSON types only
    for field, value in [("license", "MIT"), ("notes", "edited"), ("paper", "other"), ("name", "x")]:
        assert dataclasses.replace(cfg, **{field: value}).result_spec() == spec, field
    renamed = dataclasses.replace(cfg.weights, filename="renamed.pt", url="https://elsewhere")  # type: ignore[arg-type]
    assert dataclasses.replace(cfg, weights=renamed).result_spec() == spec
    for changes in [
        {"mean": (0.5,)},
        {"std": (0.25,)},
        {"num_classes": 11},
        {"input_size": (1, 32, 32)},
        {"extra": {"depth": 32}},
        {"weights": dataclasses.replace(cfg.weights, sha256="cd" * 32)},  # type: ignore[arg-type]
        {"weights": dataclasses.replace(cfg.weights, strip_prefix="module.")},  # type: ignore[arg-type]
        {"weights": None},
    ]:
        assert dataclasses.replace(cfg, **changes).result_spec() != spec, changes


# bad files are typed errors ------------------------------------------------------------------------
class Payload:
    """A pickled object: loading it would run code."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("pwned",))


@pytest.mark.parametrize(
    ("input_size", "num_classes"),
    [([1, 28], None), ("1x28x28", None), ([1, 28, "x"], None), ([0, 28, 28], None), ([-1, 28, 28], None),
     ([1.5, 28, 28], None), ([True, 28, 28], None), (5, None), (None, "ten"), (None, 0), (None, 2.5)],
)  # fmt: skip
def test_malformed_checkpoint_shapes_are_checkpoint_errors(
    tmp_path: Path, input_size: Any, num_classes: Any
) -> None:
    net = MODELS.get("resnet20_fashion_mnist").build(MODELS.get("resnet20_fashion_mnist").cfg)
    obj: dict[str, Any] = {"arch": "timm:test_efficientnet?pretrained=false", "state_dict": net.state_dict()}
    obj |= {k: v for k, v in (("input_size", input_size), ("num_classes", num_classes)) if v is not None}
    path = tmp_path / "m.pt"
    torch.save(obj, path)
    field = "input_size" if input_size is not None else "num_classes"
    with pytest.raises(CheckpointError, match=f"'{field}' must be") as err:
        load_model(f"checkpoint:{path}")
    assert "\n" not in str(err.value)


def test_well_formed_checkpoint_shapes_adapt_the_architecture(tmp_path: Path) -> None:
    import timm

    net = timm.create_model("test_efficientnet", pretrained=False, num_classes=7, in_chans=1)
    path = tmp_path / "m.pt"
    torch.save({"arch": "timm:test_efficientnet?pretrained=false", "state_dict": net.state_dict(),
                "input_size": torch.Size([1, 40, 40]), "num_classes": torch.tensor(7)}, path)  # fmt: skip
    _, cfg = load_model(f"checkpoint:{path}")
    assert cfg.input_size == (1, 40, 40) and cfg.num_classes == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("corrupt", "corrupt or truncated"),
        ("truncated", "corrupt or truncated"),
        ("code", "refuses to unpickle code"),
        ("mismatched", "does not fit RobustBench's architecture"),
        ("not a dict", "does not fit RobustBench's architecture"),
    ],
)
def test_bad_robustbench_files_are_checkpoint_errors(
    tmp_path: Path, tiny_zoo: Path, content: str, message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / tiny_zoo
    path.parent.mkdir(parents=True)
    good = {"state_dict": TinyZooNet().state_dict()}
    if content == "corrupt":
        path.write_bytes(b"\x00garbage" * 100)
    elif content == "truncated":
        torch.save(good, path)
        path.write_bytes(path.read_bytes()[:-200])
    elif content == "code":
        torch.save({"state_dict": good["state_dict"], "extra": Payload()}, path)
    elif content == "mismatched":
        torch.save({"state_dict": {"fc.weight": torch.zeros(3, 3), "fc.bias": torch.zeros(3)}}, path)
    else:
        torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match=message) as err:
        load_model("robustbench:cifar10/Linf/Standard")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert "pwned" not in capfd.readouterr().out
