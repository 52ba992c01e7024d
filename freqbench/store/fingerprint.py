"""Content fingerprints of files, cached by the file's identity so large inputs are hashed once.

Result keys must change whenever the bytes behind a result change (another ``--data-root``, a
re-generated CIFAR-10-C folder, a weight file replaced under the same name), but hashing a 150 MB
corruption file or a 1 GB checkpoint on every run is too slow. :func:`sha256_range` hashes exactly the
bytes ``[start, stop)`` of a file and remembers the digest under the file's *stamp*: resolved path,
size, ``st_mtime_ns``, ``st_ctime_ns``, inode and device, plus the range. Any write to the file changes
its mtime and ctime (ctime cannot be set back by ``touch`` or ``rsync -t``), and replacing it changes
its inode, so a stale digest is never returned (the same rule git uses for its index).

The cache is one small JSON file per stamp under ``$FREQBENCH_HOME/fingerprints/`` (written atomically
under a unique temporary name, so concurrent runs never tear one), plus an in-process memo. A cache
folder that cannot be written only means the digest is computed again next time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path

from freqbench.errors import ConfigError, MissingDataError
from freqbench.store.download import cache_dir
from freqbench.store.files import atomic_write_bytes

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERSION = 1


def fingerprint_dir() -> Path:
    """Where cached digests live: ``$FREQBENCH_HOME/fingerprints``."""
    return cache_dir("fingerprints")


def file_stamp(path: Path) -> tuple[str, int, int, int, int, int]:
    """(resolved path, size, mtime_ns, ctime_ns, inode, device) of ``path``.

    Raises:
        MissingDataError: ``path`` is not a file.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise MissingDataError(f"expected a file at {path}, found nothing ({exc.strerror})") from exc
    if not path.is_file():
        kind = "folder" if path.is_dir() else "special file"
        raise MissingDataError(f"expected a file at {path}, found a {kind}")
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _digest(path: Path, start: int, stop: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        left = stop - start
        while left > 0:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                raise MissingDataError(
                    f"{path} ended at byte {stop - left} while hashing bytes {start}..{stop}; it is truncated"
                )
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def _entry_path(stamp: tuple[object, ...], start: int, stop: int) -> Path:
    name = hashlib.sha256(json.dumps([_VERSION, *stamp, start, stop]).encode()).hexdigest()[:32]
    return fingerprint_dir() / f"{name}.json"


def _read_cached(entry: Path, stamp: tuple[object, ...], start: int, stop: int) -> str | None:
    try:
        data = json.loads(entry.read_text())
    except (OSError, ValueError):
        return None  # absent or damaged: recompute
    ok = (
        isinstance(data, dict)
        and data.get("stamp") == list(stamp)
        and data.get("range") == [start, stop]
        and isinstance(data.get("sha256"), str)
        and _SHA256.fullmatch(data["sha256"])
    )
    return str(data["sha256"]) if ok else None


def _write_cached(entry: Path, stamp: tuple[object, ...], start: int, stop: int, sha: str) -> None:
    blob = json.dumps({"stamp": list(stamp), "range": [start, stop], "sha256": sha}).encode()
    try:
        atomic_write_bytes(entry, blob, parents=True)
    except OSError:
        # a read-only or full cache only costs a recomputation next time; the digest itself is exact
        return


@functools.lru_cache(maxsize=1024)
def _sha256_stamped(stamp: tuple[str, int, int, int, int, int], start: int, stop: int) -> str:
    entry = _entry_path(stamp, start, stop)
    cached = _read_cached(entry, stamp, start, stop)
    if cached is not None:
        return cached
    sha = _digest(Path(stamp[0]), start, stop)
    _write_cached(entry, stamp, start, stop, sha)
    return sha


def sha256_range(path: Path, start: int = 0, stop: int | None = None) -> str:
    """sha256 of bytes ``[start, stop)`` of ``path`` (``stop=None``: to the end), cached by file stamp.

    Raises:
        MissingDataError: ``path`` is not a file, or shorter than ``stop``.
        ConfigError: an empty or negative range.
    """
    stamp = file_stamp(path)
    size = stamp[1]
    end = size if stop is None else stop
    if not 0 <= start <= end:
        raise ConfigError(f"byte range must satisfy 0 <= start <= stop, got {start}..{end} for {path}")
    if end > size:
        raise MissingDataError(f"{path} has {size} bytes, expected at least {end}; it is truncated")
    return _sha256_stamped(stamp, start, end)


def sha256_cached(path: Path) -> str:
    """sha256 of the whole file ``path``, cached by file stamp (see the module docstring)."""
    return sha256_range(path)


__all__ = ["file_stamp", "fingerprint_dir", "sha256_cached", "sha256_range"]
