"""Input-only perturbations: frequency filters and CIFAR-10-C corruptions.

Every perturbation is a function plus a :class:`Perturbation` module registered in ``PERTURBATIONS``
(contract in :mod:`~freqbench.perturbations.base`; user-written parameters are checked by
:mod:`~freqbench.perturbations.params`). :mod:`~freqbench.perturbations.frequency` holds the radial
low-, high- and band-pass filters, the seed study's Gaussian blur and residual and phase scrambling,
with the clamp diagnostics of :mod:`~freqbench.perturbations.clamping`;
:mod:`freqbench.perturbations.corruptions` holds the 19 CIFAR-10-C corruptions, one module per family.

Importing this package is cheap; the modules that register entries are imported on first lookup.
"""

from freqbench.perturbations.base import PERTURBATIONS, Perturbation

for _module in (
    "freqbench.perturbations.frequency",
    "freqbench.perturbations.corruptions.noise",
    "freqbench.perturbations.corruptions.digital",
    "freqbench.perturbations.corruptions.elastic",
    "freqbench.perturbations.corruptions.blur",
    "freqbench.perturbations.corruptions.weather",
    "freqbench.perturbations.corruptions.spatter",
):
    PERTURBATIONS.register_module(_module)

__all__ = ["PERTURBATIONS", "Perturbation"]
