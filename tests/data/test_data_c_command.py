"""The read-back command printed after ``make-c`` (issue 7, item 9): each case's ``--data-root`` must find
both the clean dataset make-c read and the written C folder. The end-to-end runs of the printed
command are in ``tests/cli/test_cli_make_c.py``; here each layout's command is checked by resolving its
``--data-root`` with the real search code, as ``freqbench run`` does.
"""

from __future__ import annotations

import pickle
import shlex
from pathlib import Path

import numpy as np
import pytest

from freqbench.corruption_names import SEVERITIES
from freqbench.data import C_DATASETS, DATASETS, DataRequest
from freqbench.data.c_command import read_back_command
from freqbench.data.catalog import import_dataset
from freqbench.data.cifar_c_writer import CWriter

CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FREQBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_cifar10(root: Path, n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": data, b"labels": labels.tolist()}, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": CLASSES}, protocol=2))
    return labels


def write_c(out: Path, labels: np.ndarray, *, folder: str = "CIFAR-10-C", indices=None) -> Path:
    with CWriter(out, labels, folder=folder, indices=indices) as w:
        for s in SEVERITIES:
            w.write("fog", s, np.zeros((len(labels), 32, 32, 3), np.uint8))
    return w.folder


def _argv(command: str) -> dict[str, str]:
    argv = shlex.split(command)
    return {argv[i]: argv[i + 1] for i in range(2, len(argv) - 1) if argv[i].startswith("--")}


def _check_finds_both(dataset: str, root: Path, labels: np.ndarray) -> None:
    clean = DATASETS.get(dataset)(DataRequest(root=root, download=False))
    replay = C_DATASETS.get("cifar10c")(DataRequest(root=root, download=False), corruption="fog", severity=1)
    x, y = replay.batch(replay.dataset.indices)
    np.testing.assert_array_equal(y.numpy(), clean.labels[replay.dataset.indices])
    np.testing.assert_array_equal(y.numpy(), labels)


def test_out_equal_to_data_root_uses_that_root(tmp_path: Path) -> None:
    labels = write_cifar10(tmp_path / "r")
    folder = write_c(tmp_path / "r", labels)
    cmd = read_back_command("cifar10", folder, data_root=tmp_path / "r", seed=3)
    args = _argv(cmd)
    assert cmd.startswith("freqbench run --suite cifar10c --dataset cifar10 --corruptions fog")
    assert args["--data-root"] == str(tmp_path / "r") and args["--seed"] == "3" and "--limit" not in args
    _check_finds_both("cifar10", Path(args["--data-root"]), labels)


def test_clean_data_in_the_cache_uses_the_written_folder(tmp_path: Path, _home: Path) -> None:
    labels = write_cifar10(_home / "datasets" / "cifar10")
    folder = write_c(tmp_path / "out", labels[[1, 4]], indices=np.array([1, 4]))
    cmd = read_back_command("cifar10", folder, data_root=None)
    args = _argv(cmd)
    assert args["--data-root"] == str(folder) and args["--limit"] == "2"
    _check_finds_both("cifar10", folder, labels[[1, 4]])


def test_separate_roots_import_the_folder_first(tmp_path: Path) -> None:
    labels = write_cifar10(tmp_path / "r")
    folder = write_c(tmp_path / "elsewhere", labels[[0, 2, 5]], indices=np.array([0, 2, 5]))
    cmd = read_back_command("cifar10", folder, data_root=tmp_path / "r")
    importing, run = cmd.split(" && ")
    assert shlex.split(importing) == ["freqbench", "data", "import", "cifar10c", str(folder)]
    assert _argv(run)["--data-root"] == str(tmp_path / "r") and _argv(run)["--limit"] == "3"
    import_dataset("cifar10c", folder)  # what the first command does: indices.npy travels along
    _check_finds_both("cifar10", tmp_path / "r", labels[[0, 2, 5]])


def test_replay_is_chosen_by_dataset_then_class_count(tmp_path: Path) -> None:
    few = write_c(tmp_path, np.array([0, 3]), folder="A-C")
    assert "--suite cifar10c" in read_back_command("imagefolder:x", few, data_root=None)
    many = write_c(tmp_path, np.array([0, 42]), folder="B-C")
    assert "--suite cifar100c" in read_back_command("imagefolder:x", many, data_root=None)
    too_many = write_c(tmp_path, np.array([0, 200]), folder="C-C")
    assert read_back_command("imagefolder:x", too_many, data_root=None).startswith("no C dataset suite")
