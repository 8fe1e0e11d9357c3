"""Every network of a small search space trained on its own: how close does the search get?

On a space small enough to list completely, every network is trained from
scratch with the search's retraining recipe and seed, and scored on the
held-out split: the *table*, the true answer a search should find. Then, for
several supernet seeds:

* a joint supernet (single-stage SPOS) scores every network, to measure how
  well supernet scores rank the true accuracies;
* GLiT's hierarchical search is replayed: stage 1's supernet scores every
  distribution, the best few by supernet score are "retrained", the best of
  them fixes the distribution; stage 2's supernet scores every path of it, the
  best few are "retrained", the best is the found network.

**Retraining is a look-up in the table.** :func:`glitlib.nas.pipeline.run_search`
retrains a candidate with ``cfg.retrain`` and ``cfg.seed`` from scratch; the
table holds exactly that training of every network (same recipe, same seed,
same data), so looking the candidate up gives the number retraining would
give, without training it again. Everything else is the search's own code:
:func:`~glitlib.nas.training.train_supernet`, :class:`~glitlib.nas.evaluator.Evaluator`,
:class:`~glitlib.nas.exhaustive.Exhaustive` (the stages here are small enough
that the search scores every path instead of evolving),
:func:`~glitlib.nas.records.best_candidates` and
:func:`~glitlib.nas.records.best_retrained`. Only the supernets' seed varies
between replays: the data split, the BatchNorm recalibration batches and the
retraining keep the run's ``seed``, so one table serves every replay.

A sample of networks is also trained with half and twice the steps, to see
whether the recipe is long enough for its ranking to settle.

Every result is one small JSON file stamped with the run's fingerprint and
written atomically; a run that is stopped continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config.search import ResolvedConfig, SearchConfig
from ..data.load import load_splits
from ..data.source import Splits
from ..errors import CheckpointError, ConfigError
from ..model.arch import Arch
from ..model.costs import CostModel
from ..model.space import SearchSpace
from ..nas.evaluator import Evaluator
from ..nas.exhaustive import Exhaustive, feasible_paths
from ..nas.paths import PathSpace, joint, stage1, stage2
from ..nas.ranking import kendall_tau, precision_at_k, standard_error
from ..nas.records import Candidate, Retrained, best_candidates, best_retrained
from ..nas.strategy import run_strategy
from ..nas.training import train_supernet
from ..runtime.context import Runtime
from ..runtime.files import read_json, write_json
from ..runtime.progress import bar
from ..runtime.resume import save_settings
from ..runtime.seeds import rng
from ..train.standalone import accuracy, train_model

__all__ = ["MAX_NETWORKS", "CHECK_SAMPLE", "all_networks", "check_config", "Table",
           "joint_scores", "replay_stage", "replay_search", "true_rank", "summarize",
           "run_enumeration"]

MAX_NETWORKS = 2000  # more would take hours on a CPU: enumeration is for small spaces
CHECK_SAMPLE = 12  # networks trained again with half and twice the steps


def all_networks(space: SearchSpace) -> list[Arch]:
    """Every distinct network of the space, in a fixed order (its index is its name)."""
    paths = joint(space)
    archs = feasible_paths(paths, None, MAX_NETWORKS)
    if archs is None:
        raise ConfigError(f"space {space.name!r} has {paths.size:,} networks; enumeration "
                          f"trains every one, so give a space of at most {MAX_NETWORKS:,} "
                          "(fewer depth, heads or candidate values)")
    return archs


def check_config(cfg: SearchConfig) -> ResolvedConfig:
    """The resolved config, refused where the search would not score every path."""
    cfg = cfg.resolve()
    if cfg.stages != 2:
        raise ConfigError("glit enumerate replays both the two-stage search and the "
                          "single-stage baseline; drop --stages")
    if not cfg.exhaustive_small:
        raise ConfigError("glit enumerate replays searches that score every path of a "
                          "stage; drop --no-exhaustive-small")
    return cfg


class Table:
    """Held-out accuracy of each network trained alone: one file per network and recipe.

    A missing entry is trained when asked for (``train_model`` + ``accuracy``, the
    retraining of :func:`glitlib.nas.pipeline.retrain_candidates`) and saved at once.
    """

    def __init__(self, out: Path, cfg: ResolvedConfig, splits: Splits, archs: list[Arch],
                 rt: Runtime | None = None):
        self.out, self.cfg, self.splits, self.archs = out, cfg, splits, archs
        self.rt, self.run = (rt or Runtime()).quiet(), cfg.fingerprint()
        self.space = cfg.search_space()
        self.index = {a: i for i, a in enumerate(archs)}

    def file(self, i: int, steps: int) -> Path:
        if steps == self.cfg.retrain.steps:
            return self.out / "trained" / f"arch{i:03d}.json"
        return self.out / "check" / f"arch{i:03d}_steps{steps}.json"

    def saved(self, i: int, steps: int | None = None) -> dict[str, Any] | None:
        file = self.file(i, steps or self.cfg.retrain.steps)
        if not file.exists():
            return None
        row = read_json(file, "trained network")
        if row.get("run") != self.run:
            raise CheckpointError(f"{file} belongs to another run; delete it and rerun")
        return row

    def accuracy(self, i: int, steps: int | None = None) -> float:
        """Held-out accuracy of network ``i`` after ``steps`` (default: the recipe's)."""
        steps = steps or self.cfg.retrain.steps
        row = self.saved(i, steps)
        if row is None:
            recipe = replace(self.cfg.retrain, steps=steps, warmup_steps=None)
            if steps == self.cfg.retrain.steps:
                recipe = self.cfg.retrain
            clock = time.perf_counter()
            model = train_model(self.space, self.archs[i], self.splits.train, recipe,
                                self.cfg.seed, self.rt)
            row = {"run": self.run, "index": i, "steps": steps,
                   "arch": [b.to_dict() for b in self.archs[i].blocks],
                   "val_accuracy": accuracy(model, self.splits.val),
                   "seconds": round(time.perf_counter() - clock, 2)}
            write_json(self.file(i, steps), row)
        return row["val_accuracy"]

    def lookup(self, arch: Arch) -> float:
        """What retraining ``arch`` with the run's recipe and seed gives."""
        return self.accuracy(self.index[arch.canonical(self.space)])


def _supernet(paths: PathSpace, cfg: ResolvedConfig, splits: Splits, seed: int, rt: Runtime,
              desc: str) -> Evaluator:
    """A supernet trained with the run's recipe but seed ``seed``, ready to score paths."""
    net = train_supernet(paths, splits.train, cfg.supernet, seed, rt.quiet(), desc=desc)
    return Evaluator(net, splits.train, splits.val, cfg.bn_batches, cfg.bn_batch_size,
                     cfg.seed)


def joint_scores(out: Path, cfg: ResolvedConfig, splits: Splits, archs: list[Arch],
                 seed: int, only: Sequence[int], rt: Runtime) -> dict[str, float]:
    """Supernet accuracy of networks ``only`` on the joint supernet of ``seed``.

    Saved as ``seeds/joint{seed}.json`` (index -> score); a path's score does not
    depend on which paths were scored before it, so later runs add to the file.
    """
    file = out / "seeds" / f"joint{seed}.json"
    saved = read_json(file, "supernet scores") if file.exists() else None
    if saved is not None and saved.get("run") != cfg.fingerprint():
        raise CheckpointError(f"{file} belongs to another run; delete it and rerun")
    scores = dict(saved["scores"]) if saved else {}
    missing = [i for i in only if str(i) not in scores]
    if missing:
        clock = time.perf_counter()
        score = _supernet(joint(cfg.search_space()), cfg, splits, seed, rt,
                          f"joint supernet {seed}")
        scores.update({str(i): score(archs[i]) for i in missing})
        spent = (saved or {}).get("seconds", 0) + time.perf_counter() - clock
        write_json(file, {"run": cfg.fingerprint(), "supernet_seed": seed,
                          "scores": dict(sorted(scores.items(), key=lambda kv: int(kv[0]))),
                          "seconds": round(spent, 2)})
    return scores


def replay_stage(paths: PathSpace, cfg: ResolvedConfig, splits: Splits, seed: int,
                 lookup: Callable[[Arch], float], rt: Runtime,
                 name: str = "stage") -> dict[str, Any]:
    """One stage of :func:`glitlib.nas.pipeline.run_stage`, retraining looked up in the table."""
    clock = time.perf_counter()
    score = _supernet(paths, cfg, splits, seed, rt, f"{name} supernet {seed}")
    budget = cfg.evolution.budget
    archs = feasible_paths(paths, cfg.max_macs, budget)
    if archs is None:
        raise ConfigError(f"{name} has more paths than the search scores "
                          f"({budget:,}); enumeration replays only stages the search "
                          "scores completely: give a smaller space")
    found = run_strategy(Exhaustive(paths, archs, cfg.evolution.population), score,
                         rt=rt.quiet())
    spent = time.perf_counter() - clock  # the supernet and its scores; the table counts its own
    top = best_candidates(found, cfg.retrain_candidates)
    rows = [Retrained(rank, c, lookup(c.arch), "table") for rank, c in enumerate(top)]
    return {"candidates": [c.to_dict() for c in found],
            "retrained": [r.to_dict() for r in rows],
            "best": best_retrained(rows).to_dict(), "seconds": round(spent, 2)}


def replay_search(cfg: ResolvedConfig, splits: Splits, seed: int,
                  lookup: Callable[[Arch], float], rt: Runtime | None = None
                  ) -> dict[str, Any]:
    """GLiT's two stages with supernet seed ``seed``: what ``run_search`` would find."""
    rt = rt or Runtime()
    space = cfg.search_space()
    first = replay_stage(stage1(space), cfg, splits, seed, lookup, rt, "stage1")
    paths = stage2(space, first["best"]["distribution"])
    second = replay_stage(paths, cfg, splits, seed, lookup, rt, "stage2")
    return {"supernet_seed": seed, "stage1": first, "stage2": second,
            "found": second["best"]["arch"]}


def true_rank(truth: Sequence[float], i: int) -> int:
    """1 + the number of networks with a strictly higher accuracy (ties share a rank)."""
    return 1 + sum(t > truth[i] for t in truth)


def _placement(truth: list[float], i: int, images: int, tie: float) -> dict[str, Any]:
    """Where network ``i`` lies: its rank, its gap to the best, and whether that is a tie."""
    best = max(truth)
    return {"index": i, "val_accuracy": truth[i], "rank": true_rank(truth, i),
            "gap": round(best - truth[i], 6), "gap_images": round((best - truth[i]) * images),
            "within_one_se": best - truth[i] <= tie}


def summarize(out: Path, cfg: ResolvedConfig, archs: list[Arch], seeds: Sequence[int],
              images: int, table: Table, check: Sequence[int], k: int) -> dict[str, Any]:
    """The run in numbers: ranking quality per seed, where each search lands, the check."""
    truth = [table.accuracy(i) for i in range(len(archs))]
    tie = standard_error(sum(truth) / len(truth), images)  # as glitlib.ranking: a tie
    index = table.index
    per_seed = []
    for s in seeds:
        scores = read_json(out / "seeds" / f"joint{s}.json")["scores"]
        sc = [scores[str(i)] for i in range(len(archs))]
        found = read_json(out / "seeds" / f"search{s}.json")["found"]
        single = best_retrained([
            Retrained(r, c, truth[index[c.arch]], "table")
            for r, c in enumerate(best_candidates(_joint_candidates(cfg, archs, sc),
                                                  cfg.retrain_candidates))])
        per_seed.append({
            "supernet_seed": s, "kendall_tau": round(kendall_tau(sc, truth, tie), 4),
            f"precision_at_{k}": precision_at_k(sc, truth, k, tie),
            "hierarchical": _placement(truth, index[Arch.from_dict({"blocks": found})],
                                       images, tie),
            "single_stage": _placement(truth, index[single.arch], images, tie)})
    base = [truth[i] for i in check]
    steps = cfg.retrain.steps
    check_tau = {str(s): round(kendall_tau([table.accuracy(i, s) for i in check], base, tie), 4)
                 for s in (steps // 2, 2 * steps)}
    best = max(range(len(archs)), key=lambda i: (truth[i], -i))
    return {"run": cfg.fingerprint(), "space": cfg.search_space().name,
            "networks": len(archs), "held_out_images": images, "tie": round(tie, 6),
            "best": _placement(truth, best, images, tie), "seeds": per_seed,
            "check": {"sample": list(check), "steps": steps,
                      "kendall_tau_vs_recipe": check_tau},
            "seconds": round(_seconds(out), 1)}


def _joint_candidates(cfg: ResolvedConfig, archs: list[Arch], scores: list[float]
                      ) -> list[Candidate]:
    """The single-stage search's candidates: every network under the MACs limit."""
    cm = CostModel(cfg.search_space())
    return [Candidate(a, cm(a).macs, cm(a).params, s, 0) for a, s in zip(archs, scores)
            if cfg.max_macs is None or cm.macs(a) <= cfg.max_macs]


def _seconds(out: Path) -> float:
    total = 0.0
    for file in sorted(out.glob("*/*.json")):
        row = read_json(file)
        total += row.get("seconds", 0) + sum(
            row.get(st, {}).get("seconds", 0) for st in ("stage1", "stage2"))
    return total


def check_sample(n: int, seed: int) -> list[int]:
    """The networks trained with half and twice the steps: a seeded uniform sample."""
    return sorted(rng("check", seed).sample(range(n), min(CHECK_SAMPLE, n)))


def run_enumeration(config: SearchConfig, out: str | Path, seeds: Sequence[int],
                    only: Sequence[int] | None = None, rt: Runtime | None = None,
                    k: int = 5) -> dict[str, Any]:
    """The whole study (``glit enumerate``); with ``only``, just those networks.

    Full run: the joint supernet scores of every seed, the replayed searches,
    every network trained, the check sample, and ``summary.json``. With ``only``:
    those networks trained and scored by each seed's joint supernet, nothing else
    (a cheap sample of the full run, with the same numbers).
    """
    cfg = check_config(config)
    rt = rt or Runtime()
    out = Path(out)
    archs = all_networks(cfg.search_space())
    if only is not None:
        bad = [i for i in only if not 0 <= i < len(archs)]
        if bad:
            raise ConfigError(f"--only {bad[0]}: space {cfg.search_space().name!r} has "
                              f"{len(archs)} networks, numbered 0 to {len(archs) - 1}")
    splits = load_splits(cfg, rt)
    save_settings(out, cfg.to_dict(), resume=True)
    _write_networks(out, cfg, archs)
    table = Table(out, cfg, splits, archs, rt)
    wanted = list(range(len(archs))) if only is None else list(only)
    progress = bar(len(seeds) + len(wanted), "enumeration", rt.progress)
    for s in seeds:
        joint_scores(out, cfg, splits, archs, s, wanted, rt)
        progress.update()
    if only is not None:
        for i in wanted:
            table.accuracy(i)
            progress.update()
        progress.close()
        return {"run": cfg.fingerprint(), "trained": {i: table.accuracy(i) for i in wanted}}
    check = check_sample(len(archs), cfg.seed)
    for i in check:  # first: whether the recipe is long enough shows early
        for steps in (cfg.retrain.steps, cfg.retrain.steps // 2, 2 * cfg.retrain.steps):
            table.accuracy(i, steps)
    for s in seeds:
        file = out / "seeds" / f"search{s}.json"
        if not (file.exists() and read_json(file).get("run") == cfg.fingerprint()):
            write_json(file, {"run": cfg.fingerprint(),
                              **replay_search(cfg, splits, s, table.lookup, rt)})
    for i in wanted:
        table.accuracy(i)
        progress.update()
    progress.close()
    summary = summarize(out, cfg, archs, seeds, len(splits.val), table, check, k)
    write_json(out / "summary.json", summary)
    return summary


def _write_networks(out: Path, cfg: ResolvedConfig, archs: list[Arch]) -> None:
    """``networks.json``: every network with its index, distribution, MACs and params."""
    cm = CostModel(cfg.search_space())
    write_json(out / "networks.json", {"run": cfg.fingerprint(), "networks": [
        {"index": i, "arch": [b.to_dict() for b in a.blocks],
         "distribution": list(a.distribution), "macs": cm(a).macs, "params": cm(a).params}
        for i, a in enumerate(archs)]})
