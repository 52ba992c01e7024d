"""What ``freqbench data ls`` and ``freqbench data import`` do: where each dataset is, and importing one.

``list_datasets()`` reports, per registered named dataset and split, where it would be read from right
now (root / cache / system location) or that it is missing, without downloading anything.
``import_dataset(name, path)`` verifies a local copy (pinned checksums for known files, format
otherwise) and copies it into the cache, ``$FREQBENCH_HOME/datasets/<name>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freqbench.data.base import DATASETS, DataRequest
from freqbench.data.cache import dataset_dir, import_command
from freqbench.data.sources import SOURCES, Report, locate
from freqbench.errors import MissingDataError


def _load_sources() -> None:
    # the loader modules register their sources when DATASETS imports them
    DATASETS.names()


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
    _load_sources()
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


def import_dataset(name: str, path: Path, *, report: Report | None = None) -> Path:
    """Verify the dataset ``name`` at ``path`` and copy it into the cache.

    Args:
        name: a registered dataset (or replay) name, e.g. ``cifar10``, ``fashion_mnist``, ``cifar10c``.
        path: an official archive or a folder holding the files (see each dataset's ``accepts``).
        report: receives one line per verified or copied file (the CLI prints them).

    Returns:
        the dataset's cache folder.

    Raises:
        UnknownNameError: ``name`` is not a named dataset.
        MissingDataError: ``path`` does not hold the dataset.
        ChecksumError: a known file has the wrong checksum (nothing of it is copied).
        DataFormatError: a file is not in the dataset's format.
    """
    _load_sources()
    source = SOURCES.get(name)
    dest = dataset_dir(name)
    written = source.import_from(Path(path).expanduser(), dest, report=report or (lambda _line: None))
    if not written:
        raise MissingDataError(f"{path}: nothing of dataset {name!r} was found to import ({source.accepts})")
    return dest
