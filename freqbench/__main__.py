"""``python -m freqbench``: the ``freqbench`` command line, so ``torchrun -m freqbench run ...`` works."""

from freqbench.cli.main import main

if __name__ == "__main__":
    main()
