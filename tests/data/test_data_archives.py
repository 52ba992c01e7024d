"""Truncated or corrupt tar archives are errors, never smaller datasets (issue 7, item 6).

Archives are written with :mod:`tarfile` and with GNU ``tar``; the cut points are computed from the
member offsets that :mod:`tarfile` reports for the complete archive (a header is the 512 bytes at a
member's ``offset``), so each case cuts exactly where it says.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from freqbench.data import DATASETS, DataFormatError, DataRequest
from freqbench.data.archives import extract_members, iter_member_bytes

CLASSES = ("a", "b", "c")
PER_CLASS = 10


def write_pngs(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    written = {}
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        for i in range(PER_CLASS):
            arr = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
            written[f"{c}/{i}.png"] = arr
    return written


@pytest.fixture
def full_tar(tmp_path: Path) -> Path:
    write_pngs(tmp_path / "src")
    path = tmp_path / "full.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(tmp_path / "src", arcname="test")
    return path


def _offsets(path: Path) -> list[int]:
    """Header offsets of the file members of a complete archive, in archive order."""
    with tarfile.open(path) as tar:
        return [m.offset for m in tar.getmembers() if m.isfile()]


def _load(path: Path):
    return DATASETS.get(f"imagefolder:{path}")(DataRequest())


def _cut(src: Path, dest: Path, at: int, *, gz: bool = False) -> Path:
    data = src.read_bytes()[:at]
    dest.write_bytes(gzip.compress(data) if gz else data)
    return dest


def test_complete_archives_read_whole(tmp_path: Path, full_tar: Path) -> None:
    assert len(_load(full_tar)) == 30
    gz = tmp_path / "full.tar.gz"
    gz.write_bytes(gzip.compress(full_tar.read_bytes()))
    assert len(_load(gz)) == 30
    if shutil.which("tar"):  # GNU tar's own end-of-archive padding
        gnu = tmp_path / "gnu.tar"
        subprocess.run(["tar", "cf", str(gnu), "-C", str(tmp_path / "src"), "."], check=True)
        assert len(_load(gnu)) == 30


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
@pytest.mark.parametrize("into_header", [1, 100, 511])
def test_cut_inside_a_member_header_is_an_error(
    tmp_path: Path, full_tar: Path, gz: bool, into_header: int
) -> None:
    at = _offsets(full_tar)[20] + into_header  # 20 complete images before the cut
    cut = _cut(full_tar, tmp_path / ("cut.tar.gz" if gz else "cut.tar"), at, gz=gz)
    # what tarfile alone makes of it: fewer members and no error (the silent loss being fixed)
    with tarfile.open(cut) as tar:
        assert len([m for m in tar if m.isfile()]) == 20
    with pytest.raises(DataFormatError, match=r"cut\.tar.*cut inside a member header"):
        _load(cut)


def test_cut_at_a_member_boundary_is_an_error(tmp_path: Path, full_tar: Path) -> None:
    """Cut exactly between two members: every remaining member is whole, but the end marker is gone
    (whole classes would be lost)."""
    at = _offsets(full_tar)[PER_CLASS]  # class 'a' complete, 'b' and 'c' gone
    cut = _cut(full_tar, tmp_path / "boundary.tar", at)
    with pytest.raises(DataFormatError, match="without the end-of-archive marker"):
        _load(cut)


def test_corrupt_header_is_an_error(tmp_path: Path, full_tar: Path) -> None:
    data = bytearray(full_tar.read_bytes())
    at = _offsets(full_tar)[15]
    data[at + 148 : at + 156] = b"99999999"  # the header checksum field
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match="a member header is corrupt"):
        _load(bad)


def test_cut_inside_member_data_is_an_error(tmp_path: Path, full_tar: Path) -> None:
    at = _offsets(full_tar)[20] + 512 + 10  # inside the 21st image's data
    cut = _cut(full_tar, tmp_path / "data.tar", at)
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        _load(cut)


def test_every_reader_checks_the_end(tmp_path: Path, full_tar: Path) -> None:
    """The CIFAR tarball reader (named members only) and member extraction check it too."""
    cut = _cut(full_tar, tmp_path / "cut.tar", _offsets(full_tar)[25] + 50)
    with pytest.raises(DataFormatError, match="cut inside a member header"):
        list(iter_member_bytes(cut, {"test/a/0.png"}))
    with pytest.raises(DataFormatError, match="cut inside a member header"):
        extract_members(cut, {"test/a/0.png": tmp_path / "out" / "0.png"})
    # the complete archive extracts the same member fine
    out = extract_members(full_tar, {"test/a/0.png": tmp_path / "ok" / "0.png"})
    with tarfile.open(full_tar) as tar:
        member = tar.extractfile("test/a/0.png")
        assert member is not None
        assert out[0].read_bytes() == member.read()


def test_empty_archive_with_end_marker_is_empty_not_truncated(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar"
    with tarfile.open(path, "w"):
        pass
    assert list(iter_member_bytes(path)) == []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("x/readme.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    (tmp_path / "one.tar").write_bytes(buf.getvalue())
    assert list(iter_member_bytes(tmp_path / "one.tar")) == [("x/readme.txt", b"abc")]
