"""The fast engine (freqbench.engine.fast): batch norm folding against the formula and the unfolded model,
every step gated on the probe batch (channels-last, compile, folding), compile failures reported,
bf16 agreement measured and refused below the threshold, the path in the manifest and the report header,
results on the device until the condition ends, batches read ahead."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.config import PRECISIONS, RESULT_FIELDS, RunConfig
from freqbench.data.base import ArrayDataset, DatasetInfo
from freqbench.engine import batches as batches_module
from freqbench.engine import fast
from freqbench.engine.collector import Collector
from freqbench.engine.fast import (
    MIN_AGREEMENT,
    CompileFallbackWarning,
    EngineOptions,
    fold_batch_norm,
    prepare_model,
    record_engine,
)
from freqbench.engine.loop import ModelUnderTest, condition_key, evaluate_condition, run_model
from freqbench.engine.progress import QuietProgress
from freqbench.engine.steps import Step, StepContext, build_step
from freqbench.errors import ConfigError
from freqbench.models.base import ModelConfig
from freqbench.models.cifar_resnet import CifarResNet
from freqbench.nn.normalize import Classifier, Normalize
from freqbench.report.tables import ReportContext
from freqbench.store.run import RunStore
from freqbench.suites.base import CLEAN, Suite, condition

CPU = torch.device("cpu")
NOISE = condition("gaussian_noise", severity=1)


def _dataset(n: int = 64, size: int = 16, classes: int = 10) -> ArrayDataset:
    """Smooth random images (a 4x4 grid upsampled, plus a little noise): closer to photographs than
    white noise, so the networks' predictions are not all near-ties."""
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.float64)
    up = np.repeat(np.repeat(coarse, size // 4, axis=1), size // 4, axis=2)
    img = np.clip(up + rng.normal(0, 12, up.shape), 0, 255).astype(np.uint8)
    return ArrayDataset(
        DatasetInfo("smooth", "test", classes, tuple(map(str, range(classes))), "memory"),
        img,
        rng.integers(0, classes, n),
    )


def _t(t: torch.Tensor | None) -> torch.Tensor:
    assert t is not None
    return t


def _resnet(seed: int = 0) -> nn.Module:
    """ResNet-20 behind freqbench's Normalize (which torch.fx cannot trace), with batch norms whose
    statistics and affine parameters are not the identity, in eval mode."""
    torch.manual_seed(seed)
    net = CifarResNet(20, num_classes=10)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            _t(m.running_mean).uniform_(-0.5, 0.5)
            _t(m.running_var).uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return Classifier(Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), net).eval()


def _under_test(module: nn.Module, name: str = "rn") -> ModelUnderTest:
    cfg = ModelConfig(name, "resnet20", "smooth", 10, (3, 16, 16), (0.0,) * 3, (1.0,) * 3)
    return ModelUnderTest(name, module, cfg, "weights-sha")


def _images(data: ArrayDataset) -> torch.Tensor:
    return data.batch(np.arange(len(data)))[0]


# folding ------------------------------------------------------------------------------------------
def test_folded_conv_matches_the_formula() -> None:
    torch.manual_seed(3)
    conv = nn.Conv2d(3, 4, 3, bias=True)
    bn = nn.BatchNorm2d(4, eps=1e-3)
    _t(bn.running_mean).uniform_(-1, 1)
    _t(bn.running_var).uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    seq = nn.Sequential(conv, bn).eval()
    folded, count = fold_batch_norm(seq)
    assert count == 1
    (layer,) = [m for m in folded.modules() if isinstance(m, nn.Conv2d)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    scale = bn.weight.detach().double().numpy() / np.sqrt(_t(bn.running_var).double().numpy() + 1e-3)
    w = conv.weight.detach().double().numpy() * scale[:, None, None, None]
    b = (
        _t(conv.bias).detach().double().numpy() - _t(bn.running_mean).double().numpy()
    ) * scale + bn.bias.detach().numpy()
    np.testing.assert_allclose(layer.weight.detach().double().numpy(), w, rtol=1e-6, atol=1e-7)
    assert layer.bias is not None
    np.testing.assert_allclose(layer.bias.detach().double().numpy(), b, rtol=1e-6, atol=1e-6)


def test_folded_resnet_gives_the_unfolded_logits_and_leaves_the_module_alone() -> None:
    module, data = _resnet(), _dataset()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    folded, count = fold_batch_norm(module)
    assert count == 19  # every conv-BN pair of ResNet-20 (stem + 18 in the blocks); Normalize kept
    assert isinstance(folded.normalize, Normalize)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = _images(data)
    with torch.no_grad():
        want, got = module(x), folded(x)
    scale = want.abs().max().item()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-5 * scale)
    assert torch.equal(got.argmax(1), want.argmax(1))
    after = module.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in module.modules()) == 19


# the gate -----------------------------------------------------------------------------------------
def test_fp32_path_folds_and_goes_channels_last_with_the_same_predictions() -> None:
    module, data = _resnet(), _dataset()
    prepared = prepare_model(module, data, CPU)
    p = prepared.path
    assert (p.bn_folded, p.folded_layers, p.channels_last, p.compiled) == (True, 19, True, False)
    assert (p.precision, p.agreement, p.probe_images, p.notes) == ("fp32", 1.0, len(data), ())
    x = _images(data)
    with torch.no_grad():
        want = module(x)
    got = prepared(x)
    assert got.dtype == torch.float32 and torch.equal(got.argmax(1), want.argmax(1))
    assert 0 < p.max_logit_diff < 1e-4 * want.abs().max().item()


class _LayoutSensitive(nn.Module):
    """Reverses its logits for channels-last input: a model whose predictions depend on memory layout."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        flip = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        return out.flip(1) if flip else out


def test_channels_last_that_changes_predictions_is_dropped_and_said() -> None:
    module, data = _LayoutSensitive(_resnet()).eval(), _dataset()
    p = prepare_model(module, data, CPU).path
    assert not p.channels_last and p.bn_folded and p.agreement == 1.0
    assert any("channels-last dropped: it changed the prediction of" in n for n in p.notes)


def test_folding_that_changes_predictions_falls_back_to_the_module(monkeypatch) -> None:
    module, data = _resnet(), _dataset()

    def broken_fold(m: nn.Module) -> tuple[nn.Module, int]:
        folded, count = fold_batch_norm(m)
        return nn.Sequential(folded, _Negate()), count

    monkeypatch.setattr(fast, "fold_batch_norm", broken_fold)
    prepared = prepare_model(module, data, CPU)
    assert not prepared.path.bn_folded and prepared.path.channels_last
    assert [n.split(" dropped")[0] for n in prepared.path.notes] == ["BN folding + channels-last"]
    x = _images(data)
    with torch.no_grad():
        assert torch.equal(prepared(x).argmax(1), module(x).argmax(1))


class _Negate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


def test_nothing_agrees_ends_at_the_module_as_given(monkeypatch) -> None:
    module, data = _LayoutSensitive(_resnet()).eval(), _dataset()
    monkeypatch.setattr(fast, "fold_batch_norm", lambda m: (nn.Sequential(m, _Negate()), 1))
    prepared = prepare_model(module, data, CPU)
    assert prepared.module is module and prepared.path.max_logit_diff == 0.0
    assert not (prepared.path.bn_folded or prepared.path.channels_last)
    assert len(prepared.path.notes) == 3


def test_compile_failure_falls_back_with_a_warning_and_is_recorded(monkeypatch) -> None:
    def failing_compile(module: nn.Module, **kwargs: object) -> object:
        def run(x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("simulated inductor failure\nC++ compile error")

        return run

    monkeypatch.setattr(torch, "compile", failing_compile)
    with pytest.warns(CompileFallbackWarning, match="rn: torch.compile failed .*simulated inductor failure"):
        prepared = prepare_model(_resnet(), _dataset(), CPU, EngineOptions(compile=True), name="rn")
    p = prepared.path
    assert not p.compiled and p.bn_folded and p.channels_last  # the rest of the path still runs
    assert p.compile_error == "RuntimeError: simulated inductor failure"
    assert p.to_dict()["compile_error"] == p.compile_error
    assert any("torch.compile dropped" in n for n in p.notes)


def test_compile_is_taken_only_where_it_agrees(monkeypatch) -> None:
    calls: list[nn.Module] = []

    def fake_compile(module: nn.Module, **kwargs: object) -> nn.Module:
        calls.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    p = prepare_model(_resnet(), _dataset(), CPU, EngineOptions(compile=True)).path
    assert p.compiled and p.bn_folded and calls and p.compile_error is None
    monkeypatch.setattr(torch, "compile", lambda module, **kw: nn.Sequential(module, _Negate()))
    p = prepare_model(_resnet(), _dataset(), CPU, EngineOptions(compile=True)).path
    assert not p.compiled and p.bn_folded and p.compile_error is None
    assert any("torch.compile dropped: it changed the prediction" in n for n in p.notes)


def test_bf16_agreement_is_measured_against_fp32() -> None:
    module, data = _resnet(), _dataset()
    prepared = prepare_model(module, data, CPU, EngineOptions(precision="bf16"))
    x = _images(data)
    with torch.no_grad():
        want = module(x)
    got = prepared(x)
    assert got.dtype == torch.float32
    assert (got - want).abs().max() > 1e-3 * want.abs().max()  # autocast ran: bf16 rounding shows
    assert prepared.path.precision == "bf16"
    assert prepared.path.agreement == pytest.approx(float((got.argmax(1) == want.argmax(1)).double().mean()))
    assert prepared.path.agreement >= MIN_AGREEMENT


class _NearTies(nn.Module):
    """Logits 1000 + small gaps: float32 tells them apart, bf16 (8 bits of mantissa, steps of 4 or 8
    at 1000) rounds them into ties."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 16 * 16, 10)
        nn.init.normal_(self.fc.weight, std=0.02)
        nn.init.constant_(self.fc.bias, 1000.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_precision_below_the_threshold_is_refused() -> None:
    module, data = _NearTies().eval(), _dataset()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = module(_images(data)).float()
    with torch.no_grad():
        high = module(_images(data))
    assert (low.argmax(1) == high.argmax(1)).double().mean() < MIN_AGREEMENT  # the premise
    with pytest.raises(ConfigError, match=r"--precision bf16: near predicts what float32 predicts on only "):
        prepare_model(module, data, CPU, EngineOptions(precision="bf16"), name="near")
    assert prepare_model(module, data, CPU).path.agreement == 1.0  # fp32 is never refused


def test_attacks_are_scored_by_the_module_as_given() -> None:
    prepared = prepare_model(_resnet(), _dataset(), CPU, EngineOptions(precision="bf16"))
    attack = Step(lambda m, x, y, i, g: x, {"kind": "attack"}, needs_grad=True)
    perturbation = Step(lambda m, x, y, i, g: x, {"kind": "perturbation"})
    assert prepared.scores(attack) is None and prepared.scores(perturbation) is prepared
    assert prepared.scope(attack) == {} and prepared.scope(perturbation) == {"precision": "bf16"}


# the run: config, keys, manifest, header -----------------------------------------------------------
def test_precision_decides_results_and_old_configs_read_as_fp32() -> None:
    assert "precision" in RESULT_FIELDS and "compile" not in RESULT_FIELDS
    old = RunConfig(suite="corruptions").to_dict()
    del old["precision"], old["compile"]
    back = RunConfig.from_dict(old)
    assert (back.precision, back.compile) == ("fp32", "auto")
    assert back.result_differences(back.replace(precision="bf16")) == ["precision 'fp32' vs 'bf16'"]
    assert back.result_differences(back.replace(compile="on")) == []
    with pytest.raises(ConfigError, match="--precision must be one of fp32, bf16, fp16, got 'fp64'"):
        RunConfig(suite="corruptions", precision="fp64")
    with pytest.raises(ConfigError, match=r"--compile must be one of auto, on, off, got 'yes'"):
        RunConfig.from_dict({**old, "compile": "yes"})


def test_precision_enters_the_key_only_when_not_fp32() -> None:
    model, data = _under_test(_resnet()), _dataset()
    suite = Suite("t", 1, (CLEAN,))
    step = build_step(CLEAN, StepContext(CPU, None))  # type: ignore[arg-type]
    cfg = RunConfig(suite="t")
    keys = {p: condition_key(model, data, suite, CLEAN, step, cfg.replace(precision=p)) for p in PRECISIONS}
    assert len(set(keys.values())) == 3
    # float32 keys do not mention precision: the same as a config that never had the field
    assert keys["fp32"] == condition_key(model, data, suite, CLEAN, step, cfg.replace(compile="on"))


def _manifest_store(tmp_path, cfg: RunConfig, names: list[str]) -> RunStore:
    store = RunStore(tmp_path / "run")
    store.write_manifest(
        {
            "config": cfg.to_dict(),
            "models": {n: {"arch": "resnet20", "weights": "weights-sha"} for n in names},
            "invocations": [{"time": "t0", "device": "cpu"}],
        }
    )
    return store


def test_run_records_the_path_in_the_manifest_and_the_precision_in_the_scope(tmp_path) -> None:
    data = _dataset(n=40)
    model = _under_test(_resnet())
    suite = Suite("t", 1, (CLEAN, NOISE))
    cfg = RunConfig(suite="t", batch_size=16, out=tmp_path / "run", precision="bf16")
    store = _manifest_store(tmp_path, cfg, ["rn"])
    run_model(model, data, suite, config=cfg, store=store, device=CPU, progress=QuietProgress())
    m = store.read_manifest()
    engine = m["models"]["rn"]["engine"]
    assert engine["precision"] == "bf16" and engine["bn_folded"] and engine["channels_last"]
    assert engine["agreement"] >= MIN_AGREEMENT and engine["probe_images"] == 40
    assert m["invocations"] == [{"time": "t0", "device": "cpu"}]  # recording adds no invocation
    assert {r.scope.get("precision") for r in store.records()} == {"bf16"}
    # the next invocation's path replaces it
    record_engine(store, "rn", fast.EnginePath("bf16", False, 0, False, False, 1.0, 40, 0.0))
    assert not store.read_manifest()["models"]["rn"]["engine"]["bn_folded"]


def test_run_compiles_by_the_images_left_and_prepares_nothing_when_all_is_stored(
    tmp_path, monkeypatch
) -> None:
    from freqbench.engine import loop

    asked: list[EngineOptions] = []

    def spy(module: nn.Module, data: ArrayDataset, device: torch.device, options: EngineOptions, **kw):
        asked.append(options)
        return prepare_model(module, data, device, dataclasses.replace(options, compile=False), **kw)

    monkeypatch.setattr(loop, "prepare_model", spy)
    monkeypatch.setattr(fast, "AUTO_COMPILE_IMAGES", 80)  # 2 input-only conditions x 40 images
    data, model = _dataset(n=40), _under_test(_resnet())
    suite = Suite("t", 1, (CLEAN, NOISE))
    cfg = RunConfig(suite="t", batch_size=16, out=tmp_path / "run")
    store = _manifest_store(tmp_path, cfg, ["rn"])
    assert run_model(model, data, suite, config=cfg, store=store, device=CPU, progress=QuietProgress()) == 2
    assert [o.compile for o in asked] == [True]  # auto: 80 images to score, the threshold
    off = cfg.replace(compile="off")
    assert run_model(model, data, suite, config=off, store=store, device=CPU, progress=QuietProgress()) == 0
    assert len(asked) == 1  # everything stored: no model preparation, no probe
    one = Suite("t", 1, (CLEAN,))
    run_model(
        model, data, one, config=cfg, store=RunStore(tmp_path / "b"), device=CPU, progress=QuietProgress()
    )
    assert [o.compile for o in asked] == [True, False]  # 40 images: below the threshold


def test_fp32_run_scores_every_sample_as_the_module_does(tmp_path) -> None:
    data, module = _dataset(n=40), _resnet()
    cfg = RunConfig(suite="t", batch_size=16)
    step = build_step(NOISE, StepContext(CPU, None))  # type: ignore[arg-type]
    prepared = prepare_model(module, data, CPU)
    got = evaluate_condition(
        _under_test(module),
        data,
        step,
        NOISE,
        config=cfg,
        device=CPU,
        progress=QuietProgress(),
        prepared=prepared,
    )
    plain = evaluate_condition(
        _under_test(module), data, step, NOISE, config=cfg, device=CPU, progress=QuietProgress()
    )
    np.testing.assert_array_equal(got["pred"], plain["pred"])
    np.testing.assert_allclose(got["loss"], plain["loss"], rtol=1e-4, atol=1e-5)
    for k in ("delta_linf", "delta_l2", "delta_energy", "index", "label"):
        np.testing.assert_array_equal(got[k], plain[k])


def test_report_header_shows_precision_agreement_and_path() -> None:
    engine = {"precision": "bf16", "bn_folded": True, "folded_layers": 19, "channels_last": True}
    manifest = {
        "config": {"precision": "bf16", "seed": 0},
        "models": {"a": {"engine": {**engine, "agreement": 0.99609375, "probe_images": 256}}},
    }
    header = ReportContext(manifest).header([])
    assert header["precision"] == (
        "bf16 autocast (attacks: fp32); predictions agreeing with fp32 on the probe images: a 99.61% of 256"
    )
    assert header["engine"] == "BN folded (19 layers), channels-last"
    failed = {"models": {"a": {"engine": {"compile_error": "RuntimeError: x"}}}}
    assert ReportContext(failed).header([])["engine"] == "eager (torch.compile failed: eager)"
    old = ReportContext({"config": {"seed": 0}, "models": {"a": {"weights": "w"}}}).header([])
    assert old["precision"] == "fp32" and "engine" not in old


def test_cli_takes_precision_and_refuses_an_unknown_one(tmp_path) -> None:
    from cli_helpers import run_main

    from freqbench.cli.main import _run_config

    given = {
        k: None for k in ("suite", "dataset", "limit", "batch_size", "device", "seed", "data_root", "split")
    }
    cfg = _run_config(
        {**given, "num_threads": None, "precision": "bf16", "compile": "off"},
        {},
        models=None,
        out_dir=tmp_path,
        resume=False,
    )
    assert (cfg.precision, cfg.compile) == ("bf16", "off")
    assert run_main("run", "--precision", "fp64", "--out", str(tmp_path / "x")) == 2
    assert not (tmp_path / "x").exists()


# results on the device, batches read ahead ----------------------------------------------------------
def test_collector_copies_to_the_host_once_per_condition() -> None:
    torch.manual_seed(0)
    col = Collector(10)
    logits, y = torch.randn(10, 4), torch.randint(0, 4, (10,))
    x = torch.rand(10, 1, 8, 8)
    for sl in (slice(0, 4), slice(4, 7), slice(7, 10)):
        col.add(sl, np.arange(sl.start, sl.stop), x[sl], x[sl] + 0.1, y[sl], logits[sl])
    assert not col.arrays["loss"].any()  # nothing copied yet
    out = col.finish()
    lg = logits.double().numpy()
    want = np.log(np.exp(lg).sum(1)) - lg[np.arange(10), y.numpy()]
    np.testing.assert_allclose(out["loss"], want, rtol=1e-5)
    np.testing.assert_array_equal(out["pred"], lg.argmax(1))
    np.testing.assert_allclose(out["delta_linf"], 0.1, rtol=1e-5)
    np.testing.assert_allclose(out["delta_l2"], 0.1 * 8, rtol=1e-5)


def test_read_ahead_gives_the_same_batches(monkeypatch) -> None:
    data = _dataset(n=10)
    with batches_module.ThreadPoolExecutor(1) as pool:
        host = batches_module._HostBatches(data, pool, pin=False)
        for rows in (np.arange(0, 4), np.arange(4, 8), np.arange(8, 9), np.arange(9, 10)):  # 8..9: a back-off
            idx, x, y = host(rows)
            want_x, want_y = data.batch(rows)
            assert torch.equal(x, want_x) and torch.equal(y, want_y) and np.array_equal(idx, rows)
    module = _resnet()
    step = build_step(NOISE, StepContext(CPU, None))  # type: ignore[arg-type]
    cfg = RunConfig(suite="t", batch_size=3)
    inline = evaluate_condition(
        _under_test(module), data, step, NOISE, config=cfg, device=CPU, progress=QuietProgress()
    )
    monkeypatch.setattr(batches_module, "READ_AHEAD_DEVICES", frozenset({"cpu"}))
    ahead = evaluate_condition(
        _under_test(module), data, step, NOISE, config=cfg, device=CPU, progress=QuietProgress()
    )
    assert inline.keys() == ahead.keys()
    for k in inline:
        np.testing.assert_array_equal(inline[k], ahead[k])


def test_record_engine_without_a_manifest_writes_nothing(tmp_path) -> None:
    store = RunStore(tmp_path / "none")
    record_engine(store, "rn", fast.EnginePath("fp32", True, 1, True, False, 1.0, 1, 0.0))
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())


def test_engine_path_is_json() -> None:
    p = prepare_model(_resnet(), _dataset(n=8), CPU).path
    d = json.loads(json.dumps(p.to_dict()))
    assert (
        d["agreement"] == 1.0
        and d["attacks"] == fast.ATTACKS_SCORED_BY
        and math.isfinite(d["max_logit_diff"])
    )


def test_real_torch_compile_is_taken_and_gives_the_eager_predictions() -> None:
    """torch.compile itself (inductor, freezing, static shapes; scripts/setup installs the C++
    compiler it needs): taken, with eager float32's predictions, on the probe and on a new batch."""
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    ).eval()
    data = _dataset(n=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare_model(module, data, CPU, EngineOptions(compile=True), batch_size=16)
    p = prepared.path
    assert p.compiled and p.compile_error is None and p.bn_folded and p.notes == ()
    assert not any(issubclass(w.category, CompileFallbackWarning) for w in caught)
    x = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(1))  # not the probe
    with torch.no_grad():
        want = module(x)
        got = prepared(x)
    assert torch.equal(got.argmax(1), want.argmax(1))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_compile_auto_compiles_long_cpu_runs_only() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    n = fast.AUTO_COMPILE_IMAGES
    assert fast.wants_compile("auto", cpu, n) and not fast.wants_compile("auto", cpu, n - 1)
    assert not fast.wants_compile("auto", cuda, 10 * n)
    assert fast.wants_compile("on", cpu, 1) and fast.wants_compile("on", cuda, 1)
    assert not fast.wants_compile("off", cpu, 10 * n)
    # the main job (76 conditions x 10,000 Fashion-MNIST test images) compiles, the CI gate does not
    assert fast.wants_compile("auto", cpu, 76 * 10_000) and not fast.wants_compile("auto", cpu, 76 * 500)
    options = EngineOptions.of(RunConfig(suite="corruptions", precision="bf16"), cpu, n)
    assert options == EngineOptions(precision="bf16", compile=True)
    assert not EngineOptions.of(RunConfig(suite="corruptions", compile="off"), cpu, n).compile
