"""Progress bars: one rule for every long loop of the library.

``progress=None`` shows a bar on a terminal and nothing in a log file (tqdm's
``disable=None``); ``True`` always shows one, ``False`` never. Bars are left
behind no output (``leave=False``), so a finished run's output is its results.
"""

from __future__ import annotations

from typing import Any

__all__ = ["bar"]


def bar(total: int, desc: str, progress: bool | None = None, initial: int = 0) -> Any:
    """A tqdm bar over ``total`` items, shown according to ``progress``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, initial=initial, leave=False,
                disable=None if progress is None else not progress)
