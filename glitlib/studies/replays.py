"""Replaying searches on a truth table: which method finds the best network, at equal compute?

On a space listed completely (:mod:`glitlib.studies.truth`), a search needs no real
retraining: retraining a candidate is a **look-up** in the table, and each look-up draws
one of the table's training seeds, as a real retraining would draw its own luck (the
same network looked up twice in one search gets the same draw). Everything else is the
search's own code: SPOS supernets (:func:`~glitlib.nas.training.train_supernet`) scored
by the :class:`~glitlib.nas.evaluator.Evaluator`, every feasible path of a stage scored
(the stages here are small), the best by supernet score looked up.

The methods, replayed with every supernet seed, at equal supernet steps (two stages of
``S`` steps each against one supernet of ``2 S``) and equal *distinct* look-ups ``D``
(what two stages looked up at that seed):

* ``two-stage`` -- GLiT: stage 1 scores the distributions, its best ``k`` by supernet
  score are looked up and the best fixes the distribution; stage 2 scores that
  distribution's networks, looks up its best ``k``, keeps the best;
* ``single-stage-distinct`` and ``single-stage-heads`` -- one supernet over the joint
  space under either sampling prior; its best ``D`` looked up;
* ``random`` -- ``D`` networks drawn at random and looked up, no supernet;
* ``supernet-first`` -- the joint supernet's top network, no look-up at all;
* ``oracle-stage1`` -- stage 2 on the distribution of the truly best network: what is
  left of the error when stage 1 makes none.

The **regret** of a search is the truth (mean test accuracy over training seeds, in
points) of the best feasible network minus that of the network found. Intervals are
bootstrapped over supernet seeds and seed tables together; methods are compared by
paired tests on per-seed regrets (:mod:`glitlib.stats`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import stats
from ..config.checks import fingerprint
from ..config.search import ResolvedConfig
from ..data.source import Splits
from ..model.arch import Arch
from ..model.costs import CostModel
from ..nas.evaluator import Evaluator
from ..nas.exhaustive import feasible_paths
from ..nas.paths import PathSpace, joint, stage1, stage2
from ..nas.records import Candidate, best_candidates
from ..nas.training import train_supernet
from ..runtime.context import Runtime
from ..runtime.files import read_json, write_json
from ..runtime.resume import saved_result
from ..runtime.seeds import rng

__all__ = ["METHODS", "Replay", "run_replays", "summarize_replays", "replay_table"]

METHODS = ("two-stage", "single-stage-distinct", "single-stage-heads", "random",
           "supernet-first", "oracle-stage1")


@dataclass
class Replay:
    """What every replayed search shares: the table, the run, where supernet scores live."""

    truth: dict[str, Any]  # truth.json
    cfg: ResolvedConfig
    splits: Splits
    out: Path
    rt: Runtime = field(default_factory=Runtime)

    def __post_init__(self) -> None:
        self.space = self.cfg.search_space()
        self.archs = [Arch.from_dict({"blocks": n["arch"]}) for n in self.truth["networks"]]
        self.index = {a: i for i, a in enumerate(self.archs)}
        self.costs, limit = CostModel(self.space), self.cfg.max_macs
        assert limit is not None  # a resolved config has its limit
        self.feasible = [i for i, a in enumerate(self.archs) if self.costs.macs(a) <= limit]
        self.test = np.array([[r["test_accuracy"] for r in n["seeds"]]
                              for n in self.truth["networks"]]) * 100
        self.val = np.array([[r["val_accuracy"] for r in n["seeds"]]
                             for n in self.truth["networks"]]) * 100
        self.run = fingerprint({"truth": self.truth["run"], "supernet":
                                self.cfg.to_dict()["supernet"],
                                "bn": [self.cfg.bn_batches, self.cfg.bn_batch_size]})

    # -- supernet scores, cached: one file per supernet ------------------------------
    def scores(self, kind: str, paths: PathSpace, steps: int, seed: int) -> list[int]:
        """The feasible paths of ``paths`` (network indices), best first by the held-out
        accuracy a supernet of ``steps`` trained with ``seed`` gives them; scored once and
        saved. The order is the search's own (:func:`~glitlib.nas.records.best_candidates`
        over the exhaustive strategy's candidates): ties go to fewer MACs, then to the
        path listed first."""
        file = self.out / "supernets" / f"{kind}_seed{seed}.json"
        saved = saved_result(file, {"run": self.run, "kind": kind, "steps": steps},
                             "supernet scores")
        if saved is None:
            saved = self._score(file, kind, paths, steps, seed)
        found = [Candidate(self.archs[i], self.cost(i).macs, self.cost(i).params, acc, 0)
                 for i, acc in saved["scores"]]
        return [self.index[c.arch] for c in best_candidates(found, len(found))]

    def _score(self, file: Path, kind: str, paths: PathSpace, steps: int,
               seed: int) -> dict[str, Any]:
        clock = time.perf_counter()
        recipe = replace(self.cfg.supernet, steps=steps, warmup_steps=steps // 10)
        net = train_supernet(paths, self.splits.train, recipe, seed, self.rt.quiet())
        score = Evaluator(net, self.splits.train, self.splits.val, self.cfg.bn_batches,
                          self.cfg.bn_batch_size, self.cfg.seed)
        archs = feasible_paths(paths, self.cfg.max_macs, len(self.archs)) or []
        row = {"run": self.run, "kind": kind, "steps": steps, "seed": seed,
               "scores": [[self.index[a], score(a)] for a in archs],
               "seconds": round(time.perf_counter() - clock, 2)}
        write_json(file, row)
        return row

    def cost(self, i: int) -> Any:
        return self.costs(self.archs[i])

    # -- look-ups ------------------------------------------------------------------------
    def lookup(self, i: int, seed: int, method: str) -> float:
        """Network ``i`` "retrained": its held-out accuracy under one training seed drawn
        for this (search seed, method, network)."""
        draw = rng(f"lookup:{method}", seed, i).randrange(self.val.shape[1])
        return float(self.val[i, draw])

    def best_looked_up(self, ranked: list[int], k: int, seed: int, method: str
                       ) -> tuple[int, list[int]]:
        """The best by looked-up accuracy of the top ``k`` of ``ranked`` (ties: fewer MACs,
        then the better rank, as :func:`~glitlib.nas.records.best_retrained`); those ``k``."""
        top = ranked[:k]
        best = min(range(len(top)), key=lambda r: (-self.lookup(top[r], seed, method),
                                                   self.cost(top[r]).macs, r))
        return top[best], top

    def truth_of(self, i: int, seeds: np.ndarray | None = None) -> float:
        """Mean test accuracy (points) over the table's seeds (or the ``seeds`` columns)."""
        row = self.test[i] if seeds is None else self.test[i, seeds]
        return float(row.mean())


def _stage2(rp: Replay, dist: tuple[int, ...], seed: int, method: str
            ) -> tuple[int, list[int]]:
    s = rp.cfg.supernet.steps
    key = "stage2-" + "".join(map(str, dist))
    ranked = rp.scores(key, stage2(rp.space, dist), s, seed)
    return rp.best_looked_up(ranked, rp.cfg.retrain_candidates, seed, method)


def _two_stage(rp: Replay, seed: int) -> dict[str, Any]:
    s, k = rp.cfg.supernet.steps, rp.cfg.retrain_candidates
    ranked = rp.scores("stage1", stage1(rp.space), s, seed)
    first, top1 = rp.best_looked_up(ranked, k, seed, "two-stage")
    found, top2 = _stage2(rp, rp.archs[first].distribution, seed, "two-stage")
    return {"found": found, "looked_up": sorted(set(top1) | set(top2)),
            "supernet_steps": 2 * s, "stage1": first}


def _single_stage(rp: Replay, seed: int, prior: str, budget: int) -> dict[str, Any]:
    s = 2 * rp.cfg.supernet.steps
    ranked = rp.scores(f"joint-{prior}", joint(rp.space, prior), s, seed)
    found, top = rp.best_looked_up(ranked, budget, seed, f"single-stage-{prior}")
    return {"found": found, "looked_up": sorted(top), "supernet_steps": s}


def _random(rp: Replay, seed: int, budget: int) -> dict[str, Any]:
    picked = rng("random-lookups", seed).sample(rp.feasible, min(budget, len(rp.feasible)))
    found, top = rp.best_looked_up(picked, len(picked), seed, "random")
    return {"found": found, "looked_up": sorted(top), "supernet_steps": 0}


def _supernet_first(rp: Replay, seed: int) -> dict[str, Any]:
    s = 2 * rp.cfg.supernet.steps
    ranked = rp.scores("joint-distinct", joint(rp.space, "distinct"), s, seed)
    return {"found": ranked[0], "looked_up": [], "supernet_steps": s}


def _oracle(rp: Replay, seed: int) -> dict[str, Any]:
    best = max(rp.feasible, key=lambda i: (rp.truth_of(i), -i))
    found, top = _stage2(rp, rp.archs[best].distribution, seed, "oracle-stage1")
    return {"found": found, "looked_up": sorted(top), "supernet_steps": rp.cfg.supernet.steps}


def replay_seed(rp: Replay, seed: int) -> dict[str, Any]:
    """Every method with supernet seed ``seed``: what each finds, what it spent."""
    two = _two_stage(rp, seed)
    budget = len(two["looked_up"])  # equal distinct look-ups for the others
    runs = {"two-stage": two,
            "single-stage-distinct": _single_stage(rp, seed, "distinct", budget),
            "single-stage-heads": _single_stage(rp, seed, "heads", budget),
            "random": _random(rp, seed, budget),
            "supernet-first": _supernet_first(rp, seed),
            "oracle-stage1": _oracle(rp, seed)}
    return {"supernet_seed": seed, "methods": runs}


def run_replays(rp: Replay, seeds: list[int]) -> list[dict[str, Any]]:
    """Replay every method with every supernet seed (supernet scores are cached)."""
    from ..runtime.progress import bar

    rows = []
    with bar(len(seeds), "replays", rp.rt.progress, lines=True) as progress:
        for s in seeds:
            rows.append(replay_seed(rp, s))
            progress.update()
    return rows


def _regrets(rp: Replay, rows: list[dict[str, Any]], method: str,
             seeds: np.ndarray | None = None) -> np.ndarray:
    best = max(rp.truth_of(i, seeds) for i in rp.feasible)
    return np.array([best - rp.truth_of(r["methods"][method]["found"], seeds) for r in rows])


def _true_rank(rp: Replay, i: int) -> int:
    """1 + the feasible networks with a strictly higher truth."""
    t = rp.truth_of(i)
    return 1 + sum(rp.truth_of(j) > t for j in rp.feasible)


def summarize_replays(rp: Replay, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Regret per method with intervals, rank histograms, paired tests against two stages."""
    n_seeds = rp.test.shape[1]
    methods = {}
    for m in METHODS:
        regret = _regrets(rp, rows, m)

        def resample(g: np.random.Generator, m: str = m) -> np.ndarray:
            cols = np.asarray(g.integers(0, n_seeds, size=n_seeds))  # a resampled seed table
            picked = [rows[j] for j in g.integers(0, len(rows), len(rows))]
            return _regrets(rp, picked, m, cols)
        ranks = Counter(_true_rank(rp, r["methods"][m]["found"]) for r in rows)
        methods[m] = {"mean_regret": round(float(regret.mean()), 4),
                      "ci95": stats.bootstrap_mean(regret, resample),
                      "found_best": int((regret == 0).sum()), "seeds": len(rows),
                      "rank_histogram": {str(k): v for k, v in sorted(ranks.items())},
                      "distinct_lookups": float(np.mean([len(r["methods"][m]["looked_up"])
                                                         for r in rows])),
                      "supernet_steps": rows[0]["methods"][m]["supernet_steps"]}
    base = _regrets(rp, rows, "two-stage")
    tests = {m: stats.paired_summary(_regrets(rp, rows, m) - base)
             for m in METHODS if m != "two-stage"}
    adjusted = stats.holm([t["wilcoxon_p"] for t in tests.values()])
    for t, p in zip(tests.values(), adjusted):
        t["wilcoxon_p_holm"] = p
    best = max(rp.feasible, key=lambda i: (rp.truth_of(i), -i))
    return {"best": {"index": best, "truth": round(rp.truth_of(best), 4),
                     "distribution": list(rp.archs[best].distribution)},
            "feasible": len(rp.feasible), "methods": methods,
            "vs_two_stage": tests, "supernet_ranking": supernet_ranking(rp, rows)}


def supernet_ranking(rp: Replay, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How well each seed's joint supernet ranks the feasible networks against their truth
    (mean held-out accuracy): Kendall's tau-b and Spearman, mean over seeds."""
    per_seed = []
    for r in rows:
        file = rp.out / "supernets" / f"joint-distinct_seed{r['supernet_seed']}.json"
        scores = dict((i, acc) for i, acc in read_json(file, "supernet scores")["scores"])
        per_seed.append(stats.rank_agreement([scores[i] for i in rp.feasible],
                                             [float(rp.val[i].mean()) for i in rp.feasible]))
    keys = ("kendall_tau_b", "spearman")
    return {"per_seed": per_seed, **{k: round(float(np.mean([p[k] for p in per_seed
                                                               if p[k] is not None])), 4)
                                     if any(p[k] is not None for p in per_seed) else None
                                     for k in keys}}


def replay_table(truth: dict[str, Any], cfg: ResolvedConfig, out: str | Path,
                 seeds: list[int], rt: Runtime | None = None) -> dict[str, Any]:
    """Replay every method on a truth table with every supernet seed; ``replays.json``.

    Supernet scores are saved as they are made, so a stopped run continues.
    """
    from ..data.load import load_splits
    from ..runtime.rundir import RunDir

    rt = rt or Runtime()
    splits = load_splits(cfg, rt)
    with RunDir(out, resume=True) as run:
        rp = Replay(truth, cfg, splits, run.path, rt)
        rows = run_replays(rp, seeds)
        result = {"format": "glitlib-replays", "version": 1, "run": rp.run,
                  "truth_run": truth["run"], "supernet_seeds": seeds,
                  "supernet": cfg.to_dict()["supernet"],
                  "lookups_per_stage": cfg.retrain_candidates, "rows": rows,
                  "summary": summarize_replays(rp, rows)}
        write_json(run.path / "replays.json", result)
    return result
