"""mCE and relative mCE against the Hendrycks & Dietterich (2019) formulas, and the refusal of
incomplete inputs: a model that lacks a corruption condition or its clean accuracy is not averaged
over what it has; the report says what is missing where the mCE table would be and renders the rest.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from freqbench.errors import FreqbenchError, MissingResultError
from freqbench.report.render import print_console, to_json, to_latex, to_markdown
from freqbench.report.summaries import SUMMARIES, corruption_errors
from freqbench.report.tables import ReportContext
from freqbench.store.run import Record

MODELS = ("alexnet", "resnet", "wide")
CORRUPTIONS = ("gaussian_noise", "fog", "jpeg_compression", "snow")
SEVERITIES = (1, 2, 3, 4, 5)
RNG = np.random.default_rng(8)
#: accuracy[model][corruption, severity - 1], falling with severity; clean accuracy per model
ACC = {m: np.sort(RNG.uniform(0.2, 0.85, (4, 5)), axis=1)[:, ::-1] for m in MODELS}
CLEAN = {"alexnet": 0.78, "resnet": 0.93, "wide": 0.95}
MANIFEST = {
    "config": {"seed": 0, "options": {"baseline": "alexnet"}},
    "suites": {"corruptions": 1},
    "summaries": ["per_corruption", "mce"],
}


def _records(drop: frozenset[tuple[str, str]] = frozenset()) -> list[Record]:
    out = []
    for m in MODELS:
        if (m, "clean") not in drop:
            out.append(Record(m, "cifar10", "corruptions", "clean", "accuracy", CLEAN[m], 100, 0, 1, "k", {}))
        for i, c in enumerate(CORRUPTIONS):
            for j, s in enumerate(SEVERITIES):
                if (m, f"{c}@{s}") in drop:
                    continue
                tags = {"corruption": c, "severity": s, "signed": False}
                value = float(ACC[m][i, j])
                out.append(
                    Record(m, "cifar10", "corruptions", f"{c}@{s}", "accuracy", value, 100, 0, 1, "k", tags)
                )
    return out


def _hendrycks(model: str, base: str = "alexnet") -> tuple[float, float]:
    """mCE and relative mCE from the paper's definitions, on error arrays E[c, s] = 1 - accuracy."""
    e, eb = 1 - ACC[model], 1 - ACC[base]
    ce = e.sum(axis=1) / eb.sum(axis=1)
    rce = (e - (1 - CLEAN[model])).sum(axis=1) / (eb - (1 - CLEAN[base])).sum(axis=1)
    return float(ce.mean()), float(rce.mean())


def test_mce_and_relative_mce_match_the_paper_formulas() -> None:
    errors = corruption_errors(_records(), "alexnet")
    (table,) = SUMMARIES.get("mce")(_records(), ReportContext(MANIFEST))
    rows = dict(table.rows)
    for m in MODELS:
        mce, rmce = _hendrycks(m)
        assert errors[m].mce == pytest.approx(mce, rel=1e-12)
        assert errors[m].relative_mce == pytest.approx(rmce, rel=1e-12)
        assert rows[m][0].value == pytest.approx(100 * mce, rel=1e-12)
        assert rows[m][1].value == pytest.approx(100 * rmce, rel=1e-12)
    assert errors["alexnet"].mce == pytest.approx(1.0) and errors["alexnet"].relative_mce == pytest.approx(
        1.0
    )
    assert abs(errors["wide"].mce - 1.0) > 1e-3  # the others are not the baseline's 100


@pytest.mark.parametrize(
    "drop,message",
    [
        ({("resnet", "fog@3")}, "resnet lacks fog@3"),
        ({("resnet", "snow@1"), ("resnet", "snow@5")}, "resnet lacks snow@1, snow@5"),
        ({("wide", "clean")}, "wide lacks clean"),
        ({("alexnet", "clean")}, "alexnet lacks clean"),
        (
            {("alexnet", "jpeg_compression@2")},
            "alexnet (the baseline) lacks jpeg_compression@2 that resnet has",
        ),
    ],
)
def test_incomplete_models_are_refused_with_what_is_missing(drop, message) -> None:
    with pytest.raises(MissingResultError, match=message.replace("(", r"\(").replace(")", r"\)")):
        corruption_errors(_records(frozenset(drop)), "alexnet")
    assert issubclass(MissingResultError, FreqbenchError)


def test_baseline_without_corruptions_is_refused() -> None:
    recs = [r for r in _records() if r.model != "alexnet" or r.condition == "clean"]
    with pytest.raises(MissingResultError, match="alexnet: the baseline has no corruption accuracy records"):
        corruption_errors(recs, "alexnet")


def test_every_format_shows_the_refusal_and_still_renders_the_other_tables() -> None:
    recs = _records(frozenset({("resnet", "fog@3"), ("wide", "clean")}))
    md = to_markdown(recs, MANIFEST)
    assert "## mCE against alexnet" in md and "resnet lacks fog@3; wide lacks clean" in md
    assert "## accuracy per corruption (mean over severities)" in md and "## accuracy per condition" in md
    payload = json.loads(to_json(recs, MANIFEST))
    (mce,) = [t for t in payload["tables"] if t["title"] == "mCE against alexnet"]
    assert mce["columns"] == [] and "not computed" in mce["note"] and "resnet lacks fog@3" in mce["note"]
    tex = to_latex(recs, MANIFEST)
    assert "% mCE against alexnet: not computed" in tex and tex.count(r"\begin{tabular}") == 2
    console = Console(record=True, width=400)
    print_console(recs, MANIFEST, console=console)
    text = console.export_text()
    assert "mCE against alexnet: not computed" in text and "accuracy per corruption" in text
