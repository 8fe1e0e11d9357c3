"""The exhaustive strategy: when the evaluation budget covers every feasible path, score
them all instead of searching (stage 1 of the digits search: 81 distributions)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from ..model.arch import Arch
from ..model.costs import CostModel
from .paths import PathSpace
from .records import Candidate

__all__ = ["Exhaustive", "feasible_paths"]


def feasible_paths(paths: PathSpace, max_macs: int | None, limit: int) -> list[Arch] | None:
    """Every distinct path under ``max_macs``, in a fixed order; ``None`` if more than ``limit``.

    Only spaces of at most 100 times ``limit`` paths are listed (the cost model
    counts about 10^5 paths a second), so a huge space answers ``None`` at once.
    """
    if paths.size > 100 * limit:
        return None
    cm = CostModel(paths.space)
    found: dict[Arch, None] = {}
    for blocks in itertools.product(*paths.choices):
        arch = Arch(blocks).canonical(paths.space)
        if max_macs is None or cm.macs(arch) <= max_macs:
            found.setdefault(arch)
            if len(found) > limit:
                return None
    return list(found)


class Exhaustive:
    """Scores ``archs`` (every feasible path) once, ``chunk`` at a time; all are generation 0."""

    name = "exhaustive"

    def __init__(self, paths: PathSpace, archs: list[Arch], chunk: int = 50):
        self.paths, self.archs, self.chunk = paths, archs, max(1, chunk)
        self.next = 0

    @property
    def done(self) -> bool:
        return self.next >= len(self.archs)

    @property
    def budget(self) -> int:
        return len(self.archs)

    def settings(self) -> dict[str, Any]:
        return {"paths": len(self.archs), "chunk": self.chunk}

    def propose(self, found: Sequence[Candidate]) -> tuple[int, list[Arch]]:
        start, self.next = self.next, min(len(self.archs), self.next + self.chunk)
        return 0, self.archs[start:self.next]

    def state_dict(self) -> dict[str, Any]:
        return {"next": self.next}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next = int(state["next"])
