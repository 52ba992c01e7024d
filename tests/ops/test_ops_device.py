"""Batching with out-of-memory back-off and the thread context (freqbench.ops.device)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.ops.device import map_batches, torch_threads

CPU = torch.device("cpu")
OOM = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes"


def test_rows_are_covered_in_order_once_while_the_batch_halves() -> None:
    tried: list[int] = []
    told: list[int] = []

    def work(rows: np.ndarray) -> np.ndarray:
        tried.append(len(rows))
        if len(rows) > 3:
            raise RuntimeError(OOM)
        return rows * 10

    out = list(map_batches(11, work, batch_size=16, device=CPU, on_shrink=told.append))
    assert tried[:4] == [11, 8, 4, 2] and told == [8, 4, 2]
    assert [(s.start, s.stop) for s, _ in out] == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 11)]
    np.testing.assert_array_equal(np.concatenate([r for _, r in out]), np.arange(11) * 10)


def test_other_errors_and_oom_at_one_row_propagate() -> None:
    def broken(rows: np.ndarray) -> None:
        raise RuntimeError("something else")

    with pytest.raises(RuntimeError, match="something else"):
        list(map_batches(4, broken, batch_size=4, device=CPU))

    def always_oom(rows: np.ndarray) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        list(map_batches(4, always_oom, batch_size=4, device=CPU))


def test_thread_count_is_restored_even_on_error() -> None:
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    with pytest.raises(KeyError), torch_threads(wanted):
        assert torch.get_num_threads() == wanted
        raise KeyError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
