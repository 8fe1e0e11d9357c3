"""Path sampling for supernet training: uniform, optionally inside a MACs range.

Every draw is a pure function of ``(seed, step)``: a run resumed at step ``k``
draws the path an uninterrupted run would, and every rank of a distributed run
trains the same path without talking to the others.

The MACs range is checked by :mod:`glitlib.nas.budget` before any path is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BudgetError
from ..model.arch import Arch
from ..model.costs import CostModel
from ..runtime.seeds import step_rng
from .budget import check_macs_range, macs_bounds
from .paths import PathSpace

__all__ = ["MacsSampler"]


@dataclass
class MacsSampler:
    """SPOS's constrained uniform sampling.

    Without a range, each block is drawn uniformly. With a range ``[min_macs,
    max_macs]`` cut into ``num_bins`` equal bins, a bin is picked uniformly and
    paths are drawn until one lands in it (so small and large paths are trained
    equally often); a bin that cannot be hit after ``max_tries`` falls back to
    any path inside the range.
    """

    paths: PathSpace
    cm: CostModel
    min_macs: int | None = None
    max_macs: int | None = None
    num_bins: int = 1
    max_tries: int = 1000

    def __post_init__(self) -> None:
        check_macs_range(self.paths, self.min_macs, self.max_macs, self.cm)
        lo, hi = macs_bounds(self.paths, self.cm)
        self.lo = max(lo, self.min_macs or lo)
        self.hi = min(hi, self.max_macs if self.max_macs is not None else hi)

    @property
    def constrained(self) -> bool:
        return self.min_macs is not None or self.max_macs is not None

    def bin_range(self, i: int) -> tuple[float, float]:
        width = (self.hi - self.lo) / self.num_bins
        return self.lo + i * width, self.lo + (i + 1) * width

    def __call__(self, seed: int, step: int) -> Arch:
        rng = step_rng(seed, step)
        if not self.constrained and self.num_bins <= 1:
            return self.paths.sample(rng)
        a, b = self.bin_range(rng.randrange(self.num_bins))
        fallback = None
        for _ in range(self.max_tries):
            arch = self.paths.sample(rng)
            macs = self.cm.macs(arch)
            if self.lo <= macs <= self.hi:
                if a <= macs <= b:
                    return arch
                fallback = fallback or arch
        if fallback is None:
            raise BudgetError(f"no path within [{self.lo:,}, {self.hi:,}] MACs found in "
                             f"{self.max_tries} draws; widen the MACs range")
        return fallback
