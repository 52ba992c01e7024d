"""Cached content fingerprints: exactly the bytes asked for, recomputed whenever the file changes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from freqbench.errors import MissingDataError
from freqbench.store import fingerprint
from freqbench.store.fingerprint import fingerprint_dir, sha256_cached, sha256_range


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))


def test_range_digest_is_sha256_of_those_bytes(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read chunk
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_cached(path) == hashlib.sha256(data).hexdigest()
    assert sha256_range(path, 5, 1 << 21) == hashlib.sha256(data[5 : 1 << 21]).hexdigest()
    assert sha256_range(path, 7, 7) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(MissingDataError, match="truncated"):
        sha256_range(path, 0, len(data) + 1)
    with pytest.raises(MissingDataError, match="expected a file"):
        sha256_cached(tmp_path / "absent.bin")


def test_cached_once_then_read_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    first = sha256_cached(path)
    assert len(list(fingerprint_dir().glob("*.json"))) == 1
    fingerprint._sha256_stamped.cache_clear()  # a new process: only the on-disk cache is left
    monkeypatch.setattr(fingerprint, "_digest", lambda *a: pytest.fail("hashed again despite the cache"))
    assert sha256_cached(path) == first


def test_changed_content_is_rehashed_even_with_the_old_mtime(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 4096)
    before = path.stat()
    old = sha256_cached(path)
    # same size, same mtime put back (as `cp -p` or `rsync -t` would): ctime still moves
    with open(path, "r+b") as f:
        f.write(b"b")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert sha256_cached(path) == hashlib.sha256(b"b" + b"a" * 4095).hexdigest() != old
    # replaced by another file under the same name: another inode
    other = tmp_path / "g.bin"
    other.write_bytes(b"c" * 4096)
    os.replace(other, path)
    assert sha256_cached(path) == hashlib.sha256(b"c" * 4096).hexdigest()


def test_damaged_or_unwritable_cache_only_costs_a_recomputation(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"xyz")
    want = hashlib.sha256(b"xyz").hexdigest()
    assert sha256_cached(path) == want
    (entry,) = fingerprint_dir().glob("*.json")
    entry.write_text('{"stamp": [], "sha256": "not a digest"}')
    fingerprint._sha256_stamped.cache_clear()
    assert sha256_cached(path) == want
    fingerprint._sha256_stamped.cache_clear()
    entry.unlink()
    fingerprint_dir().rmdir()
    fingerprint_dir().write_text("a file where the cache folder should be")
    assert sha256_cached(path) == want
