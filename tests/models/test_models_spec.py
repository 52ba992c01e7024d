"""The grammar of model specifications (``freqbench.model_spec``), as ``--model`` and the API read it.

Once broken: ``timm:NAME?pretrained=false`` (recommended by freqbench's own error message) was taken
for a glob, ``--model`` values were split at commas so ``+low_pass_butterworth@r=8,order=2`` could not
be written, and a ``checkpoint:`` path holding ``+`` or ``,`` was cut.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench import api
from freqbench.errors import ConfigError
from freqbench.model_spec import ModelSpec, format_model_spec, parse_model_spec
from freqbench.perturbations.frequency import RadialFilter

# text -> (base, filter, source, is_pattern)
VALID = [
    ("resnet20_fashion_mnist", "resnet20_fashion_mnist", None, None, False),
    ("resnet*_cifar10", "resnet*_cifar10", None, None, True),
    ("resnet20_cifar1?", "resnet20_cifar1?", None, None, True),
    ("resnet20_cifar10+low_pass_ideal@r=8", "resnet20_cifar10", "low_pass_ideal@r=8", None, False),
    (
        "resnet20_cifar10+low_pass_butterworth@r=8,order=2",
        "resnet20_cifar10",
        "low_pass_butterworth@r=8,order=2",
        None,
        False,
    ),
    ("resnet20_cifar10+defocus_blur@3", "resnet20_cifar10", "defocus_blur@3", None, False),
    ("resnet20_cifar10+clean", "resnet20_cifar10", "clean", None, False),
    ("resnet*+band_pass_ideal@r=4-8", "resnet*", "band_pass_ideal@r=4-8", None, True),
    ("timm:resnet18?pretrained=false", "timm:resnet18?pretrained=false", None, "timm", False),
    ("timm:resnet18.a1_in1k", "timm:resnet18.a1_in1k", None, "timm", False),
    ("timm:resnet*", "timm:resnet*", None, "timm", False),  # literal after a source prefix
    (
        "timm:resnet18?pretrained=false+gaussian_filter@sigma=1",
        "timm:resnet18?pretrained=false",
        "gaussian_filter@sigma=1",
        "timm",
        False,
    ),
    ("robustbench:cifar10/Linf/Standard", "robustbench:cifar10/Linf/Standard", None, "robustbench", False),
    ("checkpoint:runs/x/model.pt", "checkpoint:runs/x/model.pt", None, "checkpoint", False),
    ("checkpoint:run[1],v2.pt", "checkpoint:run[1],v2.pt", None, "checkpoint", False),
    ("checkpoint:'runs/a+b.pt'", "checkpoint:runs/a+b.pt", None, "checkpoint", False),
    (
        "checkpoint:'runs/a+b,c.pt'+low_pass_butterworth@r=8,order=2",
        "checkpoint:runs/a+b,c.pt",
        "low_pass_butterworth@r=8,order=2",
        "checkpoint",
        False,
    ),
    ("checkpoint:'it''s+1.pt'", "checkpoint:it's+1.pt", None, "checkpoint", False),
    ("checkpoint:'*.pt'", "checkpoint:*.pt", None, "checkpoint", False),
]


@pytest.mark.parametrize(("text", "base", "filt", "source", "pattern"), VALID)
def test_valid_specifications(
    text: str, base: str, filt: str | None, source: str | None, pattern: bool
) -> None:
    spec = parse_model_spec(text)
    assert spec == ModelSpec(text=text, base=base, filter=filt, source=source)
    assert spec.is_pattern is pattern
    # formatting the parts gives a specification that parses back to them
    again = parse_model_spec(format_model_spec(base, filt))
    assert (again.base, again.filter, again.source) == (base, filt, source)


INVALID = [
    ("", "it is empty"),
    ("   ", "it is empty"),
    ("+low_pass_ideal@r=8", "the model name before '+' is empty"),
    ("resnet20_cifar10+", "the filter after '+' is empty"),
    (
        "resnet20_cifar10,resnet20_fashion_mnist",
        "a model name holds no comma; give each model its own --model",
    ),
    ("resnet20_cifar10+low_pass_ideal@r=8+gaussian_filter@sigma=1", "only one +FILTER may follow a model"),
    ("resnet20_cifar10+low pass", "'low pass' is not a filter (NAME or NAME@PARAMETERS)"),
    (
        "checkpoint:runs/a+b.pt",
        "'b.pt' is not a filter (NAME or NAME@PARAMETERS); if '+' belongs to the path, quote it: "
        "checkpoint:'runs/a+b.pt'",
    ),
    (
        "checkpoint:runs/a+b+low_pass_ideal@r=8",
        "only one +FILTER may follow a model; if '+' belongs to the path, quote it: "
        "checkpoint:'runs/a+b'+low_pass_ideal@r=8",
    ),
    ("checkpoint:", "nothing follows checkpoint:"),
    ("checkpoint:''", "the quoted part after checkpoint: is empty"),
    ("checkpoint:'runs/a+b.pt", "the quote opened after the source prefix is never closed"),
    ("checkpoint:'a.pt'b", "'b' follows the closing quote; only +FILTER may"),
    ("checkpoint:runs/it's.pt", "a quote may only open right after checkpoint: and close the name"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_specifications(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_model_spec(text)
    assert str(e.value).startswith(f"model specification {text!r}: {message}")
    assert "\n" not in str(e.value)


def test_wildcards_expand_only_names_without_a_source() -> None:
    assert api.expand_models(["resnet20_cifar1?", "resnet20_cifar10+low_pass_ideal@r=8"]) == (
        "resnet20_cifar10",
        "resnet20_cifar10+low_pass_ideal@r=8",
    )
    found = api.expand_models(["resnet[2-5]?_cifar10+low_pass_butterworth@r=8,order=2"])
    assert found == tuple(f"resnet{d}_cifar10+low_pass_butterworth@r=8,order=2" for d in (20, 32, 44, 56))
    assert "resnet18_cifar10+low_pass_butterworth@r=8,order=2" in api.expand_models(
        ["resnet*_cifar10+low_pass_butterworth@r=8,order=2"]
    )
    literal = ["timm:resnet18?pretrained=false", "checkpoint:run[1].pt", "checkpoint:'a+b.pt'"]
    assert api.expand_models(literal) == tuple(literal)
    assert api.expand_models(["resnet20_cifar10", "resnet20_cifar10"]) == ("resnet20_cifar10",)


def _checkpoint(path: Path) -> Path:
    from freqbench.models import load_model

    torch.manual_seed(0)
    net, _ = load_model("resnet20_cifar10", pretrained=False)
    torch.save({"arch": "resnet20_cifar10", "state_dict": net.net.state_dict()}, path)
    return path


def test_a_checkpoint_path_with_plus_and_comma_behind_a_filter(tmp_path) -> None:
    path = _checkpoint(tmp_path / "w+1,2.pt")
    spec = f"checkpoint:'{path}'+low_pass_butterworth@r=8,order=3"
    built = api.build_model(spec)
    assert built.name == spec
    assert built.cfg.weights is not None and built.cfg.weights.filename == "w+1,2.pt"
    filt = built.module[0]
    assert isinstance(filt, RadialFilter) and filt.params() == {"r": 8.0, "order": 3}
    assert built.weights_sha256 == f"{built.cfg.weights.sha256}+low_pass_butterworth@r=8,order=3"


def test_the_cli_runs_such_a_specification(tmp_path) -> None:
    """End to end: one --model value with a quoted path, a filter with two parameters, no splitting."""
    path = _checkpoint(tmp_path / "w+1,2.pt")
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for c in range(10):
        (images / f"c{c}").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"c{c}" / "0.png")
    spec = f"checkpoint:'{path}'+low_pass_butterworth@r=8,order=2"
    out = tmp_path / "run"
    args = ["--suite", "corruptions", "--corruptions", "defocus_blur", "--severities", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "run", *args, "--model", spec]
        + ["--dataset", f"imagefolder:{images}", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FREQBENCH_HOME": str(tmp_path / "home"), "COLUMNS": "400"},
    )
    assert proc.returncode == 0, proc.stderr
    from freqbench.store.run import RunStore

    records = RunStore(out).records()
    assert {r.model for r in records} == {spec} and {r.condition for r in records} == {
        "clean",
        "defocus_blur@1",
    }
