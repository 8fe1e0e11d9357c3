"""How candidates are proposed, behind one small protocol, and the loop that scores them.

A :class:`Strategy` proposes the paths of each generation; it never touches torch and
never scores anything. :func:`run_strategy` is the one loop around any strategy: it
scores each generation's paths (sharded over ranks in a distributed run, so every
rank holds the same candidates), writes the state file after every generation and,
resumed, continues from it only if it was written with the same settings. The
strategies (:mod:`glitlib.nas.evolution`, :mod:`glitlib.nas.exhaustive`) are chosen in
one place, :func:`make_strategy`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..config.search import ResolvedConfig
from ..errors import ArchitectureError, BudgetError, CheckpointError
from ..model.arch import Arch
from ..model.costs import CostModel
from ..model.space import get_space
from ..runtime.context import Runtime
from ..runtime.files import read_json, write_json
from ..runtime.log import log
from ..runtime.progress import bar
from ..runtime.ranks import shard_map
from ..runtime.resume import saved_result
from .paths import PathSpace
from .records import Candidate, best_candidates

__all__ = ["Strategy", "run_strategy", "make_strategy", "read_search"]


class Strategy(Protocol):
    """Proposes candidates generation by generation; its state resumes exactly."""

    name: str
    paths: PathSpace

    @property
    def done(self) -> bool:
        """Whether the strategy has proposed everything it will."""
        ...

    @property
    def budget(self) -> int:
        """How many candidates it scores at most (for progress)."""
        ...

    def settings(self) -> dict[str, Any]:
        """What identifies it: written to the state file and checked on resume."""
        ...

    def propose(self, found: Sequence[Candidate]) -> tuple[int, list[Arch]]:
        """The next generation's number and its new paths, given all scored so far."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def make_strategy(cfg: ResolvedConfig, paths: PathSpace) -> Strategy:
    """The strategy a run's settings ask for: every feasible path when the evaluation
    budget covers them all (and ``exhaustive_small``), else evolution or random search."""
    from .evolution import Evolution, RandomSearch
    from .exhaustive import Exhaustive, feasible_paths

    archs = (feasible_paths(paths, cfg.max_macs, cfg.evolution.budget)
             if cfg.exhaustive_small else None)
    if archs is not None:
        return Exhaustive(paths, archs, chunk=cfg.evolution.population)
    kind = Evolution if cfg.strategy == "evolution" else RandomSearch
    return kind(paths, cfg.evolution, cfg.max_macs, cfg.seed)


def read_search(path: str | Path) -> tuple[dict[str, Any], list[Candidate]]:
    """A ``search.json``: its header (space, strategy, settings, state) and candidates."""
    state = read_json(path, "search results")
    where = f"search results {path}"
    if isinstance(state, dict) and "records" in state:
        raise CheckpointError(f"{where} were written by an older glitlib (a 'records' list); "
                              "rerun glit evolve")
    if not isinstance(state, dict) or not isinstance(state.get("candidates"), list):
        raise CheckpointError(f"{where} hold no candidate list; rerun glit evolve")
    if "space" not in state:
        raise CheckpointError(f"{where} do not name their search space; rerun glit evolve")
    try:
        space = get_space(state["space"])
    except ArchitectureError as err:
        raise CheckpointError(f"{where}: {err}") from None
    cm = CostModel(space)
    cands = [Candidate.from_dict(c, f"{where}, candidate {i}")
             for i, c in enumerate(state["candidates"])]
    for i, c in enumerate(cands):  # each candidate a network of the space, at its cost
        try:
            cost = cm(c.arch.validate(space))
        except ArchitectureError as err:
            raise CheckpointError(f"{where}, candidate {i}: {err}; the file was edited or "
                                  "belongs to another space: rerun glit evolve") from None
        if (cost.macs, cost.params) != (c.macs, c.params):
            raise CheckpointError(
                f"{where}, candidate {i}: recorded {c.macs:,} MACs and {c.params:,} params, "
                f"but space {space.name!r} gives {cost.macs:,} and {cost.params:,}; the file "
                "was edited or belongs to another space: rerun glit evolve")
    return state, cands


def _scored(archs: list[Arch], score: Callable[[Arch], float], cm: CostModel,
            gen: int) -> list[Candidate]:
    """The candidates of ``archs``, scored (sharded over ranks in a distributed run)."""
    scores = shard_map(score, archs)
    return [Candidate(a, (c := cm(a)).macs, c.params, s, gen) for a, s in zip(archs, scores)]


def run_strategy(strategy: Strategy, score: Callable[[Arch], float],
                 state_file: str | Path | None = None, resume: bool = False,
                 rt: Runtime | None = None, meta: dict[str, Any] | None = None,
                 desc: str | None = None) -> list[Candidate]:
    """Propose, score, repeat until the strategy is done; every scored candidate, in order.

    ``state_file`` (``search.json``) is rewritten after every generation with the
    space, the strategy's settings and state, and ``meta`` (the run fingerprint), so it
    names all it needs to be read again. With a ``desc``, each generation's best is
    logged as it is found.
    """
    rt = rt or Runtime()
    meta = meta or {}
    cm = CostModel(strategy.paths.space)
    head = {**meta, "space": strategy.paths.space.to_dict(), "strategy": strategy.name,
            "config": strategy.settings()}
    found: list[Candidate] = []
    saved = saved_result(Path(state_file), head, "search results",
                         resume) if state_file is not None else None
    if saved is not None:
        found = read_search(state_file)[1]  # type: ignore[arg-type]
        strategy.load_state_dict(saved["state"])
    with bar(strategy.budget, strategy.name, rt.progress, initial=len(found)) as progress:
        while not strategy.done:
            gen, archs = strategy.propose(found)
            found += _scored(archs, score, cm, gen)
            progress.update(len(found) - progress.n)
            if desc is not None and found:
                best = best_candidates(found, 1)[0]
                log.info("%s: generation %d, %d scored, best so far %.2f%% at %s MACs",
                         desc, gen, len(found), 100 * best.score, f"{best.macs:,}")
            if state_file is not None:
                write_json(state_file, {**head, "state": strategy.state_dict(),
                                        "candidates": [c.to_dict() for c in found]})
    if not found:
        limit, tries = head["config"].get("max_macs"), head["config"].get("max_tries")
        raise BudgetError(
            f"no path under the MACs limit {limit:,} was found in {tries} random draws in a "
            "row: the limit admits too few paths; raise it, or raise --max-tries")
    return found
