"""Per-sample scores of logits (freqbench.ops.scoring) against numpy, and batched prediction."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp

from freqbench.ops.scoring import predict, score_logits


def _numpy_scores(logits: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    n = len(y)
    true = logits[np.arange(n), y]
    others = logits.copy()
    others[np.arange(n), y] = -np.inf
    pred = logits.argmax(1)
    return {
        "pred": pred,
        "correct": pred == y,
        "loss": logsumexp(logits, axis=1) - true,
        "margin": true - others.max(1),
    }


def test_scores_match_numpy() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 7)) * 3
    y = rng.integers(0, 7, 50)
    got = score_logits(torch.from_numpy(logits), torch.from_numpy(y))
    want = _numpy_scores(logits, y)
    assert set(got) == set(want)
    np.testing.assert_array_equal(got["pred"].numpy(), want["pred"])
    np.testing.assert_array_equal(got["correct"].numpy(), want["correct"])
    # computed in float32 (the engine's precision)
    np.testing.assert_allclose(got["loss"].numpy(), want["loss"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["margin"].numpy(), want["margin"], rtol=1e-5, atol=1e-5)
    assert (got["margin"] < 0).eq(~got["correct"]).all()


def test_predict_scores_every_row_whatever_the_batch_size() -> None:
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((23, 5), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 3, 23))
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)

    def batch(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return x[rows], y[rows]

    a = predict(model, batch, 23, batch_size=4, device=torch.device("cpu"))
    b = predict(model, batch, 23, batch_size=23, device=torch.device("cpu"))
    with torch.no_grad():
        want = _numpy_scores(model(x).double().numpy(), y.numpy())
    np.testing.assert_array_equal(a["pred"], want["pred"])
    np.testing.assert_allclose(a["loss"], want["loss"], rtol=1e-5, atol=1e-6)
    # the batches split the rows, nothing else: only the matmul's blocking may differ by an ulp
    np.testing.assert_array_equal(a["pred"], b["pred"])
    np.testing.assert_array_equal(a["correct"], b["correct"])
    for k in ("loss", "margin"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-6, err_msg=k)
