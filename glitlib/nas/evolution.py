"""Evolutionary search (SPOS) and random search under a MACs limit: two strategies.

Per generation: the ``parents`` best candidates evaluated so far breed;
``mutations`` children change each block with probability ``mutate_prob``;
``crossovers`` children take each block from one of two parents; random paths
fill the population. A child that is a duplicate (same canonical architecture
as any candidate seen) or over the MACs limit is rejected *before* it is
evaluated. Random search is the same loop with no mutation and no crossover.

The generator of generation ``g`` is a function of ``(seed, g)`` and the children of
a generation a function of the candidates scored before it, so a resumed search
repeats exactly what an uninterrupted one does (:func:`~glitlib.nas.strategy.run_strategy`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from ..config.recipes import EvolutionConfig
from ..model.arch import Arch
from ..model.costs import CostModel
from ..runtime.seeds import step_rng
from .budget import check_macs_range
from .paths import PathSpace
from .records import Candidate, best_candidates

__all__ = ["Evolution", "RandomSearch"]


class _Generation:
    """Builds one generation's candidates, rejecting duplicates and over-budget paths."""

    def __init__(self, evo: Evolution, seen: set[Arch], rng: random.Random):
        self.paths, self.cfg, self.seen, self.rng = evo.paths, evo.cfg, seen, rng
        self.cm, self.max_macs = evo.cm, evo.max_macs
        self.children: list[Arch] = []

    def offer(self, arch: Arch) -> bool:
        key = arch.canonical(self.paths.space)
        if key in self.seen:
            return False
        if self.max_macs is not None and self.cm.macs(key) > self.max_macs:
            return False
        self.seen.add(key)
        self.children.append(key)
        return True

    def fill(self, make: Callable[[], Arch], count: int) -> None:
        """Add ``count`` new children; give up after ``max_tries`` rejections in a row
        (a small space under a limit runs out of new paths)."""
        target, misses = len(self.children) + count, 0
        while len(self.children) < target and misses < self.cfg.max_tries:
            misses = 0 if self.offer(make()) else misses + 1

    def mutate(self, parents: list[Arch]) -> Arch:
        parent = self.rng.choice(parents)
        return Arch(tuple(
            self.paths.draw(self.rng, i) if self.rng.random() < self.cfg.mutate_prob else b
            for i, b in enumerate(parent.blocks)))

    def crossover(self, parents: list[Arch]) -> Arch:
        a, b = self.rng.choice(parents), self.rng.choice(parents)
        return Arch(tuple(self.rng.choice(pair) for pair in zip(a.blocks, b.blocks)))


class Evolution:
    """SPOS's evolution over ``paths`` under ``max_macs``, seeded by ``seed``."""

    name = "evolution"

    def __init__(self, paths: PathSpace, cfg: EvolutionConfig | None = None,
                 max_macs: int | None = None, seed: int = 0):
        self.paths, self.cfg = paths, cfg or EvolutionConfig()
        self.max_macs, self.seed = max_macs, seed
        self.cm = CostModel(paths.space)
        self.generation = 0
        check_macs_range(paths, None, max_macs, self.cm)

    @property
    def done(self) -> bool:
        return self.generation >= self.cfg.generations

    @property
    def budget(self) -> int:
        return self.cfg.budget

    def settings(self) -> dict[str, Any]:
        cfg = replace(self.cfg, mutations=self.cfg.num_mutations,
                      crossovers=self.cfg.num_crossovers)
        return {**asdict(cfg), "max_macs": self.max_macs, "seed": self.seed}

    def children(self, found: Sequence[Candidate], gen: int) -> list[Arch]:
        """Generation ``gen``'s new candidates given ``found``: mutations, crossovers,
        random fill; none of them in ``found``."""
        cfg = self.cfg
        g = _Generation(self, {c.arch for c in found}, step_rng(self.seed, gen, "evolution"))
        parents = [c.arch for c in best_candidates(list(found), cfg.parents)]
        if parents:  # never more children than the population
            g.fill(lambda: g.mutate(parents), min(cfg.num_mutations, cfg.population))
            g.fill(lambda: g.crossover(parents),
                   min(cfg.num_crossovers, cfg.population - len(g.children)))
        g.fill(lambda: self.paths.sample(g.rng), cfg.population - len(g.children))
        return g.children

    def propose(self, found: Sequence[Candidate]) -> tuple[int, list[Arch]]:
        gen = self.generation
        self.generation += 1
        return gen, self.children(found, gen)

    def state_dict(self) -> dict[str, Any]:
        return {"next_generation": self.generation}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generation = int(state["next_generation"])


class RandomSearch(Evolution):
    """The baseline on the same budget: every candidate a fresh random path."""

    name = "random"

    def __init__(self, paths: PathSpace, cfg: EvolutionConfig | None = None,
                 max_macs: int | None = None, seed: int = 0):
        super().__init__(paths, replace(cfg or EvolutionConfig(), mutations=0, crossovers=0),
                         max_macs, seed)
