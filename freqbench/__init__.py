"""freqbench: how image classifiers depend on frequencies.

The public entry points live in :mod:`freqbench.api`; this package root stays import-light so that
``freqbench report`` and the store never import torch.
"""

from freqbench._version import __version__

__all__ = ["__version__"]
