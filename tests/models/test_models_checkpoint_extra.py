"""``checkpoint:`` files that carry builder parameters (``"extra"``): applied to the architecture, checked.

A frequency-modulated stem's band masks are non-persistent buffers made by the builder, so the state
dict alone cannot say which proportion a network was trained with; ``extra`` does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from freqbench.errors import CheckpointError, ConfigError, FreqbenchError
from freqbench.models import MODELS, load_model
from freqbench.nn.frequency_modulation import FrequencyModulation

ARCH = "resnet20_freqmod_fashion_mnist"


def _save(path: Path, **fields: Any) -> Path:
    entry = MODELS.get(ARCH)
    torch.manual_seed(0)
    net = entry.build(replace(entry.cfg, extra={**entry.cfg.extra, "proportion": 0.25}))
    torch.save({"arch": ARCH, "state_dict": net.state_dict(), **fields}, path)
    return path


def _low_filters(model: torch.nn.Module) -> int:
    stem = model.net.conv1  # type: ignore[union-attr]
    assert isinstance(stem, FrequencyModulation)
    return int(stem.is_low.sum())


def test_extra_overrides_the_architecture_parameters(tmp_path: Path) -> None:
    with_extra = _save(tmp_path / "p25.pt", extra={"proportion": 0.25})
    model, cfg = load_model(f"checkpoint:{with_extra}")
    assert _low_filters(model) == 4
    assert cfg.extra == {**MODELS.get(ARCH).cfg.extra, "proportion": 0.25}
    assert cfg.result_spec()["extra"]["proportion"] == 0.25  # so it enters the result keys
    # without "extra" the registered parameters hold (files written before the key existed)
    plain, plain_cfg = load_model(f"checkpoint:{_save(tmp_path / 'plain.pt')}")
    assert _low_filters(plain) == 8 and plain_cfg.extra == MODELS.get(ARCH).cfg.extra


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        ({"proportoin": 0.25}, CheckpointError, r"builder parameters \['proportoin'\] that architecture"),
        ([("proportion", 0.25)], CheckpointError, "'extra' must map builder parameter names"),
        ({"proportion": torch.tensor(0.25)}, CheckpointError, r"extra\['proportion'\] must be a number"),
        ({"proportion": "a quarter"}, ConfigError, "must be int/float"),  # the builder's own type check
    ],
)
def test_bad_extra_is_refused(
    tmp_path: Path, extra: object, error: type[FreqbenchError], message: str
) -> None:
    path = _save(tmp_path / "bad.pt", extra=extra)
    with pytest.raises(error, match=message) as info:
        load_model(f"checkpoint:{path}")
    assert "\n" not in str(info.value)
