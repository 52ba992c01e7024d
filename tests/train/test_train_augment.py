"""Crop and flip augmentation against numpy: padding, offsets, per-image independence."""

from __future__ import annotations

import numpy as np
import torch

from freqbench.train.augment import random_crop, random_hflip


def test_random_crop_matches_numpy_pad_and_slice() -> None:
    x = torch.rand(6, 2, 7, 9, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(5)
    out = random_crop(x, padding=3, generator=g)
    # The same offsets, drawn from an identically seeded generator.
    offsets = torch.randint(0, 7, (2, 6), generator=torch.Generator().manual_seed(5)).numpy()
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (3, 3), (3, 3)))
    for i in range(6):
        r, c = offsets[:, i]
        np.testing.assert_array_equal(out[i].numpy(), padded[i, :, r : r + 7, c : c + 9])
    assert len({tuple(o) for o in offsets.T}) > 1, "offsets must differ between images"


def test_random_crop_without_padding_is_identity() -> None:
    x = torch.rand(2, 1, 4, 4)
    assert random_crop(x, padding=0, generator=torch.Generator()) is x


def test_random_hflip_mirrors_about_half() -> None:
    x = torch.rand(400, 1, 3, 5, generator=torch.Generator().manual_seed(1))
    out = random_hflip(x, generator=torch.Generator().manual_seed(2)).numpy()
    flipped = np.array([np.array_equal(o, np.flip(i, -1)) for o, i in zip(out, x.numpy())])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x.numpy())])
    assert np.all(flipped ^ kept)
    assert 150 < flipped.sum() < 250  # Binomial(400, 0.5): mean 200, sd 10
