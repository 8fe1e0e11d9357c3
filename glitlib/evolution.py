"""Evolutionary search (SPOS) and random search, under a MACs limit.

Per generation: the top-k of every candidate evaluated so far are the parents;
``mutations`` children change each block with probability ``mutate_prob``;
``crossovers`` children take each block from one of two parents; random paths
fill the population. A child that is a duplicate (same canonical architecture
as any candidate seen) or over the MACs limit is rejected *before* it is
evaluated. Random search is the same loop with no mutation and no crossover.

The generator of generation ``g`` is a function of ``(seed, g)``, and the
state is written after every generation, so a resumed search repeats exactly
what an uninterrupted one does.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .arch import Arch
from .costs import CostModel
from .io import read_json, write_json
from .paths import PathSpace
from .sampling import check_macs_range, step_rng

__all__ = ["EvolutionConfig", "evolve", "next_generation", "random_search", "top_candidates"]


@dataclass
class EvolutionConfig:
    """SPOS's defaults: 50 x 20 = 1,000 candidates."""

    population: int = 50
    generations: int = 20
    top_k: int = 10
    mutations: int = 25
    crossovers: int = 25
    mutate_prob: float = 0.1
    max_macs: int | None = None
    seed: int = 0
    max_tries: int = 200  # rejections in a row before a generation stops growing

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvolutionConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class _Generation:
    """Builds one generation's candidates, rejecting duplicates and over-budget paths."""

    def __init__(self, paths: PathSpace, cm: CostModel, cfg: EvolutionConfig,
                 seen: set[Arch], rng: random.Random):
        self.paths, self.cm, self.cfg, self.seen, self.rng = paths, cm, cfg, seen, rng
        self.children: list[Arch] = []

    def offer(self, arch: Arch) -> bool:
        key = arch.canonical(self.paths.space)
        if key in self.seen:
            return False
        if self.cfg.max_macs is not None and self.cm.macs(key) > self.cfg.max_macs:
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
            self.rng.choice(choices) if self.rng.random() < self.cfg.mutate_prob else b
            for b, choices in zip(parent.blocks, self.paths.choices)))

    def crossover(self, parents: list[Arch]) -> Arch:
        a, b = self.rng.choice(parents), self.rng.choice(parents)
        return Arch(tuple(self.rng.choice(pair) for pair in zip(a.blocks, b.blocks)))


def next_generation(paths: PathSpace, cm: CostModel, cfg: EvolutionConfig, seen: set[Arch],
                    records: list[dict[str, Any]], gen: int) -> list[Arch]:
    """Generation ``gen``'s new candidates: mutations, crossovers, random fill."""
    g = _Generation(paths, cm, cfg, seen, step_rng(cfg.seed, gen, "evolution"))
    parents = [Arch.from_dict({"blocks": r["arch"]}) for r in top_candidates(records, cfg.top_k)]
    if parents:  # never more children than the population
        g.fill(lambda: g.mutate(parents), min(cfg.mutations, cfg.population))
        g.fill(lambda: g.crossover(parents),
               min(cfg.crossovers, cfg.population - len(g.children)))
    g.fill(lambda: paths.sample(g.rng), cfg.population - len(g.children))
    return g.children


def top_candidates(records: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The ``k`` best records by held-out accuracy (ties: fewer MACs, then earlier)."""
    order = sorted(range(len(records)),
                   key=lambda i: (-records[i]["accuracy"], records[i]["macs"], i))
    return [records[i] for i in order[:k]]


def evolve(paths: PathSpace, score: Callable[[Arch], float], cfg: EvolutionConfig,
           state_file: str | Path | None = None, resume: bool = False,
           progress: bool = True, desc: str = "evolution") -> list[dict[str, Any]]:
    """Run the search; return every evaluated candidate as a record.

    A record: ``generation``, ``arch`` (block dicts), ``macs``, ``params``,
    ``accuracy`` (held-out, in [0, 1]).
    """
    cm = CostModel(paths.space)
    check_macs_range(paths, cm, None, cfg.max_macs)
    records: list[dict[str, Any]] = []
    start = 0
    if resume and state_file is not None and Path(state_file).exists():
        saved = read_json(state_file, "evolution state")
        if saved.get("config") != asdict(cfg):
            raise ValueError(f"{state_file} was written with other search settings; rerun "
                             "with the same settings, or --overwrite to start afresh")
        records, start = saved["records"], saved["next_generation"]
    seen = {Arch.from_dict({"blocks": r["arch"]}) for r in records}
    bar = tqdm(total=cfg.generations * cfg.population, desc=desc, disable=not progress,
               leave=False, initial=len(records))
    for gen in range(start, cfg.generations):
        children = next_generation(paths, cm, cfg, seen, records, gen)
        for arch in children:
            cost = cm(arch)
            records.append({"generation": gen, "arch": [b.to_dict() for b in arch.blocks],
                            "macs": cost.macs, "params": cost.params,
                            "accuracy": score(arch)})
            bar.update()
        if state_file is not None:
            write_json(state_file, {"config": asdict(cfg), "next_generation": gen + 1,
                                    "records": records})
    bar.close()
    return records


def random_search(paths: PathSpace, score: Callable[[Arch], float], cfg: EvolutionConfig,
                  state_file: str | Path | None = None, resume: bool = False,
                  progress: bool = True) -> list[dict[str, Any]]:
    """The baseline on the same budget: every candidate a fresh random path."""
    cfg = EvolutionConfig(**{**asdict(cfg), "mutations": 0, "crossovers": 0})
    return evolve(paths, score, cfg, state_file, resume, progress, desc="random search")
