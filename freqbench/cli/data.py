"""``freqbench data``: what is in the cache, importing files into it, making CIFAR-10-C-style files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from freqbench.cli.main import data_app, err, out


@data_app.command("ls")
def data_ls(
    data_root: Annotated[Path | None, typer.Option(help="also look here first")] = None,
) -> None:
    """Where each dataset split is found right now (root, cache, system) or the command to import it."""
    from freqbench.data.catalog import list_datasets

    table = Table("dataset", "split", "found", "where / how to get it", title="datasets")
    for st in list_datasets(root=data_root):
        where = str(st.path) if st.path else (st.hint or "")
        table.add_row(st.name, st.split, st.origin, where)
    out.print(table)


@data_app.command("import")
def data_import(
    name: Annotated[str, typer.Argument(help="dataset (cifar10, fashion_mnist, cifar10c...) or model name")],
    paths: Annotated[
        list[Path],
        typer.Argument(help="archive, folder or files to verify and copy into the cache (all or nothing)"),
    ],
) -> None:
    """Verify checksums/format and copy a dataset or pretrained weights into the freqbench cache."""
    from freqbench import api

    dest = api.import_data(name, paths, report=lambda line: err.print(line, highlight=False, soft_wrap=True))
    out.print(f"imported {name} -> {dest}", highlight=False, soft_wrap=True)


@data_app.command("make-c")
def make_c(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="source dataset (test split)")],
    out_dir: Annotated[Path, typer.Option("--out", help="output folder (gets <DATASET>-C/)")],
    corruptions: Annotated[list[str] | None, typer.Option(help="corruption names (default: the 15)")] = None,
    severities: Annotated[
        list[str] | None, typer.Option(help="must be all of 1..5: the released layout holds five per file")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed (same streams as `freqbench run --seed`)")] = 0,
    batch_size: Annotated[int, typer.Option(help="batch size")] = 256,
    data_root: Annotated[Path | None, typer.Option(help="look for the dataset here first")] = None,
    limit: Annotated[
        int | None, typer.Option(help="only the documented N-image subset (as `run --limit N`)")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda")] = "auto",
) -> None:
    """Write a dataset corrupted in the released CIFAR-10-C layout (<corruption>.npy + labels.npy)."""
    from freqbench import api
    from freqbench.engine.progress import RichProgress

    names = tuple(v.strip() for item in corruptions or () for v in item.split(",") if v.strip()) or None
    with RichProgress(err) as progress:
        made = api.make_c(
            dataset,
            out_dir,
            corruptions=names,
            severities=tuple(int(v) for item in severities or () for v in item.split(",") if v.strip())
            or None,
            seed=seed,
            batch_size=batch_size,
            data_root=data_root,
            limit=limit,
            device=device,
            progress=progress,
        )
    out.print(f"wrote {made.folder}", highlight=False, soft_wrap=True)
    out.print(f"read it back with: {made.command}", highlight=False, soft_wrap=True)
