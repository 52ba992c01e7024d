"""The ``timm:`` family: explicit random init, adaptation, pretrained weights only from the HF cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from freqbench.errors import ConfigError, MissingDataError, UnknownNameError
from freqbench.models import MODELS, import_weights, load_model

TINY = "test_efficientnet"
TINY_TAGGED = "test_efficientnet.r160_in1k"


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face hub cache in the hub's on-disk layout."""
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _cache_weights(cache: Path, repo: str, state: dict[str, torch.Tensor]) -> None:
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0123abcd")
    snapshot = folder / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))


def test_random_init_only_when_spelled_out(hf_cache: Path) -> None:
    model, cfg = load_model(f"timm:{TINY}?pretrained=false")
    pcfg = timm.models.get_pretrained_cfg(TINY_TAGGED)
    assert cfg.input_size == tuple(pcfg.input_size) and cfg.mean == tuple(pcfg.mean)
    assert model(torch.rand(2, *cfg.input_size)).shape == (2, pcfg.num_classes)
    with pytest.raises(MissingDataError, match=r"Hugging Face cache.*\?pretrained=false"):
        load_model(f"timm:{TINY_TAGGED}")


def test_adapted_to_one_channel_28px_ten_classes(hf_cache: Path) -> None:
    model, cfg = load_model(f"timm:{TINY}?pretrained=false", channels=1, num_classes=10, input_size=(28, 28))
    assert cfg.input_size == (1, 28, 28) and cfg.num_classes == 10
    pcfg = timm.models.get_pretrained_cfg(TINY_TAGGED)
    assert cfg.mean == pytest.approx((sum(pcfg.mean) / 3,))
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_pretrained_weights_read_from_hf_cache(hf_cache: Path) -> None:
    torch.manual_seed(0)
    ref = timm.create_model(TINY, pretrained=False)
    state = ref.state_dict()
    _cache_weights(hf_cache, f"timm/{TINY_TAGGED}", state)
    model, cfg = load_model(f"timm:{TINY_TAGGED}")
    assert cfg.weights is not None and cfg.weights.filename == "model.safetensors"
    for key, value in state.items():
        assert torch.equal(model.net.state_dict()[key], value), key
    # Adapted: timm folds the RGB stem into one channel by summing; the 10-class head is new.
    model, _ = load_model(f"timm:{TINY_TAGGED}", channels=1, num_classes=10, input_size=(28, 28))
    torch.testing.assert_close(model.net.conv_stem.weight[:, 0], state["conv_stem.weight"].sum(1))
    assert model.net.classifier.weight.shape[0] == 10


def test_bad_spellings() -> None:
    with pytest.raises(ConfigError, match="pretrained=false"):
        MODELS.get(f"timm:{TINY}?pretrained=maybe")
    with pytest.raises(UnknownNameError, match="timm has no model"):
        MODELS.get("timm:resnet_does_not_exist")


def test_lister_offers_pretrained_timm_names() -> None:
    names = MODELS.names("timm:test_*")
    assert f"timm:{TINY_TAGGED}" in names
    assert all(n.startswith("timm:test_") for n in names)


def test_timm_weights_are_not_importable_into_the_freqbench_cache(hf_cache: Path, tmp_path: Path) -> None:
    _cache_weights(hf_cache, f"timm/{TINY_TAGGED}", timm.create_model(TINY, pretrained=False).state_dict())
    with pytest.raises(ConfigError, match="no weight file to import"):
        import_weights(f"timm:{TINY_TAGGED}", tmp_path / "any.safetensors")
