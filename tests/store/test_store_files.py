"""The one atomic-write rule (``freqbench.store.files``): complete or absent, flushed, plain file mode.

Also checks that every writer in the package goes through it: no other module calls ``os.replace``,
``fsync`` or ``mkstemp`` (the run store's append-and-truncate of its JSONL files is the one exception).
"""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import freqbench
from freqbench.store import files


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_written_file_has_the_content_and_the_mode_open_gives(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    files.atomic_write_bytes(dest, b"abc")
    assert dest.read_bytes() == b"abc"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~_umask()
    assert files.default_mode() == 0o666 & ~_umask()
    assert files.default_mode(directory=True) == 0o777 & ~_umask()
    assert list(tmp_path.iterdir()) == [dest]


def test_writer_gets_a_binary_file_and_numpy_round_trips(tmp_path: Path) -> None:
    dest = tmp_path / "x.npy"
    want = np.arange(12, dtype=np.int64).reshape(3, 4)
    files.atomic_write_via(dest, lambda f: np.save(f, want))
    np.testing.assert_array_equal(np.load(dest), want)
    assert dest.suffix == ".npy" and sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_file_and_folder_are_flushed_before_and_after_the_rename(tmp_path: Path, monkeypatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    files.atomic_write_bytes(tmp_path / "f", b"x")
    assert events == ["file", "rename", "dir"]


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "f.json"
    dest.write_bytes(b"old")

    def broken(f: object) -> None:
        f.write(b"half")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write_via(dest, broken)
    assert dest.read_bytes() == b"old" and list(tmp_path.iterdir()) == [dest]


def test_temporary_names_are_unique_siblings_with_the_pid(tmp_path: Path) -> None:
    dest = tmp_path / "f.json"
    made = [files.temporary_sibling(dest) for _ in range(3)]
    assert len(set(made)) == 3
    for tmp in made:
        assert tmp.parent == tmp_path and tmp.name.startswith(f"f.json.{os.getpid()}.")
        assert tmp.name.endswith(files.TMP_SUFFIX) and tmp.stat().st_size == 0
    (tmp_path / "other.txt").write_text("kept")
    assert files.stale_temporaries(tmp_path) == sorted(made)
    assert files.stale_temporaries(tmp_path, "g.json") == []


def test_missing_folder_is_an_error_unless_parents_is_asked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        files.atomic_write_bytes(tmp_path / "no" / "f", b"x")
    assert list(tmp_path.iterdir()) == []
    files.atomic_write_bytes(tmp_path / "no" / "f", b"x", parents=True)
    assert (tmp_path / "no" / "f").read_bytes() == b"x"


def test_staged_directory_is_all_or_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with pytest.raises(RuntimeError), files.staged_directory(dest) as staging:
        (staging / "a").write_text("1")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with files.staged_directory(dest) as staging:
        (staging / "a").write_text("1")
    assert (dest / "a").read_text() == "1"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o777 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


# only these may rename, flush or create temporary files themselves
_ALLOWED = {"store/files.py", "store/run.py"}
_CALLS = {("os", "replace"), ("os", "rename"), ("os", "fsync"), ("tempfile", "mkstemp")}


def test_every_module_writes_files_through_store_files() -> None:
    root = Path(freqbench.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in _CALLS
                and rel not in _ALLOWED
            ):
                found.append(f"{rel}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == [], "write files with freqbench.store.files: " + ", ".join(found)
