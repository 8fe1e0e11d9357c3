"""Path spaces: which block choices a supernet holds and a strategy may pick.

A :class:`PathSpace` lists, per block, the distinct :class:`~glitlib.model.arch.BlockArch` a path
may take. The three the hierarchical search needs:

* :func:`stage1` -- low-level values fixed, the number of global heads free;
* :func:`stage2` -- the distribution fixed, ``(d_k, d_z, e, k)`` free;
* :func:`joint` -- everything free (single-stage SPOS, and counting).

Choices are canonical (unused values dropped), so ``size`` counts distinct
networks, not encodings.

A path space also says how a block is drawn at random, its *prior*: ``"distinct"``
picks uniformly among the block's distinct choices; ``"heads"`` picks the number
of global heads uniformly first, then uniformly among that number's choices. They
differ only where a block offers several ``g`` with different numbers of
low-level variants (the joint space): there ``"distinct"`` rarely draws an
all-global module, which has no local heads to vary (4.5 % of blocks in the
digits space, against 25 % under ``"heads"``).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ArchitectureError
from ..model.arch import Arch, BlockArch
from ..model.space import SearchSpace

__all__ = ["PathSpace", "PRIORS", "block_choices", "joint", "stage1", "stage1_fixed",
           "stage2", "space_sizes"]

PRIORS = ("distinct", "heads")


@dataclass(frozen=True)
class PathSpace:
    """Per-block candidate lists over one search space."""

    space: SearchSpace
    choices: tuple[tuple[BlockArch, ...], ...]
    prior: str = "distinct"

    def __post_init__(self) -> None:
        if self.prior not in PRIORS:
            raise ArchitectureError(f"path space: prior {self.prior!r} is not one of "
                                    f"{list(PRIORS)}")

    @property
    def size(self) -> int:
        """Number of distinct architectures, as an exact integer."""
        return math.prod(len(c) for c in self.choices)

    def contains(self, arch: Arch) -> bool:
        arch = arch.canonical(self.space)
        return len(arch.blocks) == len(self.choices) and all(
            b in c for b, c in zip(arch.blocks, self.choices)
        )

    def draw(self, rng: random.Random, i: int) -> BlockArch:
        """One choice for block ``i``, drawn under the space's prior."""
        choices = self.choices[i]
        if self.prior == "heads":
            g = rng.choice(sorted({b.g for b in choices}))
            choices = tuple(b for b in choices if b.g == g)
        return rng.choice(choices)

    def sample(self, rng: random.Random) -> Arch:
        """One path, each block drawn independently under the prior."""
        return Arch(tuple(self.draw(rng, i) for i in range(len(self.choices))))

    def block_probabilities(self, i: int) -> dict[BlockArch, float]:
        """How often :meth:`draw` picks each choice of block ``i`` (exact)."""
        choices = self.choices[i]
        if self.prior == "distinct":
            return {b: 1 / len(choices) for b in choices}
        gs = {b.g for b in choices}
        per_g = {g: sum(b.g == g for b in choices) for g in gs}
        return {b: 1 / (len(gs) * per_g[b.g]) for b in choices}

    def to_list(self) -> list[list[dict[str, Any]]]:
        """The choices as JSON-ready lists (the space is stored beside them)."""
        return [[b.to_dict() for b in choices] for choices in self.choices]

    @classmethod
    def from_list(cls, space: SearchSpace, data: list[list[dict[str, Any]]],
                  prior: str = "distinct") -> PathSpace:
        if not isinstance(data, list) or len(data) != space.depth:
            raise ArchitectureError(f"path space: expected {space.depth} lists of block "
                                    "choices, one per block")
        return cls(space, tuple(
            tuple(BlockArch.from_dict(b, where=f"path space block {i}") for b in choices)
            for i, choices in enumerate(data)), prior)


def block_choices(
    space: SearchSpace, g_values: Sequence[int] | None = None,
    fixed: dict[str, int] | None = None,
) -> tuple[BlockArch, ...]:
    """Distinct canonical block choices with ``g`` in ``g_values`` and some values fixed."""
    fixed = fixed or {}
    g_values = range(space.num_heads + 1) if g_values is None else g_values
    grid = {key: (fixed[key],) if key in fixed else getattr(space, key)
            for key in ("d_k", "d_z", "e", "k")}
    seen: dict[BlockArch, None] = {}
    for g in g_values:
        for d_k, d_z, e, k in itertools.product(*grid.values()):
            b = BlockArch(g=g, d_k=d_k, d_z=d_z, e=e, k=k).canonical(
                space.num_heads, space.uses_e)
            seen.setdefault(b)
    return tuple(seen)


def joint(space: SearchSpace, prior: str = "distinct") -> PathSpace:
    """Every distinct network of the space."""
    return PathSpace(space, (block_choices(space),) * space.depth, prior)


def stage1_fixed(space: SearchSpace) -> dict[str, int]:
    """Stage 1's fixed low-level values: the middle candidate of each."""
    return {key: space.middle(key) for key in ("d_k", "d_z", "e", "k")}


def stage1(space: SearchSpace, fixed: dict[str, int] | None = None,
           prior: str = "distinct") -> PathSpace:
    """Search the number of global heads per block, low-level values fixed."""
    fixed = stage1_fixed(space) | (fixed or {})
    for key, value in fixed.items():
        if value not in getattr(space, key):
            raise ArchitectureError(
                f"stage 1: fixed {key}={value} is not a candidate; choose one of "
                f"{list(getattr(space, key))}"
            )
    return PathSpace(space, (block_choices(space, fixed=fixed),) * space.depth, prior)


def stage2(space: SearchSpace, distribution: Sequence[int],
           prior: str = "distinct") -> PathSpace:
    """Search ``(d_k, d_z, e, k)`` per block with the global heads per block fixed."""
    if len(distribution) != space.depth:
        raise ArchitectureError(
            f"stage 2: distribution has {len(distribution)} blocks, space "
            f"{space.name!r} has {space.depth}; give one g per block"
        )
    for i, g in enumerate(distribution):
        if g not in range(space.num_heads + 1):
            raise ArchitectureError(
                f"block {i}: g={g} is not allowed; choose one of "
                f"{list(range(space.num_heads + 1))}"
            )
    return PathSpace(space, tuple(block_choices(space, [g]) for g in distribution), prior)


def space_sizes(space: SearchSpace, distribution: Sequence[int] | None = None) -> dict:
    """Exact search-space sizes.

    ``size_paper`` counts encodings as the paper does, ``((N+1) V1 V2 V3 V4)^M``;
    ``size_distinct`` counts different networks (``d_k`` means nothing without a
    global head, ``e``/``k`` nothing without a local head); ``stage1_size`` is
    ``(N+1)^M``; ``stage2_size`` is for the given distribution.
    """
    per_block = (space.num_heads + 1) * math.prod(
        len(getattr(space, key)) for key in ("d_k", "d_z", "e", "k")
    )
    sizes = {
        "size_paper": per_block**space.depth,
        "size_distinct": joint(space).size,
        "stage1_size": stage1(space).size,
    }
    if distribution is not None:
        sizes["stage2_size"] = stage2(space, distribution).size
    return sizes
