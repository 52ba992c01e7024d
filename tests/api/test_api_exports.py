"""The top-level exports: lazy, light, and the README's Python API example runs as written.

``import freqbench`` must not import torch (checked in a fresh interpreter, where nothing else has
imported it yet); ``freqbench.evaluate`` and the other exports resolve on first use to the facade's
objects. The docstring examples of the modules behind the exports and the README's "Python API"
section run with :mod:`doctest`.
"""

from __future__ import annotations

import doctest
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

import freqbench

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

README = Path(__file__).resolve().parents[2] / "README.md"

_PROBE = """
import json, sys
import freqbench
seen = {"after import": "torch" in sys.modules}
for name in ("read_run", "RunConfig", "SuiteOptions", "__version__"):
    getattr(freqbench, name)
seen["after torch-free exports"] = "torch" in sys.modules
import freqbench.api
seen["evaluate is api.evaluate"] = freqbench.evaluate is freqbench.api.evaluate
seen["load_model is api.load_model"] = freqbench.load_model is freqbench.api.load_model
seen["list_models is api.list_models"] = freqbench.list_models is freqbench.api.list_models
seen["after evaluate"] = "torch" in sys.modules
print(json.dumps(seen))
"""


def test_import_is_light_and_exports_resolve_in_a_fresh_interpreter() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "after import": False,
        "after torch-free exports": False,
        "evaluate is api.evaluate": True,
        "load_model is api.load_model": True,
        "list_models is api.list_models": True,
        "after evaluate": True,
    }


def test_unknown_names_and_submodules() -> None:
    with pytest.raises(AttributeError, match="module 'freqbench' has no attribute 'nope'"):
        freqbench.nope  # noqa: B018
    from freqbench import api, config  # submodules still import as submodules

    assert freqbench.RunConfig is config.RunConfig and freqbench.evaluate is api.evaluate
    assert set(freqbench.__all__) <= set(dir(freqbench))
    assert freqbench.read_run.__module__ == "freqbench.report.frame"


@pytest.mark.parametrize("module", ["freqbench", "freqbench.report.frame", "freqbench.models.in_memory"])
def test_docstring_examples_run(module: str) -> None:
    mod = __import__(module, fromlist=["_"])
    assert isinstance(mod, ModuleType)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def _python_api_section() -> str:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Python API\n(.*?)^## ", text, flags=re.S | re.M)
    assert section is not None, "README.md has no '## Python API' section"
    blocks = re.findall(r"```pycon\n(.*?)```", section[1], flags=re.S)
    assert len(blocks) == 1
    return str(blocks[0])


@pytest.mark.real
def test_readme_python_api_example_runs(
    real_data: RealData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_data.fashion_mnist()  # Debian's Fashion-MNIST test set, which the example evaluates on
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # out=None: its temporary run lands here
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(_python_api_section(), {}, "README.md", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 10 and result.failed == 0
    assert len(list(tmp_path.glob("freqbench-*/manifest.json"))) == 1  # the run of out=None
