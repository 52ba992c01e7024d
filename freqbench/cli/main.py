"""The ``freqbench`` command line: thin typer commands over :mod:`freqbench.api`.

Every :class:`~freqbench.errors.FreqbenchError` becomes a one-line message and exit code 2;
``freqbench check`` exits 1 when a run moved away from its baseline (either way) or misses
records of it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from freqbench.config import DEFAULT_DATASET, DEFAULT_MODEL, PROBE_PREFIX, RunConfig
from freqbench.errors import ConfigError, FreqbenchError

if TYPE_CHECKING:
    from freqbench.api import RunResult
    from freqbench.store.run import Record, RunStore

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


def _say(console: Console, text: str, style: str | None = None) -> None:
    """One line, as written: no markup, no highlighting, no wrapping at the terminal width."""
    console.print(" ".join(text.split("\n")), style=style, markup=False, highlight=False, soft_wrap=True)


def _interrupted(config: RunConfig) -> None:
    """The note after Ctrl-C: how much of the run is stored and the command that resumes it."""
    from freqbench import api
    from freqbench.store.run import RunStore

    try:
        stored = len(RunStore(config.out).completed_keys())
    except FreqbenchError:
        stored = 0
    total = len(api.get_suite(config.suite, config.options).conditions) * len(config.models)
    _say(
        err,
        f"interrupted: {stored} of {total} condition(s) stored in {config.out}; resume with "
        f"`freqbench run --resume --out {shlex.quote(str(config.out))}`",
        style="yellow",
    )


# `freqbench run` options, one alias each so the command's signature reads as a list
SuiteArg = Annotated[str | None, typer.Option(help="suite name (`freqbench ls suites`); default corruptions")]
ModelArg = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        help="one model per option, repeatable: a name, a wildcard ('resnet*'), SOURCE:REST taken "
        "literally (timm:NAME?pretrained=false, checkpoint:PATH; quote a path holding '+' as "
        "checkpoint:'a+b.pt'), optionally +FILTER (resnet20_cifar10+low_pass_butterworth@r=8,order=2); "
        "never split at commas",
    ),
]
DatasetArg = Annotated[str | None, typer.Option("--dataset", "-d", help="dataset name or imagefolder:PATH")]
LimitArg = Annotated[
    int | None,
    typer.Option(help="evaluate the documented N-sample subset: fixed, seed-independent, nested (README)"),
]
BatchArg = Annotated[int | None, typer.Option(help="starting batch size (halved on OOM)")]
DeviceArg = Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N")]
SeedArg = Annotated[int | None, typer.Option(help="run seed")]
OutArg = Annotated[Path | None, typer.Option("--out", help="run directory (default runs/<suite>-<dataset>)")]
ResumeArg = Annotated[
    bool,
    typer.Option(
        help="continue the run stored in --out with its stored settings (only --batch-size, "
        "--device, --threads and --compile may change)"
    ),
]
ForceArg = Annotated[
    bool, typer.Option(help="delete the run stored in --out (another configuration) and start over")
]
DataRootArg = Annotated[Path | None, typer.Option(help="look for datasets here first")]
SplitArg = Annotated[str | None, typer.Option(help="dataset split")]
EpsArg = Annotated[
    list[str] | None,
    typer.Option(help="attack budgets as written, e.g. 2/255,8/255,L2:0.5 (no prefix: Linf)"),
]
CorruptionsArg = Annotated[list[str] | None, typer.Option(help="restrict a corruption suite")]
SeveritiesArg = Annotated[list[str] | None, typer.Option(help="restrict severities, e.g. 1,3,5")]
BaselineArg = Annotated[str | None, typer.Option(help="baseline model for mCE (must be one of --model)")]
ThreadsArg = Annotated[int | None, typer.Option(help="CPU threads for torch (at least 1)")]
PrecisionArg = Annotated[
    str | None,
    typer.Option(
        help="fp32 (default), or bf16 / fp16: the forward pass under autocast, refused where it agrees "
        "with fp32 on less than 99% of the first 1,024 images (decides results: reports show it)"
    ),
]
CompileArg = Annotated[
    str | None,
    typer.Option(
        "--compile",
        help="auto (default: torch.compile on a CPU when the run scores at least 200,000 images, where "
        "it pays for its minute of compiling), on or off; taken only where it keeps eager fp32's "
        "predictions on a probe batch, and a failure falls back to eager, with a warning",
    ),
]
DetailsArg = Annotated[bool, typer.Option(help="also print the per-condition table")]
NprocArg = Annotated[
    int | None,
    typer.Option(
        help="split every condition's samples over N processes on this machine (torchrun --standalone; "
        "the records are those of one process); on several machines start torchrun yourself (README)"
    ),
]
#: a `--nproc` launch hands its workers the resolved configuration (RunConfig.to_dict as JSON)
LaunchedArg = Annotated[str | None, typer.Option(hidden=True)]


@app.command()
def run(
    suite: SuiteArg = None,
    model: ModelArg = None,
    dataset: DatasetArg = None,
    limit: LimitArg = None,
    batch_size: BatchArg = None,
    device: DeviceArg = None,
    seed: SeedArg = None,
    out_dir: OutArg = None,
    resume: ResumeArg = False,
    force: ForceArg = False,
    data_root: DataRootArg = None,
    split: SplitArg = None,
    eps: EpsArg = None,
    corruptions: CorruptionsArg = None,
    severities: SeveritiesArg = None,
    baseline: BaselineArg = None,
    threads: ThreadsArg = None,
    precision: PrecisionArg = None,
    compile_: CompileArg = None,
    details: DetailsArg = False,
    nproc: NprocArg = None,
    launched_config: LaunchedArg = None,
) -> None:
    """Evaluate models on a dataset under a suite of conditions; prints tables, writes report.md.

    An --out directory holds one configuration: a run whose result-deciding settings differ from the
    stored ones is refused (use another --out, --resume, or --force). Ctrl-C stops after saying what
    is stored and how to resume.
    """
    if resume and force:
        raise ConfigError("--resume continues the stored run and --force deletes it: pass one of them")
    given = {
        "suite": suite,
        "dataset": dataset,
        "limit": limit,
        "batch_size": batch_size,
        "device": device,
        "seed": seed,
        "data_root": None if data_root is None else data_root.expanduser().resolve(),
        "split": split,
        "num_threads": threads,
        "precision": precision,
        "compile": compile_,
    }
    if launched_config is not None:  # a worker of `--nproc`: the parent resolved the configuration
        config = RunConfig.from_dict(json.loads(launched_config))
    else:
        options = _given_options(eps=eps, corruptions=corruptions, severities=severities, baseline=baseline)
        config = _run_config(given, options, models=model, out_dir=out_dir, resume=resume)
    if nproc is not None:
        _check_nproc(nproc)
        if nproc > 1:
            raise typer.Exit(_launch(config, nproc, force=force, details=details))
    result = _execute(config, force=force)
    if result.writer:  # rank 0 of a sharded run, or the only process
        _print_run(result, details=details)


def _check_nproc(nproc: int) -> None:
    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {nproc}")
    if "WORLD_SIZE" in os.environ:
        raise ConfigError(
            "--nproc launches torchrun itself, and this process already runs under torchrun "
            f"(WORLD_SIZE={os.environ['WORLD_SIZE']}); leave --nproc out"
        )


def _launch(config: RunConfig, nproc: int, *, force: bool, details: bool) -> int:
    """``config`` in ``nproc`` torchrun processes on this machine; their exit code (130 on Ctrl-C)."""
    from freqbench.engine.distributed import torchrun_command

    args = ["-m", "freqbench", "run", "--launched-config", json.dumps(config.to_dict())]
    args += ["--force"] * force + ["--details"] * details
    proc = subprocess.Popen(torchrun_command(nproc, args))
    try:
        return proc.wait()
    except KeyboardInterrupt:  # the workers got the Ctrl-C too: let rank 0 say what is stored
        proc.wait()
        return 130


def _given_options(
    *,
    eps: list[str] | None,
    corruptions: list[str] | None,
    severities: list[str] | None,
    baseline: str | None,
) -> dict[str, Any]:
    """The suite options given on the command line, parsed (options not given are left out)."""
    from freqbench import api

    sev = _split_list(severities)
    try:
        sev_given = tuple(int(s) for s in sev) if sev else None
    except ValueError as e:
        raise ConfigError(f"--severities takes integers 1..5, got {severities}") from e
    options = {
        "eps": _split_list(eps),
        "corruptions": _split_list(corruptions),
        "severities": sev_given,
        "baseline": None if baseline is None else api.canonical_model_spec(baseline),
    }
    return {k: v for k, v in options.items() if v is not None}


def _run_config(
    given: dict[str, Any],
    options: dict[str, Any],
    *,
    models: list[str] | None,
    out_dir: Path | None,
    resume: bool,
) -> RunConfig:
    """The configuration of a run: the stored one (``--resume``) or the defaults, with what was given.

    Raises:
        ConfigError: ``--resume`` without ``--out`` or with options that change the stored results, or
            a ``--baseline`` that is not evaluated.
    """
    from freqbench import api
    from freqbench.store.run import RunStore

    changes = {k: v for k, v in given.items() if v is not None}
    if models:
        changes["models"] = api.expand_models(models)
    if resume:
        if out_dir is None:
            raise ConfigError("--resume needs --out RUN_DIR (the directory of the run to continue)")
        base = RunStore(out_dir).config().replace(out=out_dir)
        if base.suite.startswith(PROBE_PREFIX):
            raise ConfigError(
                f"{out_dir} holds a probe run ({base.suite}); resume it with `freqbench probe "
                f"{base.suite.removeprefix(PROBE_PREFIX)} --resume --out {out_dir}`"
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
    config = base.replace(**changes, options=dataclasses.replace(base.options, **options))
    if resume and base.result_differences(config):
        raise ConfigError(
            f"--resume continues the run in {out_dir} with its stored settings, and these options would "
            f"change its results (stored vs given: {'; '.join(base.result_differences(config))}); drop "
            "them, or start a new run with another --out"
        )
    baseline = options.get("baseline")
    if baseline and baseline not in config.models:
        raise ConfigError(f"--baseline {baseline!r} must also be evaluated: add --model {baseline}")
    return config


def _execute(config: RunConfig, *, force: bool) -> RunResult:
    """Run ``config`` with a progress display; Ctrl-C says what is stored and exits 130."""
    from freqbench import api
    from freqbench.engine.distributed import World
    from freqbench.engine.progress import RichProgress

    world = World.from_env()
    if not world.writer:  # another rank of a sharded run: rank 0 speaks for the job
        try:
            return api.run(config, force=force)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    shards = f" processes={world.size}" if world.sharded else ""
    err.print(
        f"[bold]freqbench run[/] suite={config.suite} models={', '.join(config.models)} "
        f"dataset={config.dataset} out={config.out}{shards}"
    )
    try:
        with RichProgress(err) as progress:
            return api.run(config, progress=progress, force=force)
    except KeyboardInterrupt:
        _interrupted(config)
        raise typer.Exit(130) from None


def _print_run(result: RunResult, *, details: bool) -> None:
    """The run's tables on the terminal, then its plots and ``report.md`` in the run directory."""
    _write_report(result.store, result.records, evaluated=result.evaluated, details=details)


def _write_report(
    store: RunStore,
    records: list[Record],
    *,
    evaluated: int,
    details: bool = False,
    what: str = "condition(s)",
) -> None:
    """Tables on the terminal, then plots and ``report.md`` (linking them) in the run directory."""
    from freqbench import api
    from freqbench.report.plots import write_plots
    from freqbench.report.render import print_console
    from freqbench.store.run import REPORT, atomic_write_bytes

    print_console(records, store.read_manifest(), console=out, details=details)
    write_plots(store)  # before report.md, which links them
    md = store.root / REPORT
    atomic_write_bytes(md, api.render(store.root, "md").encode())
    err.print(f"{evaluated} {what} evaluated; report: {md}")


@app.command()
def ls(
    kind: Annotated[
        str, typer.Argument(help="models, datasets, suites, perturbations, attacks, probes or recipes")
    ],
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
        str, typer.Option("--format", "-f", help="console, md, csv, json, latex or html")
    ] = "console",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write to this file (html: default RUN_DIR/report.html)"),
    ] = None,
    details: Annotated[bool, typer.Option(help="console: also print the per-condition table")] = False,
    plots: Annotated[
        bool, typer.Option("--plots", help="also rewrite RUN_DIR/plots/*.png and *.svg")
    ] = False,
) -> None:
    """Rebuild a run's tables (and plots) from its stored records and arrays (no torch needed).

    --format html writes one self-contained page (tables, plots embedded) to RUN_DIR/report.html
    or --output; md links the plots in RUN_DIR/plots that exist (`freqbench run` writes them).
    """
    from freqbench.report.render import Format, print_console, render_run
    from freqbench.store.run import RunStore, atomic_write_bytes

    try:
        fmt = Format(format)
    except ValueError as e:
        raise ConfigError(
            f"--format must be one of {', '.join(f.value for f in Format)}, got {format!r}"
        ) from e
    if output is not None and fmt is Format.CONSOLE:
        raise ConfigError("--output writes a file: pass --format md, csv, json, latex or html with it")
    if output is not None and output.is_dir():
        raise ConfigError(f"--output {output} is a directory; give a file path, e.g. {output / 'report.md'}")
    store = RunStore(run_dir)
    manifest, records = store.read_manifest(), store.records()
    if plots:
        from freqbench.report.plots import write_plots

        written = write_plots(store)
        _say(err, f"{len(written)} plot file(s) in {store.root / 'plots'}")
    if fmt is Format.CONSOLE:
        print_console(records, manifest, console=out, details=details)
        return
    text = render_run(store, fmt)
    if fmt is Format.HTML and output is None:
        output = store.root / "report.html"
    if output:
        atomic_write_bytes(output, text.encode())
        if fmt is Format.HTML:
            _say(err, f"report: {output}")
    else:
        sys.stdout.write(text)


@app.command()
def check(
    run_dir: Annotated[Path, typer.Argument(help="a run directory (the --out of `freqbench run`)")],
    baseline: Annotated[Path, typer.Option(help="baseline records file (JSONL, a run's records.jsonl)")],
    tolerance: Annotated[
        float,
        typer.Option(
            help="allowed change either way: percentage points for accuracy and success_rate, the "
            "metric's unit otherwise; finite, >= 0"
        ),
    ] = 0.0,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="metric to compare; repeatable or comma-separated (default accuracy)"),
    ] = None,
) -> None:
    """Fail (exit 1) when a baseline record moved beyond the tolerance, either way, or is missing.

    Records are compared only when what decides them agrees (suite, n, split, limit, subset, seed,
    suite version, weights); otherwise, and for a missing run or baseline, it is an error (exit 2).
    """
    from freqbench.report.gate import DEFAULT_METRICS, check_run  # torch-free, like `report`

    metrics = _split_list(metric) or DEFAULT_METRICS
    result = check_run(run_dir, baseline, tolerance=tolerance, metrics=metrics)
    names = ", ".join(result.metrics)
    if not result.passed:
        for line in result.lines():
            err.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
        err.print(
            f"check failed: {len(result.findings)} of {result.checked} baseline {names} record(s) "
            f"moved beyond {result.tolerance:g} or are missing",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    note = f"; {result.unchecked} run record(s) not in the baseline, unchecked" if result.unchecked else ""
    out.print(
        f"check passed: {result.checked} baseline {names} record(s) within {result.tolerance:g}{note}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except FreqbenchError as e:
        # a rank of a sharded run (torchrun) says which one it is
        size, rank = os.environ.get("WORLD_SIZE", "1"), os.environ.get("RANK")
        sharded = size != "1" and rank is not None and not str(e).startswith("rank ")
        where = f"rank {rank} of {size}: " if sharded else ""
        _say(err, f"error: {where}{e}", style="red")
        sys.exit(2)


# subcommands that live in their own modules register on the shared apps
from freqbench.cli import data as _data  # noqa: E402, F401
from freqbench.cli.probe import probe as _probe  # noqa: E402
from freqbench.cli.train import train as _train  # noqa: E402

app.command("probe")(_probe)
app.command("train")(_train)
