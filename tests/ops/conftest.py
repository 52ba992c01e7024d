"""Triton's interpreter is chosen when a kernel is defined, so its tests run in a child process.

In a normal run the ``triton_interpreter`` tests are deselected (not skipped) and the
``triton_driver`` test starts a child pytest with ``TRITON_INTERPRET=1``, in which the driver is
deselected instead. Every interpreter test thus runs exactly once and nothing reports a skip.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    drop = "triton_driver" if os.environ.get("TRITON_INTERPRET") == "1" else "triton_interpreter"
    keep = [item for item in items if item.get_closest_marker(drop) is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
