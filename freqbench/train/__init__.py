"""Training recipes: the settings of a run, the recipes, their state, checkpoints and augmentation.

``config`` holds :class:`~freqbench.train.config.TrainConfig` and the result; ``recipes`` the registered
recipes (what each does to a training batch); ``recipe`` the standard supervised loop that produced the
bundled default weights; ``state`` the optimiser, schedule, resume and one epoch; ``checkpoints`` the
atomic per-epoch checkpoints; ``augment`` seeded, batched crops and flips; ``spectrum_augment`` the
``freqmod`` recipe's power-spectrum perturbation.
"""
