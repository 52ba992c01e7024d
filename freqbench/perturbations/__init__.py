"""Input-only perturbations: frequency filters and CIFAR-10-C corruptions.

Every perturbation is a function plus a :class:`Perturbation` module registered in ``PERTURBATIONS``
(contract in :mod:`~freqbench.perturbations.base`; user-written parameters are checked by
:mod:`~freqbench.perturbations.params`). :mod:`~freqbench.perturbations.frequency` holds the radial
low-, high- and band-pass filters, the seed study's Gaussian blur and residual and phase scrambling,
with the clamp diagnostics of :mod:`~freqbench.perturbations.clamping`;
:mod:`freqbench.perturbations.corruptions` holds the 19 CIFAR-10-C corruptions, one module per family.

Importing this package is cheap, and so is a lookup: the table below says which module registers each
name, so ``PERTURBATIONS.get("low_pass_ideal")`` imports only the frequency filters (not torchvision,
which the digital corruptions need), and listing imports nothing. The corruption modules register
their classes in their class statements; the table is checked against them by the tests.
"""

from freqbench.perturbations.base import PERTURBATIONS, Perturbation

_FREQUENCY = tuple(
    f"{band}_pass_{profile}"
    for band in ("low", "high", "band")
    for profile in ("ideal", "gaussian", "butterworth")
)
#: module -> the names its import registers
_MODULES: dict[str, tuple[str, ...]] = {
    "freqbench.perturbations.frequency": (
        *_FREQUENCY,
        "gaussian_filter",
        "gaussian_residual",
        "phase_scramble",
    ),
    "freqbench.perturbations.corruptions.noise": (
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "speckle_noise",
    ),
    "freqbench.perturbations.corruptions.blur": (
        "defocus_blur",
        "glass_blur",
        "motion_blur",
        "zoom_blur",
        "gaussian_blur",
    ),
    "freqbench.perturbations.corruptions.weather": ("snow", "frost", "fog"),
    "freqbench.perturbations.corruptions.spatter": ("spatter",),
    "freqbench.perturbations.corruptions.digital": (
        "brightness",
        "contrast",
        "saturate",
        "pixelate",
        "jpeg_compression",
    ),
    "freqbench.perturbations.corruptions.elastic": ("elastic_transform",),
}
for _module, _names in _MODULES.items():
    PERTURBATIONS.register_lazy_module(_module, _names)

__all__ = ["PERTURBATIONS", "Perturbation"]
