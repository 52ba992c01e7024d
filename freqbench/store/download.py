"""Cache paths, checksums and verified, atomic downloads; shared by datasets and model weights.

Torch-free and generic, so both ``freqbench.data`` and ``freqbench.models`` (siblings that must not
import each other) use the same rules; it lives in ``store``, the torch-free layer below both that holds
freqbench's file I/O, beside :mod:`freqbench.store.files` (the atomic-write rule) and
:mod:`freqbench.store.fingerprint`. Every file that enters the cache is checked against a pinned
checksum *before* it appears under its final name (:func:`~freqbench.store.files.atomic_destination`:
a temporary file in the destination folder, flushed, then renamed), so an interrupted or corrupted
transfer never leaves a plausible-looking file.

Layout of the cache (``$FREQBENCH_HOME``, default ``~/.cache/freqbench``)::

    datasets/<name>/...     dataset files (see freqbench.data)
    weights/...             pretrained weights (see freqbench.models)

Checksums are sha256 wherever the upstream publishes one (or we pinned one ourselves); md5 is accepted
only for upstream files whose publisher gives nothing stronger (the CIFAR and MNIST archives).
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tqdm import tqdm

from freqbench.config import freqbench_home
from freqbench.errors import ChecksumError, ConfigError, MissingDataError
from freqbench.store.files import atomic_destination

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
    with atomic_destination(dest, parents=True) as tmp:
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
    with atomic_destination(dest, parents=True) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            with tqdm(disable=True) as bar:
                _copy_hashing(fin, fout, h, bar)
        got = h.hexdigest()
        if got != want:
            raise ChecksumError(f"{src}: {algorithm} is {got}, expected {want}; nothing was copied to {dest}")
        shutil.copystat(src, tmp)
    return dest
