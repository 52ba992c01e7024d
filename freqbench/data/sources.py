"""How a named dataset is found on disk: the search order and the per-format ``Source`` contract.

A dataset is searched for, in this order (issue 2, item 4):

1. the explicit root (``--data-root``, :attr:`DataRequest.root`);
2. the freqbench cache, ``$FREQBENCH_HOME/datasets/<name>/``;
3. known system locations (e.g. ``/usr/share/datasets/fashion-mnist/`` from the Debian package
   ``dataset-fashion-mnist``);
4. a download from the public source with a pinned checksum, into the cache, when the request allows it.

Where the data was found is recorded in :attr:`DatasetInfo.source`, so the choice is never silent.
Otherwise :class:`~freqbench.errors.MissingDataError` lists every path searched and the import command.

Files are checksummed when they enter the cache (download, import); reading from a root, the cache or
a system location validates the format (magic numbers, shapes, counts) but does not re-hash the files.
Entering the cache is all-or-nothing (:func:`~freqbench.store.files.staged_directory`): a download or
an import writes and verifies everything in a staging folder beside the cache folder and moves it in
only when all of it succeeded; a failure or Ctrl-C leaves the cache as it was.

``SOURCES`` maps a dataset name to its :class:`Source` (for ``freqbench data import`` and
``freqbench data ls``); ``DATASETS`` factories are built from them with :func:`source_factory`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from freqbench.data.base import ArrayDataset, DataRequest, DatasetFactory, DatasetInfo
from freqbench.data.cache import dataset_dir, missing_data_error
from freqbench.errors import ConfigError, MissingDataError
from freqbench.registry import Registry
from freqbench.store.download import download, verify
from freqbench.store.files import staged_directory

Report = Callable[[str], None]
"""Receives one human-readable line per file verified or copied (the CLI prints them)."""


class Source(ABC):
    """One on-disk format of one named dataset: find, download and import it.

    Attributes:
        name: dataset name (also the cache folder name).
        splits: splits it offers.
        classes: class names in label order.
        system_dirs: known system locations, searched after the cache.
        accepts: what ``freqbench data import NAME PATH`` accepts as PATH (for messages).
        replaces_whole: an import or download replaces the whole cache folder (files that only make
            sense together, such as a C folder's labels and corruptions) instead of adding its files
            to it (independent, individually pinned files such as the CIFAR batches).
    """

    name: str
    splits: tuple[str, ...] = ("test", "train")
    classes: tuple[str, ...] = ()
    system_dirs: tuple[Path, ...] = ()
    accepts: str = ""
    replaces_whole: bool = False

    @abstractmethod
    def find(self, folder: Path, split: str) -> Path | None:
        """The location (file or folder) of ``split`` inside ``folder``, or None."""

    @abstractmethod
    def expected(self, folder: Path, split: str) -> list[Path]:
        """Paths that would satisfy :meth:`find` in ``folder`` (for error messages)."""

    @abstractmethod
    def fetch(self, dest: Path, split: str, *, progress: bool = True) -> None:
        """Download ``split`` into the cache folder ``dest``, verified against pinned checksums.

        Raises:
            MissingDataError: no public source, or the download failed.
            ChecksumError: the download differs from the pinned checksum (nothing is kept).
        """

    @abstractmethod
    def import_from(self, path: Path, dest: Path, *, report: Report) -> list[Path]:
        """Verify the dataset at ``path`` (checksums of known files, format) and copy it into ``dest``.

        ``dest`` is a staging folder (:func:`import_into_cache` moves it into the cache afterwards), so
        an implementation may fail at any point without leaving anything behind.

        Returns:
            the files written under ``dest``.
        """


def fetch_archive(
    url: str,
    archive: Path,
    extract: Callable[[Path], list[Path]],
    *,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download a pinned archive to ``archive``, ``extract`` the files wanted from it, delete it."""
    download(url, archive, sha256=sha256, md5=md5, progress=progress)
    try:
        return extract(archive)
    finally:
        archive.unlink(missing_ok=True)


def import_archive(
    path: Path,
    extract: Callable[[Path], list[Path]],
    *,
    report: Report,
    what: str,
    sha256: str | None = None,
    md5: str | None = None,
) -> list[Path]:
    """Verify a user-supplied official archive against its pin, then ``extract`` from it into the cache."""
    verify(path, sha256=sha256, md5=md5)
    report(f"verified {path} ({'sha256' if sha256 else 'md5'} of {what})")
    written = extract(path)
    report(f"extracted {len(written)} verified files")
    return written


class ArraySource(Source):
    """A source whose split loads whole into memory as an :class:`ArrayDataset`."""

    @abstractmethod
    def load(self, location: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images (N, H, W, C) and int64 labels (N,) from a location :meth:`find` returned."""


SOURCES: Registry[Source] = Registry("dataset source")


@dataclass(frozen=True)
class Found:
    """Where a dataset split was found.

    Attributes:
        path: the file or folder the loader reads.
        origin: ``root``, ``cache``, ``system`` or ``download``.
    """

    path: Path
    origin: str


def import_into_cache(source: Source, paths: Sequence[Path], *, report: Report) -> list[Path]:
    """Verify ``paths`` as dataset ``source`` and move them into its cache folder, all or nothing.

    Everything is imported into a staging folder beside the cache folder first; only when every path
    was imported and verified is it committed (:func:`~freqbench.store.files.staged_directory`).

    Returns:
        the files written, as paths in the cache folder.

    Raises:
        MissingDataError: nothing of the dataset was found at ``paths``.
        ChecksumError, DataFormatError: from the source's verification (the cache is unchanged).
    """
    dest = dataset_dir(source.name)
    with staged_directory(dest, replace=source.replaces_whole) as staging:
        staged: list[Path] = []
        for path in paths:
            staged += source.import_from(Path(path).expanduser(), staging, report=report)
        if not staged:
            shown = ", ".join(str(p) for p in paths)
            raise MissingDataError(
                f"{shown}: nothing of dataset {source.name!r} was found to import ({source.accepts})"
            )
        written = [dest / p.relative_to(staging) for p in staged]
    report(f"installed {len(written)} verified files into {dest}")
    return written


def check_split(source: Source, split: str) -> None:
    if split not in source.splits:
        raise ConfigError(f"dataset {source.name!r} has splits {list(source.splits)}, got split {split!r}")


def search_folders(source: Source, request: DataRequest) -> list[tuple[Path, str]]:
    """The folders searched, in order, with their origin label."""
    folders: list[tuple[Path, str]] = []
    if request.root is not None:
        folders.append((Path(request.root).expanduser(), "root"))
    folders.append((dataset_dir(source.name), "cache"))
    folders += [(d, "system") for d in source.system_dirs]
    return folders


def locate(source: Source, request: DataRequest, *, progress: bool = True) -> Found:
    """Find ``request.split`` of ``source`` in search order, downloading into the cache if allowed.

    Raises:
        MissingDataError: not found anywhere and not downloadable (message lists every path searched).
        ChecksumError: a download did not match its pinned checksum.
    """
    check_split(source, request.split)
    looked_for: list[Path] = []
    for folder, origin in search_folders(source, request):
        found = source.find(folder, request.split)
        if found is not None:
            return Found(found, origin)
        looked_for += source.expected(folder, request.split)
    if not request.download:
        reason = "Downloads are disabled for this request."
    else:
        cache = dataset_dir(source.name)
        try:
            with staged_directory(cache, replace=source.replaces_whole) as staging:
                source.fetch(staging, request.split, progress=progress)
        except MissingDataError as exc:
            reason = f"Download failed: {exc}"
        else:
            found = source.find(cache, request.split)
            if found is None:  # a fetch that returns must have produced the files
                raise MissingDataError(
                    f"download of {source.name!r} finished but {source.expected(cache, request.split)} "
                    "is still missing; report this as a bug"
                )
            return Found(found, "download")
    raise missing_data_error(
        source.name, split=request.split, looked_for=looked_for, accepts=source.accepts, reason=reason
    )


def load_dataset(source: ArraySource, request: DataRequest) -> ArrayDataset:
    """Locate and load ``source`` as an :class:`ArrayDataset` in canonical order."""
    found = locate(source, request)
    images, labels = source.load(found.path, request.split)
    info = DatasetInfo(
        name=source.name,
        split=request.split,
        num_classes=len(source.classes),
        classes=source.classes,
        source=f"{found.path} ({found.origin})",
    )
    return ArrayDataset(info, images, labels)


def source_factory(source: ArraySource) -> DatasetFactory:
    """The ``DATASETS`` factory of a source."""

    def factory(request: DataRequest) -> ArrayDataset:
        return load_dataset(source, request)

    factory.__doc__ = f"Load dataset {source.name!r} (see freqbench.data.sources for the search order)."
    return factory


S = TypeVar("S", bound=Source)


def register_source(source: S) -> S:
    """Register ``source`` in ``SOURCES`` (import, ls); the caller registers its dataset factory."""
    SOURCES.register(source.name, source)
    return source
