"""The index of a run's plot files, ``RUN_DIR/plots/index.json``, readable without matplotlib.

:func:`freqbench.report.plots.write_plots` writes it last, after the PNG and SVG files, so that
report.md can link the plots (their titles and captions) without drawing them again:
``{"plots": [{"name": ..., "title": ..., "caption": ...}, ...]}`` in drawing order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from freqbench.errors import StoreError
from freqbench.store.run import atomic_write_bytes

PLOTS_DIR = "plots"
INDEX = "index.json"


@dataclass(frozen=True)
class PlotEntry:
    """A written plot: files ``plots/<name>.png`` and ``.svg``, its title and how to read it."""

    name: str
    title: str
    caption: str = ""


def write_index(root: Path, entries: Sequence[PlotEntry]) -> None:
    """Write ``RUN_DIR/plots/index.json`` (atomically)."""
    blob = json.dumps({"plots": [asdict(e) for e in entries]}, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(Path(root) / PLOTS_DIR / INDEX, blob.encode())


def written_plots(root: Path | str) -> list[PlotEntry]:
    """The indexed plots whose PNG is on disk (none when the run has no plots yet).

    Raises:
        StoreError: the index exists but is not one freqbench wrote.
    """
    path = Path(root) / PLOTS_DIR / INDEX
    if not path.is_file():
        return []
    fix = f"; rebuild the plots with `freqbench report {root} --plots`"
    try:
        data = json.loads(path.read_bytes())
        entries = [
            PlotEntry(str(e["name"]), str(e["title"]), str(e.get("caption", ""))) for e in data["plots"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StoreError(f"{path} is not a freqbench plot index ({e}){fix}") from e
    return [e for e in entries if (path.parent / f"{e.name}.png").is_file()]


__all__ = ["INDEX", "PLOTS_DIR", "PlotEntry", "write_index", "written_plots"]
