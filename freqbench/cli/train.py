"""``freqbench train``: train a registered model with a registered recipe and export its weights.

Thin wrapper over :func:`freqbench.train.recipe.train`. ``--recipe`` names an entry of
:data:`freqbench.train.recipes.RECIPES` (``standard``, ``filtered``, ``noise``, ``adversarial``,
``freqmod``); the recipe options (``--train-filter``, ``--noise-sigma``, ``--eps``, ``--alpha``,
``--steps``, ``--proportion``, ``--spectrum-strength``, ``--spectrum-knots``) fill that recipe's own
typed config, and an option the chosen recipe does not take is refused. The bundled
default model was made with (the standard recipe)::

    freqbench train --model resnet20_fashion_mnist --dataset fashion_mnist --epochs 10 --batch-size 128 \
        --lr 0.1 --seed 0 --threads 1 --out runs/train/resnet20_fashion_mnist
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from freqbench.config import DEFAULT_DATASET, DEFAULT_MODEL
from freqbench.errors import ConfigError

if TYPE_CHECKING:
    from freqbench.train.config import Precision


def _precision(text: str) -> Precision:
    from freqbench.train.config import Precision

    try:
        return Precision(text)
    except ValueError:
        raise ConfigError(
            f"--precision must be one of {', '.join(p.value for p in Precision)}, got {text!r}"
        ) from None


def train(
    model: Annotated[str, typer.Option(help="registered model to train from a random initialisation")] = (
        DEFAULT_MODEL
    ),
    dataset: Annotated[
        str, typer.Option(help="dataset: its train split trains, its test split evaluates")
    ] = (DEFAULT_DATASET),
    epochs: Annotated[int, typer.Option(min=1, help="passes over the training set")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="images per SGD step")] = 128,
    lr: Annotated[float, typer.Option(help="peak learning rate (cosine-annealed to 0)")] = 0.1,
    seed: Annotated[int, typer.Option(help="seeds initial weights, shuffling and augmentation")] = 0,
    out: Annotated[Path | None, typer.Option(help="output folder [default: runs/train/<model>]")] = None,
    resume: Annotated[
        bool, typer.Option(help="continue from the latest checkpoint in OUT (--no-resume starts over)")
    ] = True,
    limit: Annotated[
        int | None, typer.Option(help="use the documented N-image subset of each split (as `run --limit N`)")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads [default: torch's]")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto")] = "cpu",
    data_root: Annotated[Path | None, typer.Option(help="dataset folder searched first")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar per epoch")] = True,
    recipe: Annotated[
        str, typer.Option(help="training recipe: standard, filtered, noise, adversarial or freqmod")
    ] = "standard",
    train_filter: Annotated[
        str | None,
        typer.Option(help="filtered: the filter on train and test images, e.g. gaussian_filter@sigma=2"),
    ] = None,
    noise_sigma: Annotated[
        float | None, typer.Option(help="noise: Gaussian noise std in [0, 1] pixel units [default: 0.1]")
    ] = None,
    eps: Annotated[
        str | None, typer.Option(help="adversarial: Linf budget, e.g. 8/255 [default: 8/255]")
    ] = None,
    alpha: Annotated[
        str | None, typer.Option(help="adversarial: PGD step, e.g. 2/255 [default: 2/255]")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="adversarial: PGD steps [default: 7]")] = None,
    proportion: Annotated[
        float | None,
        typer.Option(help="freqmod: fraction of first-layer filters fixed to the low band [default: 0.5]"),
    ] = None,
    spectrum_strength: Annotated[
        float | None,
        typer.Option(help="freqmod: std of the log amplitude gain at each radial knot [default: 0.5]"),
    ] = None,
    spectrum_knots: Annotated[
        int | None, typer.Option(help="freqmod: radial knots from DC to Nyquist [default: 4]")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="fp32, or bf16 (autocast mixed precision for the training step)")
    ] = "fp32",
    channels_last: Annotated[
        bool,
        typer.Option(
            help="train in channels-last memory format (fastest on CPUs; changes only float rounding, "
            "like --threads: --no-channels-last re-creates the bundled weights bit for bit)"
        ),
    ] = True,
) -> None:
    """Train MODEL on DATASET with SGD (Nesterov, cosine schedule), crop + flip and RECIPE; export it."""
    from freqbench.train.recipe import TrainConfig
    from freqbench.train.recipe import train as run_training
    from freqbench.train.recipes import make_recipe

    given = {
        "train_filter": ("--train-filter", train_filter),
        "sigma": ("--noise-sigma", noise_sigma),
        "eps": ("--eps", eps),
        "alpha": ("--alpha", alpha),
        "steps": ("--steps", steps),
        "proportion": ("--proportion", proportion),
        "strength": ("--spectrum-strength", spectrum_strength),
        "knots": ("--spectrum-knots", spectrum_knots),
    }
    options = {field: value for field, (_, value) in given.items() if value is not None}
    spelled = {field: flag for field, (flag, _) in given.items()}
    chosen = make_recipe(recipe, options, spelled=spelled)

    cfg = TrainConfig(
        model=model,
        dataset=dataset,
        out=out if out is not None else Path("runs/train") / model.replace(":", "_").replace("/", "_"),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        limit=limit,
        resume=resume,
        device=device,
        num_threads=threads,
        recipe=chosen,
        precision=_precision(precision),
        channels_last=channels_last,
    )
    result = run_training(cfg, data_root=data_root, progress=progress)
    typer.echo(f"test accuracy {result.test_accuracy:.4f} after {len(result.history)} epochs")
    typer.echo(f"weights: {result.weights}")
    typer.echo(f"sha256:  {result.sha256}")
    typer.echo(f"load it: --model {result.model_spec}")
