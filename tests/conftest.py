"""Suite-wide: the one way tests reach real data, and the CI rule that a ``real`` test never skips.

Real data is third-party data the tests do not write themselves: the shared folder ``../shared/data``
beside the project (``/work/shared/data/README.md``) and Debian's Fashion-MNIST
(``dataset-fashion-mnist``, where the ``fashion_mnist`` loader looks for it). Tests reach both
through the ``real_data`` fixture and are marked ``@pytest.mark.real``; using the fixture without the
mark is a collection error.

On a developer's machine a missing file skips the test with the path and the command that provides
it. With ``FREQBENCH_REQUIRE_REAL=1`` (CI: ``scripts/setup test``) it fails instead, and so does any
other skip of a test marked ``real`` (an ``importorskip``, a ``skipif``, a module-level skip), since in
CI every real test must run. ``FREQBENCH_SHARED_DATA`` overrides the shared folder (the meta-test in
``tests/test_ci_real_required.py`` points it at an empty folder).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_REAL_ENV = "FREQBENCH_REQUIRE_REAL"
SHARED_DATA_ENV = "FREQBENCH_SHARED_DATA"
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_required() -> bool:
    """Whether ``FREQBENCH_REQUIRE_REAL=1``: real data must be present and real tests must run."""
    return os.environ.get(REQUIRE_REAL_ENV, "") == "1"


def _absent(message: str) -> NoReturn:
    if real_required():
        pytest.fail(f"{message} ({REQUIRE_REAL_ENV}=1: real tests must run, not skip)", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class RealData:
    """Where the real data lives; each accessor returns an existing path or skips (fails in CI)."""

    shared_root: Path
    fashion_mnist_root: Path

    def shared(self, relative: str) -> Path:
        """``relative`` inside the shared data folder, e.g. ``"cifar10-jpeg/test.tar.gz"``."""
        path = self.shared_root / relative
        if not path.exists():
            _absent(
                f"real data absent: {path} (the shared data folder beside the project, "
                f"see {DEFAULT_SHARED_DATA / 'README.md'}; {SHARED_DATA_ENV} overrides its location)"
            )
        return path

    def fashion_mnist(self, name: str = "t10k-images-idx3-ubyte.gz") -> Path:
        """One of the four IDX ``.gz`` files of Debian's Fashion-MNIST (the folder for ``name=""``)."""
        path = self.fashion_mnist_root / name
        if not path.exists():
            _absent(f"Fashion-MNIST absent: {path} (as root: apt-get install dataset-fashion-mnist)")
        return path


@pytest.fixture(scope="session")
def real_data() -> RealData:
    """The real-data locations; tests that request it must be marked ``real``."""
    # imported here, not at the top: the loader pulls in torch, which a conftest should not cost
    from freqbench.data.mnist import FASHION_MNIST

    shared = os.environ.get(SHARED_DATA_ENV)
    return RealData(Path(shared) if shared else DEFAULT_SHARED_DATA, FASHION_MNIST.system_dirs[0])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if "real_data" in getattr(item, "fixturenames", ()) and item.get_closest_marker("real") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that read real data through the real_data fixture must be marked @pytest.mark.real: "
            + ", ".join(unmarked)
        )


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and real_required()
        and item.get_closest_marker("real") is not None
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} is marked real and skipped while {REQUIRE_REAL_ENV}=1: "
            f"{_skip_reason(report.longrepr)}"
        )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # A module that skips while importing (``allow_module_level``) yields no items for the hook above;
    # its source is all there is to tell whether it holds real tests.
    report = yield
    if (
        report.skipped
        and real_required()
        and isinstance(collector, pytest.Module)
        and "mark.real" in collector.path.read_text(encoding="utf-8")
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"{collector.nodeid} holds tests marked real and skipped as a whole while "
            f"{REQUIRE_REAL_ENV}=1: {_skip_reason(report.longrepr)}"
        )
    return report
