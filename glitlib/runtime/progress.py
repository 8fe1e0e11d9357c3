"""Progress: one rule for every long loop of the library.

``progress=None`` shows a bar on a terminal and none elsewhere (tqdm's
``disable=None``); ``True`` always shows one, ``False`` never. Bars are left
behind no output (``leave=False``), so a finished run's output is its results.

A loop of long items (networks of a truth table, replayed searches) asks for
``lines=True``: where no bar is drawn it logs a timestamped line instead, on its
first item, every fifth of the way, at least every five minutes and at the end, so
a run in a batch job is watchable from its log file.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Any

from .log import log

__all__ = ["bar", "LogLines"]

EVERY_S = 300.0  # at most this long between two lines


class LogLines:
    """The part of a tqdm bar the library uses, reported as log lines."""

    def __init__(self, total: int, desc: str, initial: int = 0):
        self.total, self.desc, self.n, self.start = total, desc, initial, initial
        self.clock = self.last = time.monotonic()
        self.next = initial

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.n >= self.next or self.n >= self.total or now - self.last >= EVERY_S:
            self.last, self.next = now, self.n + max(1, self.total // 5)
            done = self.n - self.start
            left = (now - self.clock) / done * (self.total - self.n) if done else 0.0
            log.info("%s: %d/%d, %s left", self.desc, self.n, self.total,
                     timedelta(seconds=round(left)))

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> LogLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(total: int, desc: str, progress: bool | None = None, initial: int = 0,
        lines: bool = False) -> Any:
    """A tqdm bar over ``total`` items, shown according to ``progress``; with ``lines``,
    log lines (:class:`LogLines`) where no bar would show."""
    from tqdm.auto import tqdm

    shown = progress if progress is not None else sys.stderr.isatty()
    if lines and not shown:
        return LogLines(total, desc, initial)
    return tqdm(total=total, desc=desc, initial=initial, leave=False,
                disable=None if progress is None else not progress)
