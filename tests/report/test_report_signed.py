"""Signed conditions (high-pass, band-pass, residual) are marked in every report format.

The mark comes from the records' ``signed`` tag, which the engine sets from ``Perturbation.signed``.
"""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console

from freqbench.report.render import print_console, to_csv, to_json, to_latex, to_markdown
from freqbench.report.tables import SIGNED_NOTE
from freqbench.store.run import Record

CONDITIONS = {  # key -> (group, signed, accuracy)
    "low_pass_ideal@r=4": ("low_pass_ideal", False, 0.6),
    "high_pass_ideal@r=4": ("high_pass_ideal", True, 0.2),
    "gaussian_residual@sigma=2": ("gaussian_residual", True, 0.15),
}
MANIFEST = {
    "config": {"seed": 0, "options": {}},
    "suites": {"frequency": 1},
    "summaries": ["per_group", "mean_accuracy"],
}


def _records() -> list[Record]:
    out = [
        Record("m", "cifar10", "frequency", "clean", "accuracy", 0.9, 10, 0.6, 0.98, "c", {"signed": False})
    ]
    for key, (group, signed, acc) in CONDITIONS.items():
        tags = {"group": group, "signed": signed}
        out.append(Record("m", "cifar10", "frequency", key, "accuracy", acc, 10, 0.0, 1.0, key, tags))
    return out


def test_markdown_marks_signed_columns_groups_and_says_why() -> None:
    md = to_markdown(_records(), MANIFEST)
    assert "## high_pass_ideal: accuracy [signed] (%)" in md
    assert "## gaussian_residual: accuracy [signed] (%)" in md
    assert "## low_pass_ideal: accuracy (%)" in md
    header = next(line for line in md.splitlines() if line.startswith("| model | clean | low_pass"))
    assert header.split(" | ")[2:] == [
        "low_pass_ideal@r=4",
        "high_pass_ideal@r=4 [signed]",
        "gaussian_residual@sigma=2 [signed] |",
    ]
    assert SIGNED_NOTE in md
    assert "2 of them signed" in md  # the mean over conditions says it mixes signed ones


def test_csv_marks_signed_columns() -> None:
    header = next(csv.reader(io.StringIO(to_csv(_records(), MANIFEST))))
    assert header == [
        "model",
        "clean",
        "low_pass_ideal@r=4",
        "high_pass_ideal@r=4 [signed]",
        "gaussian_residual@sigma=2 [signed]",
    ]


def test_json_marks_tables_and_keeps_the_tag() -> None:
    payload = json.loads(to_json(_records(), MANIFEST))
    detail = payload["tables"][-1]
    assert detail["columns"][2:] == ["high_pass_ideal@r=4 [signed]", "gaussian_residual@sigma=2 [signed]"]
    assert detail["note"] == SIGNED_NOTE
    titles = [t["title"] for t in payload["tables"]]
    assert "high_pass_ideal: accuracy [signed]" in titles and "low_pass_ideal: accuracy" in titles
    signed = {r["condition"] for r in payload["records"] if r["tags"]["signed"]}
    assert signed == {"high_pass_ideal@r=4", "gaussian_residual@sigma=2"}


def test_latex_marks_signed_columns() -> None:
    tex = to_latex(_records(), MANIFEST)
    header = next(line for line in tex.splitlines() if line.startswith("model & clean & low"))
    assert header == (
        r"model & clean & low\_pass\_ideal@r=4 & high\_pass\_ideal@r=4 [signed] & "
        r"gaussian\_residual@sigma=2 [signed] \\"
    )
    assert r"% high\_pass\_ideal: accuracy [signed] (\%)" in tex
    assert f"% {SIGNED_NOTE}" in tex


def test_console_shows_the_mark_not_a_style() -> None:
    console = Console(record=True, width=300)
    print_console(_records(), MANIFEST, console=console, details=True)
    text = console.export_text()
    assert "high_pass_ideal: accuracy [signed]" in text and "high_pass_ideal@r=4 [signed]" in text
    assert "low_pass_ideal: accuracy (%)" in text and "low_pass_ideal@r=4 [signed]" not in text
    assert SIGNED_NOTE.split(" (")[0] in text


def test_unsigned_reports_carry_no_mark() -> None:
    recs = [r for r in _records() if not r.tags["signed"]]
    for render in (to_markdown, to_csv, to_json, to_latex):
        assert "[signed]" not in render(recs, MANIFEST), render.__name__
