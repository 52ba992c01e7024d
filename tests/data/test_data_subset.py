"""The ``--limit`` subset: fixed, nested, in index order, roughly balanced on class-sorted data."""

from __future__ import annotations

import numpy as np

from freqbench.data.base import ArrayDataset, DatasetInfo


def _sorted_by_class(n_per_class: int = 100, classes: int = 10) -> ArrayDataset:
    labels = np.repeat(np.arange(classes), n_per_class)
    images = np.zeros((len(labels), 2, 2, 1), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels)) % 256
    return ArrayDataset(DatasetInfo("sorted", "test", classes, tuple("abcdefghij"), "memory"), images, labels)


def test_subset_is_stable_nested_and_ordered() -> None:
    ds = _sorted_by_class()
    a, b = ds.subset(100), ds.subset(100)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert np.all(np.diff(a.indices) > 0)
    assert set(ds.subset(50).indices) <= set(a.indices)
    np.testing.assert_array_equal(a.labels, ds.labels[a.indices])
    np.testing.assert_array_equal(a.images, ds.images[a.indices])
    # a subset of a subset addresses the original indices, not positions
    assert set(a.subset(20).indices) <= set(a.indices)


def test_subset_of_class_sorted_data_is_roughly_balanced() -> None:
    counts = np.bincount(_sorted_by_class().subset(200).labels, minlength=10)
    assert counts.min() >= 8 and counts.max() <= 35  # binomial(200, 0.1): mean 20
