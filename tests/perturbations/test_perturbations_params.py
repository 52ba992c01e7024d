"""Filter parameters in ``MODEL+FILTER``: every bad one is a typed one-line error, nothing is stored.

Before, an unknown or missing parameter was a ``TypeError`` traceback, a non-numeric radius a
``ValueError`` from ``float()``, ``order`` was silently ignored by the ideal and Gaussian profiles,
``defocus_blur@3.5`` ran as severity 3, and ``r=nan`` or ``sigma=0`` were accepted until the first batch
(or never refused). Each case goes through ``freqbench run`` (``main()``, exit code 2) into a directory
that already holds a run, whose files must stay byte for byte the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_main as _main
from cli_helpers import snapshot as _snapshot
from PIL import Image

from freqbench import api
from freqbench.config import RunConfig, SuiteOptions
from freqbench.errors import ConfigError, UnknownNameError
from freqbench.perturbations import PERTURBATIONS
from freqbench.perturbations.params import make_perturbation, number, signature_text
from freqbench.store.run import RunStore

MODEL = "resnet20_cifar10"

CASES = [
    ("no_such_filter@r=3", "unknown perturbation 'no_such_filter'"),
    ("low_pas_ideal@r=3", "unknown perturbation 'low_pas_ideal'. Did you mean 'low_pass_ideal'"),
    (
        "low_pass_ideal@sigma=3",
        "low_pass_ideal has no parameter 'sigma'; it takes r: write low_pass_ideal@r=VALUE",
    ),
    ("low_pass_ideal@r=8,order=2", "low_pass_ideal has no parameter 'order'; it takes r"),
    ("low_pass_ideal", "low_pass_ideal needs r: write low_pass_ideal@r=VALUE"),
    (
        "low_pass_ideal@8",
        "low_pass_ideal takes no severity (NAME@VALUE); it takes r: write low_pass_ideal@r=VALUE",
    ),
    ("low_pass_ideal@r=abc", "low_pass_ideal: r must be a number > 0, got 'abc'"),
    ("low_pass_ideal@r=0", "low_pass_ideal: r must be a number > 0, got 0"),
    ("high_pass_gaussian@r=-4", "high_pass_gaussian: r must be a number > 0, got -4"),
    ("low_pass_ideal@r=nan", "low_pass_ideal: r must be a number > 0, got nan"),
    ("low_pass_ideal@r=inf", "low_pass_ideal: r must be a number > 0, got inf"),
    ("low_pass_ideal@r=4-8", "low_pass_ideal: r must be one cutoff in cycles per image (r=8), got [4, 8]"),
    (
        "band_pass_ideal@r=8",
        "band_pass_ideal: r must be two cutoffs LOW-HIGH in cycles per image (r=4-8), got 8",
    ),
    ("band_pass_gaussian@r=8-4", "band_pass_gaussian: r=LOW-HIGH needs LOW < HIGH, got [8, 4]"),
    ("low_pass_butterworth@r=8,order=0", "low_pass_butterworth: order must be an integer >= 1, got 0"),
    ("low_pass_butterworth@r=8,order=2.5", "low_pass_butterworth: order must be an integer >= 1, got 2.5"),
    (
        "low_pass_butterworth@order=2",
        "low_pass_butterworth needs r: write low_pass_butterworth@r=VALUE,[order=2]",
    ),
    ("gaussian_filter@sigma=0", "gaussian_filter: sigma must be a number > 0, got 0"),
    ("gaussian_residual@sigma=-1", "gaussian_residual: sigma must be a number > 0, got -1"),
    ("gaussian_filter@radius=2", "gaussian_filter has no parameter 'radius'; it takes sigma"),
    ("defocus_blur@9", "defocus_blur: severity must be an integer in 1..5, got 9"),
    ("defocus_blur@0", "defocus_blur: severity must be an integer in 1..5, got 0"),
    ("defocus_blur@2.5", "defocus_blur: severity must be an integer in 1..5, got 2.5"),
    ("defocus_blur@high", "defocus_blur: severity must be an integer in 1..5, got 'high'"),
    ("defocus_blur@r=3", "defocus_blur has no parameter 'r'; it takes severity: write defocus_blur@SEVERITY"),
    ("defocus_blur", "defocus_blur needs severity: write defocus_blur@SEVERITY"),
    ("clean@3", "clean takes no severity (NAME@VALUE); it takes no parameters: write clean"),
    ("low_pass_ideal@r=4,r=8", "malformed condition 'low_pass_ideal@r=4,r=8': r is given twice"),
    ("low_pass_ideal@", "malformed condition 'low_pass_ideal@': nothing follows '@'"),
    ("low_pass_ideal@r", "low_pass_ideal takes no severity (NAME@VALUE); it takes r"),
    ("low_pass_ideal@r=8,order", "malformed condition 'low_pass_ideal@r=8,order': 'order' is not KEY=VALUE"),
    ("low_pass_ideal@r=", "malformed condition 'low_pass_ideal@r=': 'r=' is not KEY=VALUE"),
    ("low_pass_ideal@r=8,", "malformed condition 'low_pass_ideal@r=8,': '' is not KEY=VALUE"),
    ("gaussian_noise@3", "gaussian_noise is random; only deterministic filters can wrap a model"),
    ("phase_scramble@width=200", "phase_scramble: width must be a number in 0..180, got 200"),
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory that already holds a (tiny, real) run."""
    root = tmp_path_factory.mktemp("params")
    images = root / "images"
    rng = np.random.default_rng(0)
    for c in range(10):
        (images / f"c{c}").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"c{c}" / "0.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FREQBENCH_HOME", str(root / "home"))
        config = RunConfig(
            suite="corruptions",
            models=(MODEL,),
            dataset=f"imagefolder:{images}",
            device="cpu",
            options=SuiteOptions(corruptions=("defocus_blur",), severities=(1,)),
            out=root / "run",
        )
        api.run(config)
    return config.out


@pytest.mark.parametrize(("filt", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_filter_parameters_are_one_line_errors(stored, capsys, filt, message) -> None:
    before = _snapshot(stored)
    dataset = RunStore(stored).records()[0].dataset
    code = _main("run", "--out", str(stored), "--model", f"{MODEL}+{filt}", "--dataset", dataset)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err
    assert _snapshot(stored) == before


@pytest.mark.parametrize(("filt", "message"), CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_the_api_raises_the_same_typed_errors(filt, message) -> None:
    with pytest.raises((ConfigError, UnknownNameError)) as e:
        api.build_model(f"{MODEL}+{filt}")
    assert message in str(e.value)


def test_good_filters_build_with_their_parameters() -> None:
    assert make_perturbation("low_pass_butterworth", {"r": 8, "order": 3}).params() == {"r": 8.0, "order": 3}
    assert make_perturbation("band_pass_ideal", {"r": [0, 8]}).params() == {"r": [0.0, 8.0]}
    assert make_perturbation("defocus_blur", {"severity": 5.0}).params() == {"severity": 5}
    assert make_perturbation("gaussian_filter", {"sigma": 0.5}).params() == {"sigma": 0.5}


def test_every_registered_perturbation_has_a_usage_line() -> None:
    for name in PERTURBATIONS.names():
        text = signature_text(name)
        assert text.startswith(name) and "self" not in text


@pytest.mark.parametrize("bad", [True, None, [1], "1", float("nan"), float("-inf")])
def test_number_refuses_what_is_not_a_finite_number(bad) -> None:
    with pytest.raises(ConfigError, match=r"^f: x must be a number >= 0, got "):
        number("f", "x", bad, ge=0)
