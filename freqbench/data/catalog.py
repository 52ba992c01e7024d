"""What ``freqbench data ls`` and ``freqbench data import`` do: where each dataset is, and importing one.

``list_datasets()`` reports, per registered named dataset and split, where it would be read from right
now (root / cache / system location) or that it is missing, without downloading anything.
``import_dataset(name, path)`` verifies a local copy (pinned checksums for known files, format
otherwise) and copies it into the cache, ``$FREQBENCH_HOME/datasets/<name>/``, all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from freqbench.data.base import DataRequest
from freqbench.data.cache import dataset_dir, import_command
from freqbench.data.sources import SOURCES, Report, import_into_cache, locate
from freqbench.errors import MissingDataError


@dataclass(frozen=True)
class DatasetStatus:
    """Where one split of a named dataset is found now.

    Attributes:
        name: dataset name.
        split: split.
        path: the file or folder that would be read, or None when missing.
        origin: ``root``, ``cache``, ``system``, or ``missing``.
        hint: for a missing dataset, the command that provides it.
    """

    name: str
    split: str
    path: Path | None
    origin: str
    hint: str = ""


def list_datasets(*, root: Path | None = None) -> list[DatasetStatus]:
    """Status of every split of every named dataset (``imagefolder:`` paths are not listed)."""
    statuses = []
    for name in SOURCES.names():
        source = SOURCES.get(name)
        for split in source.splits:
            try:
                found = locate(source, DataRequest(split=split, root=root, download=False))
            except MissingDataError:
                statuses.append(DatasetStatus(name, split, None, "missing", import_command(name)))
            else:
                statuses.append(DatasetStatus(name, split, found.path, found.origin))
    return statuses


def import_dataset(name: str, path: Path | Sequence[Path], *, report: Report | None = None) -> Path:
    """Verify the dataset ``name`` at ``path`` and copy it into the cache, all or nothing.

    Args:
        name: a registered dataset (or C dataset) name, e.g. ``cifar10``, ``fashion_mnist``, ``cifar10c``.
        path: an official archive, a folder holding the files, or (IDX datasets) the files themselves;
            several paths are imported together (see each dataset's ``accepts``).
        report: receives one line per verified or copied file (the CLI prints them).

    Returns:
        the dataset's cache folder.

    Raises:
        UnknownNameError: ``name`` is not a named dataset.
        MissingDataError: ``path`` does not hold the dataset.
        ChecksumError: a known file has the wrong checksum.
        DataFormatError: a file is not in the dataset's format.

    On any error (``KeyboardInterrupt`` included) the cache is left exactly as it was.
    """
    source = SOURCES.get(name)
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    import_into_cache(source, paths, report=report or (lambda _line: None))
    return dataset_dir(name)
