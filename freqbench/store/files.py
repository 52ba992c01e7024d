"""Atomic file writing: the one rule every file freqbench writes follows, in every layer.

A file appears under its final name complete or not at all. It is written to a temporary sibling with a
unique name (``NAME.<pid>.<random>.tmp``, in the destination folder, so the rename never crosses a file
system and two writers never share one temporary file), flushed to disk (``fsync``), renamed onto the
destination (:func:`os.replace`, atomic on POSIX) and the folder's entry is flushed too. On any failure,
``KeyboardInterrupt`` included, the temporary file is removed and the destination is untouched.

Files get the mode a plain ``open()`` would give (:func:`default_mode`: ``0o666`` less the umask), not
``mkstemp``'s private ``0600``, so results, caches and checkpoints read like any other file.

Folders are written all-or-nothing with :func:`staged_directory` (a staging folder beside the
destination, committed by renames).

These helpers raise plain :class:`OSError`; each caller turns it into its own typed error (the run
store into :class:`~freqbench.errors.StoreError`, the data cache into
:class:`~freqbench.errors.MissingDataError`...). Torch-free and used by every layer above ``store``
(data files, model weights, training checkpoints, attack state, run directories).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

#: the suffix of every temporary file (what a recovery sweeps up with :func:`stale_temporaries`)
TMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask (read from ``/proc`` where possible, so it is never changed even briefly)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(*, directory: bool = False) -> int:
    """The mode ``open()`` / ``mkdir()`` would give a new file or folder: 0o666 / 0o777 less the umask.

    ``tempfile.mkstemp`` and ``mkdtemp`` create private (0600 / 0700) entries; files renamed from them
    get this mode instead, so they read like any other file.
    """
    return (0o777 if directory else 0o666) & ~current_umask()


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_sibling(dest: Path) -> Path:
    """Create an empty, uniquely named temporary file next to ``dest`` (mode :func:`default_mode`).

    The name is ``DEST_NAME.<pid>.<random>.tmp``: the pid says which process left it, the random part
    keeps two writers of one folder apart.

    Raises:
        OSError: the folder does not exist or cannot be written.
    """
    dest = Path(dest)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f"{dest.name}.{os.getpid()}.", suffix=TMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, default_mode())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit_file(tmp: Path, dest: Path) -> None:
    """Flush ``tmp`` to disk, rename it onto ``dest`` and flush the folder's entry.

    Raises:
        OSError: the flush or the rename failed (``tmp`` is left for the caller to remove).
    """
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    fsync_dir(Path(dest).parent)


def stale_temporaries(folder: Path, name: str = "*") -> list[Path]:
    """Temporary files left in ``folder`` by killed writers of ``name`` (fnmatch; ``*``: any file)."""
    return sorted(Path(folder).glob(f"{name}.*{TMP_SUFFIX}"))


@contextmanager
def atomic_destination(dest: Path, *, parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; commit it onto ``dest`` only if the block succeeds.

    The block writes the temporary file by path (any writer: ``np.save``, ``torch.save``, a memory map,
    a copy). On success it is flushed and renamed onto ``dest`` (:func:`commit_file`); on any error,
    ``KeyboardInterrupt`` included, it is removed and ``dest`` is untouched.

    Args:
        dest: the final path.
        parents: create ``dest``'s missing folders first (otherwise a missing folder is an error).

    Raises:
        OSError: the temporary file cannot be created, flushed or renamed.
    """
    dest = Path(dest)
    if parents:
        dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(dest)
    try:
        yield tmp
        commit_file(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_via(dest: Path, writer: Callable[[BinaryIO], object], *, parents: bool = False) -> None:
    """Write ``dest`` atomically through ``writer``, called with the temporary file open for ``wb``.

    Example:
        >>> import json, tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> atomic_write_via(folder / "a.json", lambda f: f.write(json.dumps({"a": 1}).encode()))
        >>> (folder / "a.json").read_text()
        '{"a": 1}'

    Raises:
        OSError: the write failed; ``dest`` is unchanged and no temporary file is left.
    """
    with atomic_destination(dest, parents=parents) as tmp:
        with open(tmp, "wb") as f:
            writer(f)


def atomic_write_bytes(dest: Path, data: bytes, *, parents: bool = False) -> None:
    """Write ``data`` to ``dest`` atomically (:func:`atomic_destination`).

    Raises:
        OSError: the write failed; ``dest`` is unchanged and no temporary file is left.
    """
    atomic_write_via(dest, lambda f: f.write(data), parents=parents)


@contextmanager
def staged_directory(dest: Path, *, replace: bool = False) -> Iterator[Path]:
    """All-or-nothing writing of a folder: yield an empty staging folder beside ``dest``, commit on success.

    The block writes (and verifies) everything into the staging folder (a hidden sibling of ``dest``,
    on the same file system). Only when the block succeeds is the content moved onto ``dest``; on any
    failure, ``KeyboardInterrupt`` included, the staging folder is removed and ``dest`` is untouched.

    Committing: when ``dest`` does not exist, the staging folder is renamed onto it (one atomic rename).
    Otherwise, with ``replace=False`` every staged file replaces the file at the same relative path in
    ``dest`` (one atomic rename each; files the block did not write are kept), and with ``replace=True``
    ``dest`` as a whole is replaced (renamed aside, the staging folder renamed in, the old one removed).

    Args:
        dest: the folder to fill.
        replace: replace ``dest`` whole instead of merging file by file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".staging", dir=dest.parent))
    try:
        os.chmod(staging, default_mode(directory=True))
        yield staging
        _commit_directory(staging, dest, replace=replace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit_directory(staging: Path, dest: Path, *, replace: bool) -> None:
    if not dest.exists():
        os.rename(staging, dest)
        return
    if replace:
        aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
        os.rmdir(aside)  # only the unique name is wanted
        os.rename(dest, aside)
        try:
            os.rename(staging, dest)
        except BaseException:
            os.rename(aside, dest)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    for src in sorted(p for p in staging.rglob("*") if not p.is_dir()):
        target = dest / src.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, target)
