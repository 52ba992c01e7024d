"""Progress display for the evaluation loop: a rich progress bar, or silence.

The loop talks to a small :class:`Progress` protocol so tests and library callers can run quietly.
"""

from __future__ import annotations

from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as _RichProgress


class Progress(Protocol):
    def start(self, description: str, total: int) -> Any: ...
    def advance(self, task: Any, n: int) -> None: ...
    def finish(self, task: Any) -> None: ...
    def note(self, message: str) -> None: ...


class QuietProgress:
    """Shows nothing."""

    def start(self, description: str, total: int) -> Any:
        return None

    def advance(self, task: Any, n: int) -> None:
        pass

    def finish(self, task: Any) -> None:
        pass

    def note(self, message: str) -> None:
        pass


class RichProgress:
    """One bar per condition on stderr; finished bars disappear, notes stay."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar = _RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, description: str, total: int) -> Any:
        return self._bar.add_task(description, total=total)

    def advance(self, task: Any, n: int) -> None:
        self._bar.advance(task, n)

    def finish(self, task: Any) -> None:
        self._bar.remove_task(task)

    def note(self, message: str) -> None:
        self._bar.console.log(message)
