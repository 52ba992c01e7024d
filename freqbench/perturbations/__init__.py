"""Input-only perturbations: frequency filters and CIFAR-10-C corruptions.

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
