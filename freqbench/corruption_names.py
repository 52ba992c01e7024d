"""The names and severities of the CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019).

One list shared by the three sibling packages that need it and may not import each other:
``perturbations`` (the implementations), ``suites`` (the condition grids) and ``data`` (the released
``<corruption>.npy`` files). Order follows the paper's tables.
"""

from __future__ import annotations

#: the 15 benchmark corruptions
BENCHMARK: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog",
    "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
#: the 4 extra ("validation") corruptions
EXTRA: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
#: all 19, as the released files are named
ALL: tuple[str, ...] = BENCHMARK + EXTRA
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
