"""The HTML report: one self-contained page that parses, embeds every plot and shows the tables' numbers.

Built from the hand-made run of ``_plot_store.py``; the numbers looked for are the fixture's known
accuracies, the embedded plots are compared byte for byte with the SVG files ``write_plots`` wrote.
The page is also opened in a real headless browser when Debian's chromium is installed.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from _plot_store import ACCURACY, CONDITIONS, MODELS, PLOT_NAMES, PlotStore, Written, build_store
from PIL import Image

from freqbench.report.render import Format, render_run

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}
BROWSERS = ("chromium", "chromium-browser", "chromium-headless-shell")


class Page(HTMLParser):
    """What the tests look at: tag nesting, image attributes, cell texts, links, every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.cells: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        for name in ("href", "src"):
            if a.get(name):
                self.links.append(str(a[name]))
        if tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture
def run(written: Written) -> PlotStore:
    return written.run


@pytest.fixture(scope="module")
def page_text(written: Written) -> str:
    return render_run(written.run.root, Format.HTML)


def test_page_parses_and_embeds_every_plot(run: PlotStore, page_text: str) -> None:
    page = _parse(page_text)
    assert page_text.startswith("<!DOCTYPE html>")
    assert not page.errors and not page.stack, (page.errors, page.stack)
    written = sorted((run.root / "plots").glob("*.svg"))
    assert len(written) == len(PLOT_NAMES)
    assert len(page.images) == len(written)  # one <img> per plot, nothing else
    embedded = []
    for img in page.images:
        src = str(img["src"])
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1])
        assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
        assert img["alt"]
        embedded.append(svg)
    # the very SVG files on disk, in drawing order
    assert embedded == [(run.root / "plots" / f"{n}.svg").read_bytes() for n in PLOT_NAMES]


def test_page_needs_no_network_and_no_script(page_text: str) -> None:
    page = _parse(page_text)
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert all(u.startswith(("#", "data:")) for u in page.links), [u[:40] for u in page.links]
    assert "http://" not in page_text.replace("http://www.w3.org", "")
    assert "https://" not in page_text and "url(" not in page_text.split("</style>")[0]


def test_page_shows_the_tables_numbers(page_text: str) -> None:
    cells = _parse(page_text).cells
    # the per-condition table: every stored accuracy of every model, in percent with two digits
    for (model, key), acc in ACCURACY.items():
        assert f"{100 * acc:.2f}" in cells, (model, key)
    assert set(MODELS) <= set(cells)
    columns = {c.key + (" [signed]" if signed else "") for _, c, signed in CONDITIONS}
    assert columns <= set(cells)  # the per-condition table's header
    # a summary: the mean over the non-clean conditions (mean_accuracy), computed here
    for model in MODELS:
        mean = np.mean([a for (m, k), a in ACCURACY.items() if m == model and k != "clean"])
        assert f"{100 * mean:.2f}" in cells
    for heading in ("summaries", "plots", "details"):
        assert f'<section id="{heading}"><h2>{heading}</h2>' in page_text
    assert "[signed]" in page_text  # the note reaches the page


def test_page_without_plots_is_tables_only(tmp_path: Path) -> None:
    ps = build_store(tmp_path / "run")
    ps.store.write_manifest({**ps.store.read_manifest(), "summaries": ["mean_accuracy"]})
    page = _parse(render_run(ps.root, "html"))
    assert page.images == [] and '<section id="plots">' not in render_run(ps.root, "html")
    assert f"{100 * ACCURACY[(MODELS[0], 'clean')]:.2f}" in page.cells


def test_cli_writes_the_page_without_torch(run: PlotStore, tmp_path: Path) -> None:
    """`freqbench report DIR --format html` in a fresh process imports no torch, and the plots it
    embeds are byte-identical to the SVG files written in this process (another hash seed)."""
    code = (
        "import sys\n"
        "from freqbench.cli.main import app\n"
        "try:\n"
        f"    app(['report', {str(run.root)!r}, '--format', 'html', '-o', {str(tmp_path / 'r.html')!r}])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr
    assert f"report: {tmp_path / 'r.html'}" in out.stderr
    images = _parse((tmp_path / "r.html").read_text()).images
    embedded = [base64.b64decode(str(img["src"]).split(",", 1)[1]) for img in images]
    assert embedded == [(run.root / "plots" / f"{n}.svg").read_bytes() for n in PLOT_NAMES]


def test_cli_report_plots_flag_and_default_html_path(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from freqbench.cli.main import app

    ps = build_store(tmp_path / "run")
    ps.store.write_manifest({**ps.store.read_manifest(), "summaries": ["accuracy_vs_eps"]})
    res = CliRunner().invoke(app, ["report", str(ps.root), "--format", "html", "--plots"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (ps.root / "plots").iterdir()) == [
        "accuracy_vs_eps-cifar10.png",
        "accuracy_vs_eps-cifar10.svg",
        "index.json",
    ]
    page = _parse((ps.root / "report.html").read_text())  # the default place of the page
    assert len(page.images) == 1
    md = CliRunner().invoke(app, ["report", str(ps.root), "--format", "md"])
    assert "](plots/accuracy_vs_eps-cifar10.png)" in md.stdout


def _browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def test_page_renders_in_a_headless_browser(page_text: str, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip(
            f"no headless browser: none of {', '.join(BROWSERS)} is on PATH (Debian: "
            "`apt-get install chromium`); the page is still checked by parsing it"
        )
    html = tmp_path / "report.html"
    html.write_text(page_text, encoding="utf-8")
    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",  # as root in containers
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,4000",
        f"--screenshot={shot}",
        html.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    with Image.open(shot) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert rgb.shape[:2] == (4000, 1280)
    dark = (rgb.max(axis=2) < 100).mean()  # text and table rules
    coloured = ((rgb.max(axis=2) - rgb.min(axis=2)) > 80).sum()  # the plots' lines
    assert dark > 0.001, "the screenshot is blank"
    assert coloured > 2000, "no plot was drawn (no coloured pixels)"
