"""The CI rule of ``tests/conftest.py``: with ``FREQBENCH_REQUIRE_REAL=1`` a real test fails, never skips.

Each check runs pytest in a subprocess, as CI does (``.ci/run`` exports the variable, ``scripts/setup
test`` runs pytest), and reads the outcomes from its JUnit XML:

* one real test of the suite with the shared data made invisible (``FREQBENCH_SHARED_DATA`` pointing at
  an empty folder) fails, naming the file it misses;
* in a scratch folder holding a copy of the conftest, real tests that skip for other reasons (a
  ``pytest.skip``, a ``skipif``, a module that skips while importing) fail, while a skip of a test not
  marked real stays a skip (and all of them skip without the flag);
* a test that reads real data through the fixture without the ``real`` mark is a usage error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_TEST = "tests/data/test_data_real.py::test_cifar10_jpeg_test_archive"
FAILED = ("failure", "error")  # JUnit: a failure in the call, an error in setup or collection


def _pytest(args: list[str], *, cwd: Path, xml: Path, require: bool, shared: Path | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREQBENCH_")}
    env.update(FREQBENCH_HOME=str(xml.parent / "home"), OMP_NUM_THREADS="1")
    if require:
        env["FREQBENCH_REQUIRE_REAL"] = "1"
    if shared is not None:
        env["FREQBENCH_SHARED_DATA"] = str(shared)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120).returncode


def _outcomes(xml: Path) -> dict[str, tuple[str, str]]:
    """``name -> (outcome, message)`` for every test case (collection errors under the module's name)."""
    out = {}
    for case in ET.parse(xml).iter("testcase"):
        name = case.get("name") or case.get("classname") or ""
        children = [c for c in case if c.tag in ("failure", "error", "skipped")]
        out[name] = (children[0].tag, children[0].get("message") or "") if children else ("passed", "")
    return out


def test_a_real_test_fails_without_the_shared_data_in_ci(tmp_path: Path) -> None:
    empty = tmp_path / "no-shared-data"
    empty.mkdir()
    xml = tmp_path / "required.xml"
    assert _pytest([REAL_TEST], cwd=ROOT, xml=xml, require=True, shared=empty) == 1
    outcome, message = _outcomes(xml)["test_cifar10_jpeg_test_archive"]
    assert outcome == "failure"
    assert f"real data absent: {empty / 'cifar10-jpeg' / 'test.tar.gz'}" in message


SKIPS = """
import pytest


@pytest.mark.real
def test_real_skips_itself():
    pytest.skip("some other reason")


@pytest.mark.real
@pytest.mark.skipif(True, reason="a skipif")
def test_real_skipif():
    pass


def test_plain_skip():
    pytest.skip("not real")
"""
MODULE_SKIP = """
import pytest

pytest.importorskip("no_such_module_anywhere")


@pytest.mark.real
def test_never_collected():
    pass
"""
UNMARKED = """
def test_reads_real_data_unmarked(real_data):
    pass
"""


def _scratch(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", root / "conftest.py")
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    real: reads real data\n")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def test_real_tests_skipping_for_other_reasons_fail_in_ci(tmp_path: Path) -> None:
    scratch = _scratch(tmp_path / "scratch", {"test_skips.py": SKIPS, "test_module_skip.py": MODULE_SKIP})
    args = ["--continue-on-collection-errors", "."]
    xml = tmp_path / "required.xml"
    assert _pytest(args, cwd=scratch, xml=xml, require=True, shared=tmp_path / "nowhere") == 1
    got = _outcomes(xml)
    assert got["test_real_skips_itself"][0] in FAILED
    assert "some other reason" in got["test_real_skips_itself"][1]
    assert got["test_real_skipif"][0] in FAILED and "a skipif" in got["test_real_skipif"][1]
    assert got["test_plain_skip"][0] == "skipped"
    assert [v[0] for k, v in got.items() if "module_skip" in k] == ["error"]  # collection error

    xml = tmp_path / "optional.xml"
    assert _pytest(args, cwd=scratch, xml=xml, require=False, shared=tmp_path / "nowhere") == 0
    assert {v[0] for v in _outcomes(xml).values()} == {"skipped"}


def test_reading_real_data_without_the_mark_is_a_usage_error(tmp_path: Path) -> None:
    scratch = _scratch(tmp_path / "scratch", {"test_unmarked.py": UNMARKED})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "test_reads_real_data_unmarked" in result.stderr + result.stdout
