"""``freqbench data make-c`` writes the released CIFAR-10-C layout, and ``--suite cifar10c`` reading it
back gives exactly the accuracies of the on-the-fly ``corruptions`` suite with the same seed."""

from __future__ import annotations

import json
import pickle

import numpy as np
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
