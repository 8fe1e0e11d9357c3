"""Truth tables: every network of a small space trained alone, with several training seeds.

A search can be judged only against the right answer. On a space small enough to
list completely (``MAX_NETWORKS``), every network is trained from scratch with
the search's retraining recipe on one fixed data split, once per *training seed*,
and scored on the held-out and the test split. One training draw is not the truth
of a network: a network's truth is its mean over the seeds, and how well two seed
tables rank each other (Kendall's tau-b, Spearman) is the *noise ceiling*, the best
agreement any ranking can hope to have with one retraining.

A sample of networks is also trained with twice the steps, for every seed: the
recipe is long enough when twice the training no longer raises the accuracy
(:func:`recipe_check`).

Every trained network is one small JSON file, written atomically as soon as it is
done, so a stopped table continues where it stopped; ``truth.json`` gathers them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import stats
from ..config.checks import fingerprint
from ..config.search import ResolvedConfig, SearchConfig
from ..data.source import Splits
from ..errors import ConfigError
from ..model.arch import Arch
from ..model.costs import CostModel
from ..model.space import SearchSpace
from ..nas.exhaustive import feasible_paths
from ..nas.paths import joint
from ..runtime.context import Runtime
from ..runtime.files import write_json
from ..runtime.resume import saved_result
from ..runtime.seeds import rng
from ..train.standalone import accuracy, train_model

__all__ = ["MAX_NETWORKS", "CHECK_SAMPLE", "TRUTH_FORMAT", "all_networks", "TruthTable",
           "noise_ceiling", "recipe_check", "check_sample", "build_truth", "identity"]

MAX_NETWORKS = 2000  # more would take hours on a CPU: enumeration is for small spaces
CHECK_SAMPLE = 12  # networks trained again with twice the steps
TRUTH_FORMAT = "glitlib-truth"


def all_networks(space: SearchSpace) -> list[Arch]:
    """Every distinct network of the space, in a fixed order (its index is its name)."""
    paths = joint(space)
    archs = feasible_paths(paths, None, MAX_NETWORKS)
    if archs is None:
        raise ConfigError(f"space {space.name!r} has {paths.size:,} networks; enumeration "
                          f"trains every one, so give a space of at most {MAX_NETWORKS:,} "
                          "(fewer depth, heads or candidate values)")
    return archs


def identity(cfg: ResolvedConfig) -> dict[str, Any]:
    """What a table's numbers depend on: the space, the data split, the recipe. Its
    fingerprint stamps every entry (other search settings do not change a table)."""
    return {"space": cfg.space, "data": cfg.data(), "retrain": cfg.to_dict()["retrain"]}


def check_sample(archs: list[Arch], seed: int) -> list[int]:
    """The networks trained with twice the steps: every pure one (all global heads, or
    all local heads with one window size in every block) and a seeded uniform sample of
    the rest, ``CHECK_SAMPLE`` in all. Pure networks are the slow learners -- an
    attention-only network may need twice the steps of a mixed one -- so the check
    must not leave them to chance."""
    def is_pure(a: Arch) -> bool:
        all_global = all(b.k is None for b in a.blocks)
        one_local = len({(b.g, b.k) for b in a.blocks}) == 1 and a.blocks[0].g == 0
        return all_global or one_local

    pure = [i for i, a in enumerate(archs) if is_pure(a)]
    rest = [i for i in range(len(archs)) if i not in pure]
    extra = max(0, CHECK_SAMPLE - len(pure))
    return sorted(pure + rng("check", seed).sample(rest, min(extra, len(rest))))


class TruthTable:
    """Held-out and test accuracy of each network, per training seed: one file per entry.

    ``cfg.seed`` fixes the data split; each training seed draws the initial weights and
    every step's randomness, exactly as ``train_model`` does in a search's retraining.
    A missing entry is trained when asked for and saved at once.
    """

    def __init__(self, out: Path, cfg: ResolvedConfig, splits: Splits, archs: list[Arch],
                 train_seeds: list[int], rt: Runtime | None = None):
        if not train_seeds:
            raise ConfigError("a truth table needs at least one training seed")
        self.out, self.cfg, self.splits, self.archs = out, cfg, splits, archs
        self.train_seeds, self.rt = list(train_seeds), (rt or Runtime()).quiet()
        self.space = cfg.search_space()
        self.run = fingerprint(identity(cfg))
        self.index = {a: i for i, a in enumerate(archs)}

    def file(self, i: int, seed: int, steps: int | None = None) -> Path:
        if steps is None or steps == self.cfg.retrain.steps:
            return self.out / "trained" / f"arch{i:03d}_seed{seed}.json"
        return self.out / "check" / f"arch{i:03d}_seed{seed}_steps{steps}.json"

    def entry(self, i: int, seed: int, steps: int | None = None) -> dict[str, Any]:
        """Network ``i`` trained with ``seed`` (and ``steps``, default: the recipe's)."""
        steps = steps or self.cfg.retrain.steps
        file = self.file(i, seed, steps)
        saved = saved_result(file, {"run": self.run, "index": i, "seed": seed,
                                    "steps": steps}, "trained network")
        if saved is not None:
            return saved
        recipe = self.cfg.retrain
        if steps != recipe.steps:
            recipe = replace(recipe, steps=steps, warmup_steps=steps // 10)
        clock = time.perf_counter()
        model = train_model(self.space, self.archs[i], self.splits.train, recipe, seed,
                            self.rt)
        row = {"run": self.run, "index": i, "seed": seed, "steps": steps,
               "arch": [b.to_dict() for b in self.archs[i].blocks],
               "val_accuracy": accuracy(model, self.splits.val),
               "test_accuracy": accuracy(model, self.splits.test),
               "seconds": round(time.perf_counter() - clock, 2)}
        write_json(file, row)
        return row

    def accuracies(self, split: str = "val") -> np.ndarray:
        """``(networks, seeds)`` accuracies on ``split`` (``val`` or ``test``)."""
        return np.array([[self.entry(i, s)[f"{split}_accuracy"] for s in self.train_seeds]
                         for i in range(len(self.archs))])

    def to_dict(self) -> dict[str, Any]:
        """``truth.json``: every network with its accuracy per training seed and its mean."""
        cm = CostModel(self.space)
        networks = []
        for i, a in enumerate(self.archs):
            seeds = [{k: self.entry(i, s)[k] for k in ("seed", "val_accuracy",
                                                        "test_accuracy")}
                     for s in self.train_seeds]
            cost = cm(a)
            networks.append({
                "index": i, "arch": [b.to_dict() for b in a.blocks],
                "distribution": list(a.distribution), "macs": cost.macs,
                "params": cost.params, "seeds": seeds,
                "val_mean": float(np.mean([r["val_accuracy"] for r in seeds])),
                "test_mean": float(np.mean([r["test_accuracy"] for r in seeds]))})
        return {"format": TRUTH_FORMAT, "version": 1, "run": self.run,
                "space": self.space.to_dict(), "recipe": self.cfg.to_dict()["retrain"],
                "split_seed": self.cfg.seed, "train_seeds": self.train_seeds,
                "held_out_images": len(self.splits.val), "test_images": len(self.splits.test),
                "networks": networks,
                "noise_ceiling": {split: noise_ceiling(self.accuracies(split))
                                  for split in ("val", "test")}}


def noise_ceiling(acc: np.ndarray) -> dict[str, Any]:
    """How well one training seed's table ranks another's (``acc``: networks x seeds).

    For every pair of seeds, Kendall's tau-b and Spearman's rho over all networks; the
    mean over pairs is the ceiling for any ranking judged against one retraining. With
    one seed there is nothing to compare.
    """
    pairs = [(a, b) for a in range(acc.shape[1]) for b in range(a + 1, acc.shape[1])]
    agree = [stats.rank_agreement(acc[:, a], acc[:, b]) for a, b in pairs]
    return {"pairs": [{"seeds": [a, b], **r} for (a, b), r in zip(pairs, agree)],
            "kendall_tau_b": _mean([r["kendall_tau_b"] for r in agree]),
            "spearman": _mean([r["spearman"] for r in agree]),
            "retraining_sd": round(float(np.mean(acc.std(axis=1, ddof=1))), 6)
            if acc.shape[1] > 1 else None}


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def recipe_check(table: TruthTable, sample: list[int], factor: int = 2) -> dict[str, Any]:
    """Is the recipe long enough? ``sample`` networks trained with ``factor`` times the
    steps, every seed: the paired difference of held-out accuracy (longer minus recipe)
    with its 95 % t interval, per network and over all."""
    steps = factor * table.cfg.retrain.steps
    diffs, rows = [], []
    for i in sample:
        base = [table.entry(i, s)["val_accuracy"] for s in table.train_seeds]
        longer = [table.entry(i, s, steps)["val_accuracy"] for s in table.train_seeds]
        diffs += [b - a for a, b in zip(base, longer)]
        rows.append({"index": i, "recipe": base, "longer": longer})
    return {"steps": table.cfg.retrain.steps, "longer_steps": steps, "networks": rows,
            "difference": stats.paired_summary(np.array(diffs))}


def build_truth(config: SearchConfig, out: str | Path, train_seeds: list[int],
                only: list[int] | None = None, rt: Runtime | None = None) -> dict[str, Any]:
    """Train every network (or ``only`` these) with every training seed; ``truth.json``.

    The output folder is a locked run folder; a stopped table continues where it
    stopped. With ``only``: just those networks, nothing gathered (a cheap sample).
    """
    from ..data.load import load_splits
    from ..runtime.progress import bar
    from ..runtime.resume import save_settings
    from ..runtime.rundir import RunDir

    cfg, rt = config.resolve(), rt or Runtime()
    archs = all_networks(cfg.search_space())
    bad = [i for i in (only or []) if not 0 <= i < len(archs)]
    if bad:
        raise ConfigError(f"--only {bad[0]}: space {cfg.search_space().name!r} has "
                          f"{len(archs)} networks, numbered 0 to {len(archs) - 1}")
    splits = load_splits(cfg, rt)
    with RunDir(out, resume=True) as run:
        save_settings(run.path, {"command": "enumerate", "train_seeds": train_seeds,
                                 **identity(cfg)}, resume=True)
        table = TruthTable(run.path, cfg, splits, archs, train_seeds, rt)
        wanted = list(range(len(archs))) if only is None else only
        with bar(len(wanted) * len(train_seeds), "truth table", rt.progress,
                 lines=True) as progress:
            for i in wanted:
                for s in train_seeds:
                    table.entry(i, s)
                    progress.update()
        if only is not None:
            return {"run": table.run, "trained": {
                i: [table.entry(i, s)["val_accuracy"] for s in train_seeds] for i in only}}
        truth = table.to_dict() | {"recipe_check": recipe_check(
            table, check_sample(archs, cfg.seed))}
        write_json(run.path / "truth.json", truth)
    return truth
