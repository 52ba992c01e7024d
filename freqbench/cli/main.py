"""The ``freqbench`` command line: thin typer commands over :mod:`freqbench.api`.

Every :class:`~freqbench.errors.FreqbenchError` becomes a one-line message and exit code 2;
``freqbench check`` exits 1 when a run falls below its baseline.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from freqbench.config import DEFAULT_DATASET, DEFAULT_MODEL, RunConfig, SuiteOptions
from freqbench.errors import ConfigError, FreqbenchError

app = typer.Typer(
    name="freqbench",
    help="Measure how image classifiers depend on frequencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Datasets and weights in the freqbench cache.", no_args_is_help=True)
app.add_typer(data_app, name="data")
out = Console()
err = Console(stderr=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60]


def _split_list(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _stored_options(stored: dict[str, Any]) -> SuiteOptions:
    def tup(v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    return SuiteOptions(
        eps=tup(stored.get("eps")),
        corruptions=tup(stored.get("corruptions")),
        severities=tup(stored.get("severities")),
        baseline=stored.get("baseline"),
    )


@app.command()
def run(
    suite: Annotated[
        str | None, typer.Option(help="suite name (`freqbench ls suites`); default corruptions")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="model name or wildcard; repeatable")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="dataset name or imagefolder:PATH")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="evaluate the first N samples (canonical order)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="starting batch size (halved on OOM)")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N")] = None,
    seed: Annotated[int | None, typer.Option(help="run seed")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="run directory (default runs/<suite>-<dataset>)")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue the run stored in --out with its stored settings")
    ] = False,
    data_root: Annotated[Path | None, typer.Option(help="look for datasets here first")] = None,
    split: Annotated[str | None, typer.Option(help="dataset split")] = None,
    eps: Annotated[
        list[str] | None,
        typer.Option(help="attack budgets as written, e.g. 2/255,8/255,L2:0.5 (no prefix: Linf)"),
    ] = None,
    corruptions: Annotated[list[str] | None, typer.Option(help="restrict a corruption suite")] = None,
    severities: Annotated[list[str] | None, typer.Option(help="restrict severities, e.g. 1,3,5")] = None,
    baseline: Annotated[
        str | None, typer.Option(help="baseline model for mCE (must be one of --model)")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch")] = None,
    details: Annotated[bool, typer.Option(help="also print the per-condition table")] = False,
) -> None:
    """Evaluate models on a dataset under a suite of conditions; prints tables, writes report.md."""
    from freqbench import api
    from freqbench.engine.progress import RichProgress
    from freqbench.report.render import print_console
    from freqbench.store.run import RunStore

    given: dict[str, Any] = {
        "suite": suite,
        "dataset": dataset,
        "limit": limit,
        "batch_size": batch_size,
        "device": device,
        "seed": seed,
        "data_root": data_root,
        "split": split,
        "num_threads": threads,
    }
    if model:
        given["models"] = api.expand_models(_split_list(model) or ())
    sev = _split_list(severities)
    eps_given = _split_list(eps)
    corr_given = _split_list(corruptions)
    try:
        sev_given = tuple(int(s) for s in sev) if sev else None
    except ValueError as e:
        raise ConfigError(f"--severities takes integers 1..5, got {severities}") from e
    if resume:
        if out_dir is None:
            raise ConfigError("--resume needs --out RUN_DIR (the directory of the run to continue)")
        stored = RunStore(out_dir).read_manifest()["config"]
        base = RunConfig(
            suite=stored["suite"],
            models=tuple(stored["models"]),
            dataset=stored["dataset"],
            split=stored["split"],
            limit=stored["limit"],
            batch_size=stored["batch_size"],
            device=stored["device"],
            seed=stored["seed"],
            out=out_dir,
            data_root=Path(stored["data_root"]) if stored["data_root"] else None,
            options=_stored_options(stored["options"]),
            num_threads=stored.get("num_threads"),
        )
    else:
        name = given["suite"] or "corruptions"
        ds = given["dataset"] or DEFAULT_DATASET
        base = RunConfig(
            suite=name,
            models=(DEFAULT_MODEL,),
            dataset=ds,
            out=out_dir or Path("runs") / _slug(f"{name}-{ds}"),
        )
    changes = {k: v for k, v in given.items() if v is not None}
    old = base.options
    new_opts = SuiteOptions(
        eps=eps_given if eps_given is not None else old.eps,
        corruptions=corr_given if corr_given is not None else old.corruptions,
        severities=sev_given if sev_given is not None else old.severities,
        baseline=baseline if baseline is not None else old.baseline,
    )
    config = base.replace(**changes, options=new_opts)
    if baseline and baseline not in config.models:
        raise ConfigError(f"--baseline {baseline!r} must also be evaluated: add --model {baseline}")

    err.print(
        f"[bold]freqbench run[/] suite={config.suite} models={', '.join(config.models)} "
        f"dataset={config.dataset} out={config.out}"
    )
    with RichProgress(err) as progress:
        result = api.run(config, progress=progress)
    manifest = result.store.read_manifest()
    print_console(result.records, manifest, console=out, details=details)
    md = result.store.root / "report.md"
    md.write_text(api.render(result.store.root, "md"))
    err.print(f"{result.evaluated} condition(s) evaluated; report: {md}")


@app.command()
def ls(
    kind: Annotated[str, typer.Argument(help="models, datasets, suites, perturbations or attacks")],
    pattern: Annotated[str, typer.Argument(help="fnmatch pattern, e.g. 'resnet*'")] = "*",
) -> None:
    """List registered names."""
    from freqbench import api

    for name in api.list_names(kind, pattern):
        out.print(name, highlight=False)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="console, md, csv, json or latex")
    ] = "console",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    details: Annotated[bool, typer.Option(help="console: also print the per-condition table")] = False,
) -> None:
    """Rebuild a run's tables from its stored records (no torch needed)."""
    from freqbench.report.render import RENDERERS, Format, print_console
    from freqbench.store.run import RunStore

    try:
        fmt = Format(format)
    except ValueError as e:
        raise ConfigError(
            f"--format must be one of {', '.join(f.value for f in Format)}, got {format!r}"
        ) from e
    store = RunStore(run_dir)
    records, manifest = store.records(), store.read_manifest()
    if fmt is Format.CONSOLE:
        print_console(records, manifest, console=out, details=details)
        return
    text = RENDERERS[fmt](records, manifest)
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


@app.command()
def check(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    baseline: Annotated[Path, typer.Option(help="baseline records file (JSONL)")],
    tolerance: Annotated[float, typer.Option(help="allowed drop in percentage points")] = 0.0,
) -> None:
    """Fail (exit 1) when a condition dropped below the baseline or is missing."""
    from freqbench import api

    problems = api.check(run_dir, baseline, tolerance=tolerance)
    if problems:
        for p in problems:
            err.print(f"[red]{p}[/]", highlight=False)
        err.print(f"[red]check failed: {len(problems)} problem(s)[/]")
        raise typer.Exit(1)
    out.print(f"check passed: every baseline condition within {tolerance:g} points")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except FreqbenchError as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        sys.exit(2)


# subcommands that live in their own modules register on the shared apps
from freqbench.cli import data as _data  # noqa: E402, F401
from freqbench.cli.train import train as _train  # noqa: E402

app.command("train")(_train)
