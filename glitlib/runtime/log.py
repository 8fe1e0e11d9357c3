"""The run's log: what a long command says while it works, watchable from a log file.

Library code logs through the ``glitlib`` logger (``logging.getLogger("glitlib")``) and
never prints; the ``glit`` command attaches the handlers once (:func:`to_console`):
information to standard output, warnings to standard error. On a terminal a line is
the message alone (progress bars show the rest); anywhere else (a batch job, ``nohup``,
a log file) every line starts with its time, so a run can be followed from its log.
Only rank 0 logs (the other ranks compute the same).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["log", "to_console", "to_file"]

log = logging.getLogger("glitlib")
_STAMP = "%(asctime)s %(message)s"
_DATE = "%Y-%m-%d %H:%M:%S"


class _Below(logging.Filter):
    """Lets through records below a level (information, not warnings)."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


class _BarSafe(logging.Handler):
    """On a terminal: each line through ``tqdm.write``, so progress bars stay whole."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        tqdm.write(self.format(record), file=sys.stdout)


def to_console(main: bool = True) -> None:
    """Information to stdout and warnings to stderr, stamped with the time off a terminal.

    Ranks other than 0 (``main`` false) log nothing.
    """
    for h in list(log.handlers):
        if h.get_name() == "glit-console":
            log.removeHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False
    if not main:
        quiet = logging.NullHandler()
        quiet.set_name("glit-console")
        log.addHandler(quiet)
        return
    stamp = not sys.stdout.isatty()
    out: logging.Handler = logging.StreamHandler(sys.stdout) if stamp else _BarSafe()
    out.setFormatter(logging.Formatter(_STAMP if stamp else "%(message)s", _DATE))
    out.addFilter(_Below(logging.WARNING))
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(logging.Formatter("glit: warning: %(message)s"))
    err.setLevel(logging.WARNING)
    for h in (out, err):
        h.set_name("glit-console")
        log.addHandler(h)


def to_file(path: Path) -> logging.Handler:
    """Also log, stamped, to ``path`` (appended: a resumed run adds to its log); returns
    the handler, for the caller to remove when the run ends."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_STAMP, _DATE))
    handler.setLevel(logging.INFO)
    log.addHandler(handler)
    return handler
