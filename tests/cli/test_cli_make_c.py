"""``freqbench data make-c`` writes the released CIFAR-10-C layout, and ``--suite cifar10c`` reading it
back gives exactly the accuracies of the on-the-fly ``corruptions`` suite with the same seed."""

from __future__ import annotations

import json
import os
import pickle
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from freqbench.cli.main import app

runner = CliRunner()
CORRUPTIONS = "gaussian_noise,contrast,pixelate"


def write_cifar10_test_batch(root, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The official python layout: test_batch holds b'data' (N, 3072 = R, G, B planes) and b'labels'."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = images.transpose(0, 3, 1, 2).reshape(n, 3072)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": data, b"labels": labels.tolist()}, protocol=2))
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return images, labels


def _accuracies(out) -> dict[str, float]:
    recs = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return {r["condition"]: r["value"] for r in recs if r["metric"] == "accuracy"}


def _losses(out) -> dict[str, np.ndarray]:
    """Per-sample losses: equal only when the model saw bit-identical inputs."""
    recs = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    keys = {r["condition"]: r["key"] for r in recs}
    return {c: np.load(out / "arrays" / f"{k}.npz")["loss"] for c, k in keys.items()}


def test_make_c_round_trip_matches_on_the_fly(tmp_path, image_folder) -> None:
    root = tmp_path / "data"
    images, labels = write_cifar10_test_batch(root)
    args = ["data", "make-c", "--dataset", "cifar10", "--data-root", str(root), "--out", str(root),
            "--corruptions", CORRUPTIONS, "--seed", "5"]  # fmt: skip
    res = runner.invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    folder = root / "CIFAR-10-C"
    stored = np.load(folder / "gaussian_noise.npy")
    assert stored.shape == (5 * 24, 32, 32, 3) and stored.dtype == np.uint8
    np.testing.assert_array_equal(np.load(folder / "labels.npy"), np.tile(labels, 5).astype(np.uint8))
    # severity-major: contrast@1 keeps more of the image's deviation from its mean than contrast@5
    c = np.load(folder / "contrast.npy").astype(float)
    dev = [
        np.abs(c[(s - 1) * 24 : s * 24] - c[(s - 1) * 24 : s * 24].mean((1, 2), keepdims=True)).mean()
        for s in (1, 5)
    ]
    assert dev[0] > 2 * dev[1]

    common = ["--model", "resnet20_cifar10", "--dataset", "cifar10", "--data-root", str(root), "--seed", "5",
              "--corruptions", CORRUPTIONS]  # fmt: skip
    fly, replay = tmp_path / "fly", tmp_path / "replay"
    assert runner.invoke(app, ["run", "--suite", "corruptions", *common, "--out", str(fly)]).exit_code == 0
    res = runner.invoke(
        app, ["run", "--suite", "cifar10c", *common, "--out", str(replay)], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    a, b = _accuracies(fly), _accuracies(replay)
    assert len(a) == 1 + 3 * 5 and a == b
    la, lb = _losses(fly), _losses(replay)
    for cond in a:
        np.testing.assert_array_equal(la[cond], lb[cond], err_msg=cond)
    assert not np.array_equal(la["clean"], la["gaussian_noise@3"])


# issue 7: bad options, the printed read-back command, --limit round trip ---------------------------
def freqbench(*args: str, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FREQBENCH_HOME": str(home)}
    cmd = [sys.executable, "-m", "freqbench.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def printed_command(stdout: str, model: str) -> list[str]:
    """The command make-c printed, as argv for this interpreter, with MODEL filled in."""
    (line,) = [line for line in stdout.splitlines() if line.startswith("read it back with: ")]
    argv = shlex.split(line.removeprefix("read it back with: "))
    assert argv[:2] == ["freqbench", "run"] and argv[-2:] == ["--model", "MODEL"], line
    return [*argv[1:-1], model]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "error: --batch-size must be a positive integer, got 0"),
        (["--limit", "-5"], "error: --limit must be a positive integer, got -5; omit it for the whole split"),
        (["--limit", "0"], "error: --limit must be a positive integer, got 0; omit it for the whole split"),
        (["--seed", str(2**64)], f"error: --seed must be an integer in [0, 2**64), got {2**64}"),
        (["--out", "{root}/cifar-10-batches-py/test_batch"], "is a file, not a folder; pass a folder"),
        (["--out", "{root}/old"], "old/CIFAR-10-C already exists; make-c writes a complete folder"),
    ],
    ids=["batch-size-0", "limit-negative", "limit-0", "seed-65-bit", "out-is-a-file", "out-holds-files"],
)
def test_bad_make_c_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "data"
    write_cifar10_test_batch(root)
    (root / "old" / "CIFAR-10-C").mkdir(parents=True)
    (root / "old" / "CIFAR-10-C" / "fog.npy").write_bytes(b"someone's earlier files")
    before = snapshot(tmp_path)
    args = [a.format(root=root) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "out")]
    res = freqbench("data", "make-c", "--dataset", "cifar10", "--data-root", str(root),
                    "--corruptions", "contrast", *out, *args, home=tmp_path / "home")  # fmt: skip
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error: "), res.stderr
    assert snapshot(tmp_path) == before  # nothing written, nothing already there changed
    assert not (tmp_path / "out").exists()


def test_limited_make_c_replays_with_the_printed_command(tmp_path: Path) -> None:
    """make-c --limit writes the subset with its sample indices; the printed command reads it back and
    gives exactly the on-the-fly results of the same --limit (it used to crash with an IndexError)."""
    root = tmp_path / "data"
    _, labels = write_cifar10_test_batch(root)
    home = tmp_path / "home"
    res = freqbench("data", "make-c", "--dataset", "cifar10", "--data-root", str(root), "--out", str(root),
                    "--corruptions", CORRUPTIONS, "--seed", "5", "--limit", "10", home=home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    folder = root / "CIFAR-10-C"
    assert res.stdout.splitlines()[0] == f"wrote {folder}"
    indices = np.load(folder / "indices.npy")
    assert len(indices) == 10 and (np.diff(indices) > 0).all() and indices.max() < 24
    assert not np.array_equal(indices, np.arange(10))  # the documented subset, not the first ten
    np.testing.assert_array_equal(np.load(folder / "labels.npy"), np.tile(labels[indices], 5))
    for name in ("labels.npy", "indices.npy", "contrast.npy"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644 & ~_umask(), name

    argv = printed_command(res.stdout, "resnet20_cifar10")
    assert argv[argv.index("--limit") + 1] == "10" and argv[argv.index("--data-root") + 1] == str(root)
    replay = freqbench(*argv, home=home, cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    (replay_dir,) = (tmp_path / "runs").iterdir()
    fly = tmp_path / "fly"
    args = ["run", "--suite", "corruptions", "--model", "resnet20_cifar10", "--dataset", "cifar10",
            "--data-root", str(root), "--seed", "5", "--corruptions", CORRUPTIONS, "--limit", "10",
            "--out", str(fly)]  # fmt: skip
    assert runner.invoke(app, args, catch_exceptions=False).exit_code == 0
    a, b = _accuracies(fly), _accuracies(replay_dir)
    assert len(a) == 1 + 3 * 5 and a == b
    la, lb = _losses(fly), _losses(replay_dir)
    for cond in a:
        np.testing.assert_array_equal(la[cond], lb[cond], err_msg=cond)


def test_printed_command_for_an_image_folder_points_at_the_written_folder(
    tmp_path: Path, image_folder: Path
) -> None:
    home = tmp_path / "home"
    dataset = f"imagefolder:{image_folder}"
    out = tmp_path / "out"
    res = freqbench("data", "make-c", "--dataset", dataset, "--out", str(out), "--corruptions", "contrast",
                    home=home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    (folder,) = out.iterdir()
    argv = printed_command(res.stdout, "resnet20_cifar10")
    assert argv[argv.index("--data-root") + 1] == str(folder)  # not --out: the files sit one level deeper
    assert argv[argv.index("--dataset") + 1] == dataset and "--limit" not in argv
    replay = freqbench(*argv, home=home, cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    (replay_dir,) = (tmp_path / "runs").iterdir()
    fly = tmp_path / "fly"
    args = ["run", "--suite", "corruptions", "--model", "resnet20_cifar10", "--dataset", dataset,
            "--corruptions", "contrast", "--out", str(fly)]  # fmt: skip
    assert runner.invoke(app, args, catch_exceptions=False).exit_code == 0
    assert _accuracies(fly) == _accuracies(replay_dir) and len(_accuracies(fly)) == 6


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
