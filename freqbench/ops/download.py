"""Cache paths, checksums and verified, atomic downloads; shared by datasets and model weights.

Torch-free and generic, so both ``freqbench.data`` and ``freqbench.models`` (siblings that must not
import each other) use the same rules: every file that enters the cache is checked against a pinned
checksum *before* it appears under its final name (written to a temporary file in the destination
folder, then renamed), so an interrupted or corrupted transfer never leaves a plausible-looking file.

Layout of the cache (``$FREQBENCH_HOME``, default ``~/.cache/freqbench``)::

    datasets/<name>/...     dataset files (see freqbench.data)
    weights/...             pretrained weights (see freqbench.models)

Checksums are sha256 wherever the upstream publishes one (or we pinned one ourselves); md5 is accepted
only for upstream files whose publisher gives nothing stronger (the CIFAR and MNIST archives).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tqdm import tqdm

from freqbench.config import freqbench_home
from freqbench.errors import ChecksumError, ConfigError, MissingDataError

_CHUNK = 1 << 20

Opener = Callable[[str], IO[bytes]]
"""Opens a URL and returns a readable binary stream (``urllib.request.urlopen`` by default)."""


def cache_dir(*parts: str) -> Path:
    """A folder inside the freqbench cache (not created): ``cache_dir("weights")``."""
    return freqbench_home().joinpath(*parts)


def weights_dir() -> Path:
    """Where pretrained weights are cached: ``$FREQBENCH_HOME/weights``."""
    return cache_dir("weights")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file."""
    return file_digest(path, "sha256")


def _expected(sha256: str | None, md5: str | None) -> tuple[str, str]:
    if sha256 is not None:
        return "sha256", sha256.lower()
    if md5 is not None:
        return "md5", md5.lower()
    raise ConfigError("a pinned checksum is required: pass sha256= (or md5= for legacy upstream files)")


def verify(path: Path, *, sha256: str | None = None, md5: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the pinned checksum.

    Raises:
        MissingDataError: ``path`` does not exist.
        ChecksumError: the digest differs (message gives both digests).
    """
    algorithm, want = _expected(sha256, md5)
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"expected a file at {path}, found nothing")
    got = file_digest(path, algorithm)
    if got != want:
        raise ChecksumError(
            f"{path}: {algorithm} is {got}, expected {want}. The file is corrupt, truncated or a "
            "different version; delete it and fetch it again."
        )


def verify_sha256(path: Path, sha256: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has sha256 ``sha256``."""
    verify(path, sha256=sha256)


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
    into the cache or an output folder get this mode instead, so they read like any other file.
    """
    return (0o777 if directory else 0o666) & ~current_umask()


@contextmanager
def atomic_destination(dest: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only if the block succeeds.

    The temporary file lives in ``dest``'s folder (same file system, so the rename is atomic), has the
    mode a plain ``open()`` would give (:func:`default_mode`, not mkstemp's 0600) and is removed on any
    error, ``KeyboardInterrupt`` included.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, default_mode())
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


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
        _commit(staging, dest, replace=replace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, dest: Path, *, replace: bool) -> None:
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


def _copy_hashing(src: IO[bytes], dst: IO[bytes], h: hashlib._Hash, bar: tqdm) -> None:
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        dst.write(chunk)
        bar.update(len(chunk))


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    opener: Opener | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying a pinned checksum before the rename.

    Args:
        url: any URL ``urllib`` opens (``https://``, ``file://``).
        dest: final path; its folder is created.
        sha256: pinned sha256 (preferred).
        md5: pinned md5, only for upstream files published with nothing stronger.
        progress: show a progress bar (tqdm, on stderr).
        opener: replaces ``urllib.request.urlopen`` (tests).
        timeout: seconds without data before the transfer is abandoned (an offline machine whose
            packets are dropped would otherwise wait forever).

    Returns:
        ``dest``.

    Raises:
        MissingDataError: the URL cannot be fetched (offline, 404...); nothing is left at ``dest``.
        ChecksumError: the content differs from the pinned checksum; nothing is left at ``dest``.
    """
    algorithm, want = _expected(sha256, md5)
    dest = Path(dest)
    open_url: Opener = (
        opener if opener is not None else functools.partial(urllib.request.urlopen, timeout=timeout)
    )
    h = hashlib.new(algorithm)
    with atomic_destination(dest) as tmp:
        try:
            with open_url(url) as response, open(tmp, "wb") as out:
                total = _content_length(response)
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"download {dest.name}",
                    disable=not progress,
                ) as bar:
                    _copy_hashing(response, out, h, bar)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise MissingDataError(f"could not download {url} to {dest}: {exc}") from exc
        got = h.hexdigest()
        if got != want:
            raise ChecksumError(
                f"download of {url}: {algorithm} is {got}, expected {want}; nothing was written to "
                f"{dest}. The server may serve a different version; retry, or fetch the file by hand "
                "and import it."
            )
    return dest


def _content_length(response: object) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    return int(value) if value and str(value).isdigit() else None


def install_file(src: Path, dest: Path, *, sha256: str | None = None, md5: str | None = None) -> Path:
    """Copy a local file into the cache atomically, verifying a pinned checksum before the rename.

    Raises:
        MissingDataError: ``src`` does not exist.
        ChecksumError: ``src`` has the wrong checksum; nothing is left at ``dest``.
    """
    algorithm, want = _expected(sha256, md5)
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise MissingDataError(f"expected a file at {src}, found nothing")
    h = hashlib.new(algorithm)
    with atomic_destination(dest) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            with tqdm(disable=True) as bar:
                _copy_hashing(fin, fout, h, bar)
        got = h.hexdigest()
        if got != want:
            raise ChecksumError(f"{src}: {algorithm} is {got}, expected {want}; nothing was copied to {dest}")
        shutil.copystat(src, tmp)
    return dest
