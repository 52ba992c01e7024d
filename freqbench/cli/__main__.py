"""``python -m freqbench.cli``: the same entry point as the ``freqbench`` console script."""

from freqbench.cli.main import main

main()
