"""Every file or folder of the repository that the READMEs name exists (a renamed baseline, weight file
or script must take its README mentions along)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = ["README.md", "reports/README.md", "freqbench/models/weights/README.md", "benchmarks/README.md"]
_PATH = re.compile(r"(?<![\w/.$-])((?:freqbench|reports|tests|benchmarks|scripts|\.ci)/[\w./<>-]*)")


def _named(readme: Path) -> list[str]:
    found = [m.rstrip(".,;:)") for m in _PATH.findall(readme.read_text())]
    return sorted({p for p in found if "<" not in p and not p.endswith("/...")})  # templates name no file


@pytest.mark.parametrize("readme", [r for r in READMES if (ROOT / r).is_file()])
def test_every_repository_path_a_readme_names_exists(readme: str) -> None:
    base = ROOT / readme
    named = _named(base)
    # paths in a README below the root may be relative to its own folder
    missing = [p for p in named if not (ROOT / p).exists() and not (base.parent / p).exists()]
    assert named or readme != "README.md"
    assert missing == [], f"{readme} names paths that do not exist: {missing}"
