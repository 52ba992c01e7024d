"""The probe contract, over the registry itself: every probe runs from its entry, returns plain numpy
arrays and JSON-able metadata, refuses options it does not have, and says which input it lacks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from freqbench.errors import ConfigError, UnknownNameError
from freqbench.probes import PROBES, ProbeInputs

#: options that keep each probe's test run short
FAST = {"fourier_mask": {"dataset_epochs": 1, "single_steps": 2}}


def test_registered_names() -> None:
    assert PROBES.names() == ["filter_spectrum", "fourier_heatmap", "fourier_mask", "input_spectrum", "links"]
    with pytest.raises(UnknownNameError, match="fourier_heatmap"):
        PROBES.get("fourier_heatmaps")


@pytest.mark.parametrize("name", [n for n in PROBES.names() if "runs" not in PROBES.get(n).needs])
def test_every_probe_runs_from_its_entry(name: str, make_data, make_net) -> None:
    probe = PROBES.get(name)
    assert probe.name == name and probe.summary and probe.needs <= {"model", "data"}
    inputs = ProbeInputs(model=make_net(), data=make_data(4, (6, 6)), seed=5)
    result = probe(inputs, probe.configure(FAST.get(name, {})))
    arrays = result.arrays()
    assert arrays and all(isinstance(a, np.ndarray) for a in arrays.values())
    json.dumps(result.meta(), allow_nan=True)
    measures = result.measures()
    assert measures, "every probe reports at least one number"
    for m in measures:
        assert m.estimate.n >= 1 and m.estimate.ci_low <= m.estimate.value <= m.estimate.ci_high
        json.dumps(m.tags)
    for need in probe.needs:
        with pytest.raises(ConfigError, match=f"needs a {need}"):
            probe(ProbeInputs(**{k: v for k, v in vars(inputs).items() if k != need}))


@pytest.mark.parametrize("name", PROBES.names())
def test_options_are_checked(name: str) -> None:
    probe = PROBES.get(name)
    assert probe.configure() == probe.options()
    with pytest.raises(ConfigError, match="has no option"):
        probe.configure({"no_such_option": 1})
    with pytest.raises(ConfigError, match="options, got"):
        probe(ProbeInputs(), object())


def test_links_needs_runs() -> None:
    with pytest.raises(ConfigError, match="needs a runs"):
        PROBES.get("links")(ProbeInputs())


def test_option_values_are_converted_and_typed_errors() -> None:
    probe = PROBES.get("filter_spectrum")
    assert probe.configure({"grid": "17", "bins": 8}).grid == 17
    with pytest.raises(ConfigError, match="expected int, got 'x'"):
        probe.configure({"grid": "x"})
    with pytest.raises(ConfigError, match="expected an integer"):
        probe.configure({"bins": 2.5})
    with pytest.raises(ConfigError, match="grid must be"):
        probe.configure({"grid": 2})
    with pytest.raises(ConfigError, match="true or false"):
        PROBES.get("fourier_heatmap").configure({"clip": "maybe"})
