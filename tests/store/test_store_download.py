"""Verified, atomic downloads and cache copies (``freqbench.store.download``), never touching the network.

Expected digests are computed with ``hashlib`` on the bytes the test wrote.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from freqbench.errors import ChecksumError, ConfigError, MissingDataError
from freqbench.store.download import (
    cache_dir,
    download,
    install_file,
    sha256_file,
    verify,
    verify_sha256,
    weights_dir,
)

PAYLOAD = b"freqbench" * 100_000  # ~0.9 MB: several read chunks


@pytest.fixture
def served(tmp_path: Path) -> Path:
    path = tmp_path / "served.bin"
    path.write_bytes(PAYLOAD)
    return path


def test_cache_paths_follow_freqbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "h"))
    assert weights_dir() == tmp_path / "h" / "weights"
    assert cache_dir("datasets", "x") == tmp_path / "h" / "datasets" / "x"


def test_download_file_url_verified(tmp_path: Path, served: Path) -> None:
    dest = tmp_path / "cache" / "sub" / "file.bin"
    out = download(served.as_uri(), dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]  # no temporary left


def test_download_md5_for_legacy_files(tmp_path: Path, served: Path) -> None:
    dest = tmp_path / "f.bin"
    download(served.as_uri(), dest, md5=hashlib.md5(PAYLOAD).hexdigest(), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, served: Path) -> None:
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(ChecksumError, match=hashlib.sha256(PAYLOAD).hexdigest()):
        download(served.as_uri(), dest, sha256="0" * 64, progress=False)
    assert list(dest.parent.iterdir()) == []


def test_existing_file_survives_a_failed_download(tmp_path: Path, served: Path) -> None:
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old")
    with pytest.raises(ChecksumError):
        download(served.as_uri(), dest, sha256="0" * 64, progress=False)
    assert dest.read_bytes() == b"old"


def test_unreachable_url_is_missing_data(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="could not download"):
        download((tmp_path / "absent").as_uri(), tmp_path / "x", sha256="0" * 64, progress=False)
    assert not (tmp_path / "x").exists()


def test_stream_dying_midway_leaves_nothing(tmp_path: Path) -> None:
    class Dying(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() > 1000:
                raise OSError("connection reset")
            return super().read(n if 0 < n < 600 else 600)

    def opener(url: str) -> Dying:
        return Dying(PAYLOAD)

    with pytest.raises(MissingDataError, match="connection reset"):
        download("https://example.invalid/x", tmp_path / "x", sha256="0" * 64, opener=opener, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_opener_replaces_network(tmp_path: Path) -> None:
    seen = []

    def opener(url: str) -> io.BytesIO:
        seen.append(url)
        return io.BytesIO(PAYLOAD)

    dest = tmp_path / "x"
    download(
        "https://example.invalid/x",
        dest,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        opener=opener,
        progress=True,
    )
    assert seen == ["https://example.invalid/x"] and dest.read_bytes() == PAYLOAD


def test_a_checksum_is_required(tmp_path: Path, served: Path) -> None:
    with pytest.raises(ConfigError, match="pinned checksum"):
        download(served.as_uri(), tmp_path / "x")


def test_verify_and_sha256_file(served: Path) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert sha256_file(served) == digest
    verify_sha256(served, digest)
    verify(served, md5=hashlib.md5(PAYLOAD).hexdigest())
    with pytest.raises(ChecksumError, match="expected"):
        verify_sha256(served, "f" * 64)
    with pytest.raises(MissingDataError):
        verify_sha256(served.with_name("absent"), digest)


def test_install_file(tmp_path: Path, served: Path) -> None:
    dest = tmp_path / "cache" / "w.bin"
    install_file(served, dest, sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(ChecksumError):
        install_file(served, tmp_path / "cache" / "bad.bin", sha256="0" * 64)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["w.bin"]
