"""Tables from records only: summaries against hand-computed formulas, markdown/CSV/JSON shape."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from freqbench.report.render import to_csv, to_json, to_markdown
from freqbench.report.summaries import SUMMARIES
from freqbench.report.tables import ReportContext
from freqbench.store.run import Record

CORR = ("fog", "snow")
RNG = np.random.default_rng(0)
ACC = {m: {(c, s): float(RNG.uniform(0.3, 0.9)) for c in CORR for s in (1, 2, 3)} for m in ("base", "net")}
CLEAN = {"base": 0.92, "net": 0.95}


def _records() -> list[Record]:
    out = []
    for m in ("base", "net"):
        out.append(Record(m, "cifar10", "corruptions", "clean", "accuracy", CLEAN[m], 100, 0, 1, f"{m}c", {}))
        for (c, s), v in ACC[m].items():
            tags = {"corruption": c, "severity": s}
            out.append(
                Record(m, "cifar10", "corruptions", f"{c}@{s}", "accuracy", v, 100, 0, 1, f"{m}{c}{s}", tags)
            )
    return out


MANIFEST = {
    "freqbench_version": "9.9.9",
    "config": {"limit": 100, "split": "test", "seed": 0, "options": {"baseline": "base"}},
    "suites": {"corruptions": 1},
    "summaries": ["mean_accuracy", "per_corruption", "per_severity", "mce"],
    "device": "cpu",
}


def test_per_corruption_and_severity_means() -> None:
    ctx = ReportContext(MANIFEST)
    (t,) = SUMMARIES.get("per_corruption")(_records(), ctx)
    row = dict(t.rows)["net"]
    assert t.columns == ("clean", "fog", "snow", "mean")
    assert row[1].value == pytest.approx(100 * np.mean([ACC["net"][("fog", s)] for s in (1, 2, 3)]))
    assert row[3].value == pytest.approx(100 * np.mean(list(ACC["net"].values())))
    (t,) = SUMMARIES.get("per_severity")(_records(), ctx)
    assert dict(t.rows)["base"][2].value == pytest.approx(100 * np.mean([ACC["base"][(c, 2)] for c in CORR]))


def test_mce_against_formula() -> None:
    (t,) = SUMMARIES.get("mce")(_records(), ReportContext(MANIFEST))
    ce, rce = [], []
    for c in CORR:
        e = [1 - ACC["net"][(c, s)] for s in (1, 2, 3)]
        eb = [1 - ACC["base"][(c, s)] for s in (1, 2, 3)]
        ce.append(sum(e) / sum(eb))
        rce.append(sum(x - (1 - CLEAN["net"]) for x in e) / sum(x - (1 - CLEAN["base"]) for x in eb))
    net = dict(t.rows)["net"]
    assert net[0].value == pytest.approx(100 * np.mean(ce)) and net[1].value == pytest.approx(
        100 * np.mean(rce)
    )
    assert dict(t.rows)["base"][0].value == pytest.approx(100.0)


def test_mce_needs_an_explicit_baseline() -> None:
    no_base = {**MANIFEST, "config": {**MANIFEST["config"], "options": {}}}
    assert SUMMARIES.get("mce")(_records(), ReportContext(no_base)) == []
    other = {**MANIFEST, "config": {**MANIFEST["config"], "options": {"baseline": "alexnet"}}}
    (t,) = SUMMARIES.get("mce")(_records(), ReportContext(other))
    assert "not among the models" in t.note


def test_markdown_header_and_tables() -> None:
    md = to_markdown(_records(), MANIFEST)
    for text in (
        "cifar10 (test)",
        "fixed 100-sample subset",
        "corruptions v1",
        "**freqbench**: 9.9.9",
        "## mCE against base",
    ):
        assert text in md
    assert "| `net` |" in md


def test_csv_and_json_round_trip() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(_records(), MANIFEST))))
    assert rows[0][:3] == ["model", "clean", "fog@1"]
    assert float(rows[2][2]) == pytest.approx(100 * ACC["net"][("fog", 1)], abs=1e-4)
    payload = json.loads(to_json(_records(), MANIFEST))
    assert len(payload["records"]) == 14 and payload["header"]["suite"] == "corruptions v1"


def test_report_layer_does_not_import_torch() -> None:
    code = "import sys, freqbench.report.render, freqbench.store.run; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_latex_tables_are_escaped_booktabs() -> None:
    from freqbench.report.render import to_latex

    tex = to_latex(_records(), MANIFEST)
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 5
    assert r"per corruption" in tex and r"\%" in tex
    row = next(line for line in tex.splitlines() if line.startswith("net & ") and "fog@1" not in line)
    assert row.endswith(r"\\") and "_" not in row.replace(r"\_", "")
