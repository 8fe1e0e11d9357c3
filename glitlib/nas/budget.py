"""The MACs limit of a search: the feasible range of a path space, and the check.

GLiT compares its networks with DeiT at DeiT's cost, so the default limit is the
MACs of the space's all-global network (:func:`glitlib.model.costs.default_max_macs`).
MACs of a path are the stem's plus each block's
(:class:`~glitlib.model.costs.CostModel`), so the smallest and largest
MACs of a path space are exact sums of per-block extremes: a limit no path can
meet is refused before any training.
"""

from __future__ import annotations

from ..errors import BudgetError
from ..model.costs import CostModel
from .paths import PathSpace

__all__ = ["macs_bounds", "check_macs_range"]


def macs_bounds(paths: PathSpace, cm: CostModel | None = None) -> tuple[int, int]:
    """Exact (min, max) MACs over every path of ``paths``."""
    cm = cm or CostModel(paths.space)
    lo = hi = cm.stem.macs
    for choices in paths.choices:
        block = [cm.block(b).macs for b in choices]
        lo, hi = lo + min(block), hi + max(block)
    return lo, hi


def check_macs_range(paths: PathSpace, min_macs: int | None = None,
                     max_macs: int | None = None, cm: CostModel | None = None) -> None:
    """Raise :class:`~glitlib.errors.BudgetError` (one line, with the feasible range)
    if no path fits."""
    lo, hi = macs_bounds(paths, cm)
    top = hi if max_macs is None else max_macs
    bottom = lo if min_macs is None else min_macs
    if top < lo:
        raise BudgetError(
            f"no architecture meets the MACs limit {top:,}: the smallest path of this space "
            f"has {lo:,} MACs (the largest {hi:,}); choose a limit inside that range")
    if bottom > hi or bottom > top:
        raise BudgetError(
            f"no architecture meets the MACs range [{bottom:,}, {top:,}]: paths of this "
            f"space have {lo:,} to {hi:,} MACs; choose a limit inside that range")
