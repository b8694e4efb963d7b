"""Progress of a long command on stderr: a ``rich`` bar with the rate and the time left on a
terminal; elsewhere (a log, a pipe) a plain line at most every ``PLAIN_EVERY`` seconds, so a
short run prints nothing and a long one leaves a readable trail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

PLAIN_EVERY = 10.0  # seconds between plain progress lines


class _Rate(ProgressColumn):
    """Items per second, as rich measures it over its recent window."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s")


class CountProgress:
    """``done`` of ``total`` items: a rich bar on a terminal ``stream``, plain lines elsewhere.

    ``advance``/``update`` are cheap (rich redraws from its own thread); ``close`` draws the
    last state."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        label: str,
        unit: str,
        done: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.done, self.stream, self.label, self.unit = total, done, stream, label, unit
        self.clock = clock
        self.started = self.last_line = clock()
        self.first = done
        self.bar: Progress | None = None
        if stream.isatty():
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _Rate(unit),
                TimeRemainingColumn(),
                console=Console(file=stream, force_terminal=True),
                transient=False,
            )
            self.task = self.bar.add_task(label, total=total, completed=done)
            self.bar.start()

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def update(self, done: int) -> None:
        self.done = done
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
        elif self.clock() - self.last_line >= PLAIN_EVERY:
            self.last_line = self.clock()
            self.stream.write(self.plain_line() + "\n")
            self.stream.flush()

    def plain_line(self) -> str:
        """``label done/total unit, rate unit/s, ETA m:ss`` from the counts since the start."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = (self.done - self.first) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = f"{int(left) // 60}:{int(left) % 60:02d}" if left is not None else "-"
        return (
            f"{self.label} {self.done}/{self.total} {self.unit}, "
            f"{rate:,.0f} {self.unit}/s, ETA {eta}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
            self.bar.stop()
