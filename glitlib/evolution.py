"""Evolutionary search (SPOS) and random search, under a MACs limit.

Per generation: the ``parents`` best candidates evaluated so far breed;
``mutations`` children change each block with probability ``mutate_prob``;
``crossovers`` children take each block from one of two parents; random paths
fill the population. A child that is a duplicate (same canonical architecture
as any candidate seen) or over the MACs limit is rejected *before* it is
evaluated. Random search is the same loop with no mutation and no crossover.

The generator of generation ``g`` is a function of ``(seed, g)``, and the
state is written after every generation, so a resumed search repeats exactly
what an uninterrupted one does. Under torch.distributed each rank scores its
share of a generation (:func:`~glitlib.distributed.shard_map`) and the scores
are gathered, so every rank holds the same candidates and breeds the same next
generation.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from tqdm.auto import tqdm

from .arch import Arch
from .budget import check_macs_range
from .config import EvolutionConfig
from .costs import CostModel
from .distributed import shard_map
from .errors import BudgetError, CheckpointError
from .io import read_json, write_json
from .paths import PathSpace
from .records import Candidate, best_candidates
from .sampling import step_rng

__all__ = ["EvolutionConfig", "evolve", "next_generation", "random_search", "read_search",
           "feasible_paths", "enumerate_search"]


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
            self.paths.draw(self.rng, i) if self.rng.random() < self.cfg.mutate_prob else b
            for i, b in enumerate(parent.blocks)))

    def crossover(self, parents: list[Arch]) -> Arch:
        a, b = self.rng.choice(parents), self.rng.choice(parents)
        return Arch(tuple(self.rng.choice(pair) for pair in zip(a.blocks, b.blocks)))


def next_generation(paths: PathSpace, cm: CostModel, cfg: EvolutionConfig, seen: set[Arch],
                    found: list[Candidate], gen: int) -> list[Arch]:
    """Generation ``gen``'s new candidates: mutations, crossovers, random fill."""
    cfg = cfg.resolve()
    g = _Generation(paths, cm, cfg, seen, step_rng(cfg.seed, gen, "evolution"))
    parents = [c.arch for c in best_candidates(found, cfg.parents)]
    if parents:  # never more children than the population
        g.fill(lambda: g.mutate(parents), min(cfg.mutations, cfg.population))
        g.fill(lambda: g.crossover(parents),
               min(cfg.crossovers, cfg.population - len(g.children)))
    g.fill(lambda: paths.sample(g.rng), cfg.population - len(g.children))
    return g.children


def read_search(path: str | Path, run: str | None = None) -> tuple[dict, list[Candidate]]:
    """A ``search.json``: its header (config, space, run, next generation) and candidates."""
    state = read_json(path, "search results")
    where = f"search results {path}"
    if isinstance(state, dict) and "records" in state:
        raise CheckpointError(f"{where} were written by an older glitlib (a 'records' list); "
                              "rerun glit evolve, or rename 'records' to 'candidates', "
                              "'accuracy' to 'supernet_accuracy' and add the 'space'")
    if not isinstance(state, dict) or not isinstance(state.get("candidates"), list):
        raise CheckpointError(f"{where} hold no candidate list; rerun glit evolve")
    if "space" not in state:
        raise CheckpointError(f"{where} do not name their search space; rerun glit evolve")
    if run is not None and state.get("run") != run:
        raise CheckpointError(f"{where} belong to another run (other settings or seed); "
                              "delete the file and rerun with --resume, or --overwrite")
    cands = [Candidate.from_dict(c, f"{where}, candidate {i}")
             for i, c in enumerate(state["candidates"])]
    return state, cands


def evolve(paths: PathSpace, score: Callable[[Arch], float], cfg: EvolutionConfig,
           state_file: str | Path | None = None, resume: bool = False,
           progress: bool | None = None, desc: str = "evolution",
           meta: dict | None = None) -> list[Candidate]:
    """Run the search; return every evaluated :class:`~glitlib.records.Candidate`.

    ``state_file`` (``search.json``) is rewritten after every generation with the
    space, the settings and ``meta`` (the run fingerprint), so it names all it
    needs to be read again.
    """
    cfg = cfg.resolve()
    cm = CostModel(paths.space)
    check_macs_range(paths, None, cfg.max_macs, cm)
    found: list[Candidate] = []
    start = 0
    meta = meta or {}
    if resume and state_file is not None and Path(state_file).exists():
        saved, found = read_search(state_file, meta.get("run"))
        if saved.get("config") != asdict(cfg):
            raise CheckpointError(f"{state_file} was written with other search settings; "
                                  "rerun with the same settings, or --overwrite")
        start = saved["next_generation"]
    seen = {c.arch for c in found}
    bar = tqdm(total=cfg.generations * cfg.population, desc=desc,
               disable=None if progress is None else not progress, leave=False,
               initial=len(found))
    for gen in range(start, cfg.generations):
        found += _score(next_generation(paths, cm, cfg, seen, found, gen), score, cm, gen)
        bar.update(len(found) - bar.n)
        if state_file is not None:
            write_json(state_file, {**meta, "space": paths.space.to_dict(),
                                    "config": asdict(cfg), "next_generation": gen + 1,
                                    "candidates": [c.to_dict() for c in found]})
    bar.close()
    if not found:
        raise BudgetError(
            f"no path under the MACs limit {cfg.max_macs:,} was found in {cfg.max_tries} "
            "random draws in a row: the limit admits too few paths; raise it, or raise "
            "--max-tries")
    return found


def _score(archs: list[Arch], score: Callable[[Arch], float], cm: CostModel,
           gen: int) -> list[Candidate]:
    """The candidates of ``archs``, scored (sharded over ranks in a distributed run)."""
    scores = shard_map(score, archs)
    return [Candidate(a, (c := cm(a)).macs, c.params, s, gen) for a, s in zip(archs, scores)]


def random_search(paths: PathSpace, score: Callable[[Arch], float], cfg: EvolutionConfig,
                  state_file: str | Path | None = None, resume: bool = False,
                  progress: bool | None = None, meta: dict | None = None) -> list[Candidate]:
    """The baseline on the same budget: every candidate a fresh random path."""
    cfg = replace(cfg, mutations=0, crossovers=0)
    return evolve(paths, score, cfg, state_file, resume, progress, "random search", meta)


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


def enumerate_search(paths: PathSpace, score: Callable[[Arch], float], cfg: EvolutionConfig,
                     archs: list[Arch], state_file: str | Path | None = None,
                     resume: bool = False, progress: bool | None = None,
                     meta: dict | None = None) -> list[Candidate]:
    """Score every feasible path once: when the budget covers them all, nothing to search.

    Same state file as :func:`evolve` (all candidates are generation 0), so a
    resumed run and the plots read it alike.
    """
    cfg = cfg.resolve()
    meta = meta or {}
    if resume and state_file is not None and Path(state_file).exists():
        saved, found = read_search(state_file, meta.get("run"))
        if saved.get("config") == asdict(cfg) and len(found) == len(archs):
            return found
    cm = CostModel(paths.space)
    found: list[Candidate] = []
    chunk = max(1, cfg.population)
    with tqdm(total=len(archs), desc="enumeration", leave=False,
              disable=None if progress is None else not progress) as bar:
        for i in range(0, len(archs), chunk):
            found += _score(archs[i:i + chunk], score, cm, 0)
            bar.update(len(found) - bar.n)
    if state_file is not None:
        write_json(state_file, {**meta, "space": paths.space.to_dict(), "config": asdict(cfg),
                                "next_generation": cfg.generations, "strategy": "enumeration",
                                "candidates": [c.to_dict() for c in found]})
    return found
