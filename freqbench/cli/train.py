"""``freqbench train``: train a registered model with the standard recipe and export its weights.

Thin wrapper over :func:`freqbench.train.recipe.train`. The bundled default model was made with::

    freqbench train --model resnet20_fashion_mnist --dataset fashion_mnist --epochs 10 --batch-size 128 \
        --lr 0.1 --seed 0 --threads 1 --out runs/train/resnet20_fashion_mnist
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from freqbench.config import DEFAULT_DATASET, DEFAULT_MODEL


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
    limit: Annotated[int | None, typer.Option(help="use only the first N images of each split")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads [default: torch's]")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto")] = "cpu",
    data_root: Annotated[Path | None, typer.Option(help="dataset folder searched first")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar per epoch")] = True,
) -> None:
    """Train MODEL on DATASET with SGD (Nesterov, cosine schedule), crop + flip; export the weights."""
    from freqbench.train.recipe import TrainConfig
    from freqbench.train.recipe import train as run_training

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
    )
    result = run_training(cfg, data_root=data_root, progress=progress)
    typer.echo(f"test accuracy {result.test_accuracy:.4f} after {len(result.history)} epochs")
    typer.echo(f"weights: {result.weights}")
    typer.echo(f"sha256:  {result.sha256}")
    typer.echo(f"load it: --model checkpoint:{result.checkpoint}")
