"""Each suite declares the SuiteOptions it reads; build_suite refuses the others instead of ignoring them."""

from __future__ import annotations

from dataclasses import fields

import pytest

from freqbench.config import SuiteOptions
from freqbench.errors import ConfigError
from freqbench.suites import SUITES
from freqbench.suites.base import build_suite

#: a valid value for each option (the suite reading it must accept it)
VALUES = {
    "eps": ("4/255",),
    "corruptions": ("gaussian_noise",),
    "severities": (1,),
    "baseline": "m",
    "probe": {"eps": 4.0},  # a probe run's options: no suite reads them
}


def _options(name: str, option: str) -> SuiteOptions:
    value = ("spatter",) if (name, option) == ("corruptions_extra", "corruptions") else VALUES[option]
    return SuiteOptions(**{option: value})  # type: ignore[arg-type]


def test_values_cover_every_option() -> None:
    assert set(VALUES) == {f.name for f in fields(SuiteOptions)}


@pytest.mark.parametrize("name", SUITES.names())
@pytest.mark.parametrize("option", sorted(VALUES))
def test_an_option_is_used_or_refused(name: str, option: str) -> None:
    options = _options(name, option)
    default = build_suite(name)
    if option in default.reads:
        build_suite(name, options)
    else:
        with pytest.raises(ConfigError, match=rf"suite '{name}' does not use --{option} .*is read by"):
            build_suite(name, options)


def test_declarations_match_what_the_suites_read() -> None:
    reads = {name: build_suite(name).reads for name in SUITES.names()}
    assert reads["frequency"] == ()
    assert reads["adversarial"] == reads["autoattack"] == reads["frequency_attacks"] == ("eps",)
    for name in ("corruptions", "corruptions_extra", "cifar10c", "cifar100c"):
        assert reads[name] == ("corruptions", "severities", "baseline")
    # an option a suite reads changes its grid (the baseline only feeds the mCE summary)
    for name, read in reads.items():
        for option in read:
            if option == "baseline":
                continue
            changed = build_suite(name, _options(name, option))
            assert changed.conditions != build_suite(name).conditions, (name, option)


def test_the_message_names_the_suites_that_do_read_it() -> None:
    with pytest.raises(ConfigError) as e:
        build_suite("frequency", SuiteOptions(eps=("8/255",), severities=(9,)))
    msg = str(e.value)
    assert "does not use --eps, --severities (it takes no suite options)" in msg
    assert "--eps is read by adversarial, autoattack, frequency_attacks" in msg
    assert "--severities is read by" in msg and "corruptions" in msg
