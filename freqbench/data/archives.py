"""Reading and extracting members of tar archives without extracting the whole archive.

Used for the official CIFAR tarballs (``cifar-10-python.tar.gz``), the Zenodo CIFAR-10-C tarball and
image-folder archives. Members are matched by name, never by position, and extracted one at a time to a
temporary file that is renamed only after its checksum (when one is pinned) has been verified, so an
interrupted extraction leaves nothing that looks complete. Absolute or ``..`` member names are never
written (the destination path always comes from the caller, not from the archive).

An archive must end with its end-of-archive marker (a zero block). :mod:`tarfile` stops iterating
silently at a header cut short, at a corrupt header and at a stream that ends between two members, so
a truncated archive would read as a smaller dataset; every reader here therefore records why
iteration stopped (:class:`_RecordingTarInfo`) and raises :class:`DataFormatError` unless it was the
marker.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Self

from freqbench.data.base import DataFormatError
from freqbench.errors import ChecksumError
from freqbench.store.files import atomic_destination

_CHUNK = 1 << 20
_IN_MEMORY_BELOW = 256 << 20
_STOP_ATTR = "_freqbench_stop"


class _RecordingTarInfo(tarfile.TarInfo):
    """A TarInfo whose header parsing remembers, on the TarFile, the error that ended iteration."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tar)
        except tarfile.HeaderError as exc:
            setattr(tar, _STOP_ATTR, exc)
            raise


# tarfile's HeaderError subclasses (undocumented, so matched by name) -> why iteration stopped
_STOP_REASONS = {
    "TruncatedHeaderError": "it is cut inside a member header",
    "EmptyHeaderError": "it ends without the end-of-archive marker",
}


def check_complete(tar: tarfile.TarFile, path: Path) -> None:
    """Raise :class:`DataFormatError` unless iterating ``tar`` stopped at its end-of-archive marker.

    Call it after a full iteration over the members of a TarFile opened by :func:`open_tar`. The marker
    is a zero block, which tarfile reports as ``EOFHeaderError``; any other stop (a header cut short,
    the stream ending between members, a header whose checksum is wrong) means members were lost.
    """
    stop = getattr(tar, _STOP_ATTR, None)
    kind = type(stop).__name__
    if kind == "EOFHeaderError":
        return
    why = _STOP_REASONS.get(kind, f"a member header is corrupt ({stop})")
    raise DataFormatError(
        f"{path}: the tar archive is truncated or corrupt: {why} at byte {tar.offset} of the "
        "(decompressed) archive, so members after it would be lost; fetch or copy the archive again"
    )


def open_tar(path: Path, *, in_memory_below: int = 0) -> tarfile.TarFile:
    """Open a ``.tar``, ``.tar.gz`` or other compressed tar for streaming reads.

    Args:
        path: the archive.
        in_memory_below: gunzip a gzip archive smaller than this many bytes into memory first
            (tarfile's streaming gzip reader costs about as much again as the decompression itself).

    Raises:
        DataFormatError: not a readable tar archive.
    """
    try:
        if in_memory_below and path.stat().st_size < in_memory_below:
            with open(path, "rb") as f:
                head = f.read(2)
                if head == b"\x1f\x8b":
                    f.seek(0)
                    raw = io.BytesIO(gzip.decompress(f.read()))
                    return tarfile.open(fileobj=raw, mode="r:", tarinfo=_RecordingTarInfo)
        return tarfile.open(path, mode="r:*", tarinfo=_RecordingTarInfo)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{path} is not a readable tar archive: {exc}") from exc


def iter_member_bytes(path: Path, names: set[str] | None = None) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member name, content)`` for regular files, in archive order, streaming once.

    Args:
        path: the archive.
        names: only these member names (all regular files when None).

    Raises:
        DataFormatError: the archive is truncated or corrupt (raised once the archive is exhausted, so
            a consumer must read every item to learn that the archive was complete).
    """
    with open_tar(path, in_memory_below=_IN_MEMORY_BELOW) as tar:
        try:
            for member in tar:
                if not member.isfile() or (names is not None and member.name not in names):
                    continue
                f = tar.extractfile(member)
                if f is None:
                    continue
                yield member.name, f.read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(f"{path}: archive is truncated or corrupt ({exc})") from exc
        check_complete(tar, path)


def extract_members(
    path: Path,
    wanted: Mapping[str, Path],
    *,
    md5: Mapping[str, str] | None = None,
) -> list[Path]:
    """Extract the members named in ``wanted`` to their destination paths, atomically and verified.

    Args:
        path: the archive.
        wanted: member name -> destination path.
        md5: member name -> pinned md5 of its content (members without an entry are not checked).

    Returns:
        the destination paths written, in archive order.

    Raises:
        DataFormatError: a wanted member is missing or the archive is corrupt.
        ChecksumError: a member's content differs from its pinned md5 (that member is not written).
    """
    md5 = md5 or {}
    written: list[Path] = []
    with open_tar(path) as tar:
        try:
            for member in tar:
                if member.name not in wanted or not member.isfile():
                    continue
                src = tar.extractfile(member)
                if src is None:
                    continue
                h = hashlib.md5()
                dest = wanted[member.name]
                with atomic_destination(dest, parents=True) as tmp, open(tmp, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                    out.close()
                    want = md5.get(member.name)
                    if want is not None and h.hexdigest() != want:
                        raise ChecksumError(
                            f"{path}!{member.name}: md5 is {h.hexdigest()}, expected {want}; "
                            "the archive is corrupt or a different version"
                        )
                written.append(dest)
        except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise DataFormatError(f"{path}: archive is truncated or corrupt ({exc})") from exc
        check_complete(tar, path)
    missing = sorted(set(wanted) - {m for m, d in wanted.items() if d in written})
    if missing:
        raise DataFormatError(f"{path}: expected archive members {missing}, not found in the archive")
    return written
