"""The two records a search produces, each serialised in one place.

* :class:`Candidate` -- a path the supernet scored: its architecture, exact
  cost and held-out accuracy with the supernet's weights (``search.json``);
* :class:`Retrained` -- a candidate trained from scratch and scored on the
  held-out split (``retrain/candidateN.json``).

Reading checks every field's type, so a damaged or hand-edited result file is
refused with the file, the field and the fix, never a ``KeyError`` later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ArchitectureError, CheckpointError
from ..model.arch import Arch

__all__ = ["Candidate", "Retrained", "best_candidates", "best_retrained"]


def _field(d: dict[str, Any], key: str, kind: type, where: str) -> Any:
    v = d.get(key)
    ok = isinstance(v, kind) and not isinstance(v, bool)
    if kind is float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not ok:
        raise CheckpointError(f"{where}: field {key!r} must be {kind.__name__}, got {v!r}; "
                              "the file is damaged: delete it and rerun the step that wrote it")
    return v


def _arch(d: dict[str, Any], where: str) -> Arch:
    try:
        return Arch.from_dict({"blocks": d.get("arch")})
    except ArchitectureError as err:
        raise CheckpointError(f"{where}: field 'arch': {err}") from None


@dataclass(frozen=True)
class Candidate:
    """One path scored by the supernet: held-out accuracy with shared weights."""

    arch: Arch
    macs: int
    params: int
    supernet_accuracy: float | None  # None: given by hand, never scored by a supernet
    generation: int

    @property
    def score(self) -> float:
        """The supernet accuracy of a candidate a supernet scored (not one given by hand)."""
        if self.supernet_accuracy is None:
            raise ValueError("this candidate was given by hand and never scored by a supernet")
        return self.supernet_accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "arch": [b.to_dict() for b in self.arch.blocks],
                "macs": self.macs, "params": self.params,
                "supernet_accuracy": self.supernet_accuracy}

    @classmethod
    def from_dict(cls, d: Any, where: str = "candidate") -> Candidate:
        if not isinstance(d, dict):
            raise CheckpointError(f"{where}: expected an object, got {type(d).__name__}")
        if "supernet_accuracy" not in d:
            raise CheckpointError(f"{where}: field 'supernet_accuracy' is missing; the file is "
                                  "damaged: delete it and rerun the step that wrote it")
        score = d["supernet_accuracy"]
        return cls(_arch(d, where), _field(d, "macs", int, where),
                   _field(d, "params", int, where),
                   None if score is None else float(_field(d, "supernet_accuracy", float, where)),
                   _field(d, "generation", int, where))


@dataclass(frozen=True)
class Retrained:
    """A candidate trained from scratch; ``rank`` is its place by supernet score."""

    rank: int
    candidate: Candidate
    val_accuracy: float
    checkpoint: str

    @property
    def arch(self) -> Arch:
        return self.candidate.arch

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, **self.candidate.to_dict(),
                "distribution": list(self.arch.distribution),
                "val_accuracy": self.val_accuracy, "checkpoint": self.checkpoint}

    @classmethod
    def from_dict(cls, d: Any, where: str = "retrained candidate") -> Retrained:
        cand = Candidate.from_dict(d, where)
        return cls(_field(d, "rank", int, where), cand,
                   float(_field(d, "val_accuracy", float, where)),
                   _field(d, "checkpoint", str, where))


def best_candidates(candidates: list[Candidate], k: int) -> list[Candidate]:
    """The ``k`` best by supernet accuracy (ties: fewer MACs, then found earlier)."""
    def key(i: int) -> tuple:
        c = candidates[i]
        return (-(c.supernet_accuracy if c.supernet_accuracy is not None else -1.0), c.macs, i)

    order = sorted(range(len(candidates)), key=key)
    return [candidates[i] for i in order[:k]]


def best_retrained(rows: list[Retrained]) -> Retrained:
    """The best by held-out accuracy after retraining (ties: fewer MACs, better rank)."""
    return min(rows, key=lambda r: (-r.val_accuracy, r.candidate.macs, r.rank))
