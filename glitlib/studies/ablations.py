"""Small-scale ablations of GLiT's search, over seeds: the numbers of the book's chapter 11.

Four studies, each written into its own folder of one output folder, resumable:

* ``methods`` -- GLiT's hierarchical search against single-stage SPOS (under both
  sampling priors) and random search. Every method is one :func:`~glitlib.nas.pipeline.run_search`
  with the *compute* of the hierarchical run (:func:`method_config`): as many supernet
  steps, as many scored candidates (rounded up to whole generations), as many
  retrainings. Each run's own :func:`compute` says what it spent.
* ``recipe`` -- every found network retrained with twice the recipe's steps: does a
  longer recipe reorder the methods?
* ``distribution`` -- searching only the distribution (stage 1, low-level values fixed
  at the middle candidates) against the all-global, DeiT-like network with the same
  fixed values: both retrained per seed.
* ``locality`` -- one network's local heads built three ways (Conv1D over the token
  sequence, attention within a window of tokens, a depthwise Conv2D over the patch
  grid; ``SearchSpace.local``), retrained per seed.
* ``convergence`` (:func:`run_convergence`, on its own) -- the networks of the last two
  studies on one fixed split, at three recipe lengths, with three training seeds: is
  each kind trained long enough, and which gaps exceed the retraining noise?

:func:`collect` gathers everything into one JSON-ready table (``ablations.json``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config.recipes import TrainConfig
from ..config.search import SearchConfig
from ..errors import ConfigError
from ..model.arch import Arch, BlockArch
from ..model.space import SearchSpace, with_local
from ..runtime.context import Runtime
from ..runtime.files import read_json, write_json

__all__ = ["METHODS", "LOCALITY", "method_config", "compute", "run_methods", "run_recipe",
           "run_distribution", "run_locality", "collect", "ablation_base",
           "convergence_networks", "run_convergence"]

METHODS = ("hierarchical", "single-stage", "single-stage-distinct", "random")
LOCALITY = ("conv1d", "window", "conv2d")
CONVERGENCE_STEPS = (300, 600, 1200)
CONVERGENCE_SEEDS = (0, 1, 2)


def ablation_base() -> SearchConfig:
    """The settings every method starts from: the defaults, without the ranking sample.

    The uniform sample retrained only to measure the supernet's ranking is left out:
    it does not change what a run finds, and would double the retraining bill.
    """
    return SearchConfig(rank_sample=0)


def _stage1_candidates(cfg: SearchConfig) -> int:
    """Candidates the hierarchical run scores in stage 1 (enumerated when they fit)."""
    from ..nas.exhaustive import feasible_paths
    from ..nas.paths import stage1

    resolved = cfg.resolve()
    budget = cfg.evolution.budget
    archs = (feasible_paths(stage1(cfg.search_space()), resolved.max_macs, budget)
             if cfg.exhaustive_small else None)
    return budget if archs is None else len(archs)


def method_config(method: str, base: SearchConfig) -> SearchConfig:
    """The run of ``method`` on the compute of ``base``'s hierarchical search.

    ``single-stage`` samples blocks with the ``heads`` prior (the number of global heads
    uniform, as in stage 1), ``single-stage-distinct`` uniformly over distinct block
    choices, ``random`` proposes candidates at random under the ``heads`` prior.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown ablation method {method!r}; choose from {list(METHODS)}")
    if method == "hierarchical":
        return replace(base, stages=2)
    evo = base.evolution
    candidates = _stage1_candidates(base) + evo.budget
    return replace(
        base, stages=1, strategy="random" if method == "random" else "evolution",
        sampling_prior="distinct" if method == "single-stage-distinct" else "heads",
        retrain_candidates=2 * base.retrain_candidates, rank_sample=2 * base.rank_sample,
        supernet=replace(base.supernet, steps=2 * base.supernet.steps),
        evolution=replace(evo, generations=math.ceil(candidates / evo.population)))


def compute(cfg: SearchConfig, summary: dict[str, Any]) -> dict[str, int]:
    """What a finished run spent: supernet steps, scored candidates, retraining steps."""
    stages = summary["stages"].values()
    return {"supernet_steps": cfg.supernet.steps * len(summary["stages"]),
            "candidates": sum(s["evaluated"] for s in stages),
            "retrainings": sum(len(s["retrained"]) for s in stages),
            "retrain_steps": cfg.retrain.steps * sum(len(s["retrained"]) for s in stages)}


def _run_dir(out: Path, method: str, seed: int) -> Path:
    return out / "methods" / method / f"seed{seed}"


def run_methods(out: str | Path, seeds: Sequence[int], methods: Sequence[str] = METHODS,
                base: SearchConfig | None = None, rt: Runtime | None = None
                ) -> list[dict[str, Any]]:
    """Every method over every seed; a finished run is read back, not rerun."""
    from ..nas.pipeline import run_search

    base = base or ablation_base()
    rows = []
    for method in methods:
        for seed in seeds:
            cfg = method_config(method, replace(base, seed=seed)).resolve()
            summary = run_search(cfg, _run_dir(Path(out), method, seed), resume=True, rt=rt)
            rows.append({"method": method, "seed": seed, **_found(summary),
                         "compute": compute(cfg, summary)})
    return rows


def _found(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("distribution", "arch", "macs", "params", "val_accuracy", "test_accuracy")
    return {k: summary[k] for k in keys}


def _retrained(base: SearchConfig, space: SearchSpace, arch: Arch, recipe: TrainConfig,
               seed: int, file: Path, meta: dict[str, Any],
               train_seed: int | None = None) -> dict[str, Any]:
    """Train ``arch`` with ``recipe`` on the data split of ``seed`` (and from that seed, or
    ``train_seed`` if given); held-out and test accuracy, saved once to ``file``."""
    if file.exists():
        saved = read_json(file, "ablation result")
        if saved.get("meta") == meta:
            return saved
    from ..data.load import load_splits
    from ..model.costs import count
    from ..train.standalone import accuracy, train_model

    splits = load_splits(replace(base, seed=seed, space=space.to_dict()))
    model = train_model(space, arch, splits.train, recipe,
                        seed if train_seed is None else train_seed, Runtime(progress=False))
    cost = count(space, arch)
    row = {"meta": meta, "val_accuracy": accuracy(model, splits.val),
           "test_accuracy": accuracy(model, splits.test), "macs": cost.macs,
           "params": cost.params}
    write_json(file, row)
    return row


def run_recipe(out: str | Path, rows: list[dict[str, Any]], base: SearchConfig | None = None,
               factor: int = 2) -> list[dict[str, Any]]:
    """Each found network retrained with ``factor`` times the recipe's steps (same seed)."""
    out, base = Path(out), base or ablation_base()
    longer = []
    for row in rows:
        cfg = method_config(row["method"], replace(base, seed=row["seed"])).resolve()
        recipe = replace(cfg.retrain, steps=factor * cfg.retrain.steps, warmup_steps=None)
        arch = Arch.from_dict({"blocks": row["arch"]})
        meta = {"method": row["method"], "seed": row["seed"], "arch": row["arch"],
                "steps": recipe.steps}
        res = _retrained(base, cfg.search_space(), arch, recipe, row["seed"],
                         out / "recipe" / f"{row['method']}-seed{row['seed']}.json", meta)
        longer.append({"method": row["method"], "seed": row["seed"], "steps": recipe.steps,
                       "val_accuracy": res["val_accuracy"],
                       "test_accuracy": res["test_accuracy"]})
    return longer


def _middle_network(space: SearchSpace, distribution: Sequence[int]) -> Arch:
    """A distribution with stage 1's fixed low-level values (the middle candidates)."""
    from ..nas.paths import stage1_fixed

    fixed = stage1_fixed(space)
    return Arch(tuple(BlockArch(g=g, **fixed) for g in distribution)).canonical(space)


def _per_seed(out: Path, study: str, seeds: Sequence[int], base: SearchConfig,
              networks: Callable[[int], dict[str, tuple[SearchSpace, Arch]]]
              ) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        recipe = replace(base, seed=seed).resolve().retrain
        for name, (space, arch) in networks(seed).items():
            meta = {"study": study, "network": name, "seed": seed,
                    "space": space.to_dict(), "arch": arch.to_dict()["blocks"],
                    "steps": recipe.steps}
            res = _retrained(base, space, arch, recipe, seed,
                             out / study / f"{name}-seed{seed}.json", meta)
            rows.append({"network": name, "seed": seed,
                         "distribution": list(arch.distribution),
                         **{k: res[k] for k in ("val_accuracy", "test_accuracy", "macs",
                                                "params")}})
    return rows


def run_distribution(out: str | Path, seeds: Sequence[int], base: SearchConfig | None = None
                     ) -> list[dict[str, Any]]:
    """Stage 1 alone (each seed's best distribution) against the all-global network."""
    out, base = Path(out), base or ablation_base()
    space = base.search_space()

    def networks(seed: int) -> dict[str, tuple[SearchSpace, Arch]]:
        result = read_json(_run_dir(out, "hierarchical", seed) / "stage1" / "result.json",
                           "stage 1 result")
        dist = result["best"]["distribution"]
        return {"stage-1 distribution": (space, _middle_network(space, dist)),
                "all-global": (space, _middle_network(space, [space.num_heads] * space.depth))}

    return _per_seed(out, "distribution", seeds, base, networks)


def run_locality(out: str | Path, seeds: Sequence[int], distribution: Sequence[int],
                 base: SearchConfig | None = None, kinds: Sequence[str] = LOCALITY
                 ) -> list[dict[str, Any]]:
    """One distribution (middle low-level values), its local heads built each way."""
    base = base or ablation_base()
    conv1d = base.search_space()

    def networks(seed: int) -> dict[str, tuple[SearchSpace, Arch]]:
        nets = {}
        for kind in kinds:
            space = with_local(conv1d, kind)
            nets[kind] = (space, _middle_network(space, distribution))
        return nets

    return _per_seed(Path(out), "locality", seeds, base, networks)


def convergence_networks(base: SearchConfig | None = None,
                         distribution: Sequence[int] = (1, 2, 2, 3)
                         ) -> dict[str, tuple[SearchSpace, Arch]]:
    """The networks the distribution and locality studies compare, as seed 0 built them:
    the all-global network and ``distribution`` (seed 0's stage-1 distribution) with its
    local heads built each way, all with the middle low-level values."""
    base = base or ablation_base()
    conv1d = base.search_space()
    nets = {"all-global": (conv1d, _middle_network(conv1d, [conv1d.num_heads] * conv1d.depth))}
    for kind in LOCALITY:
        space = with_local(conv1d, kind)
        nets[kind] = (space, _middle_network(space, distribution))
    return nets


def run_convergence(out: str | Path, lengths: Sequence[int] = CONVERGENCE_STEPS,
                    train_seeds: Sequence[int] = CONVERGENCE_SEEDS,
                    base: SearchConfig | None = None, split_seed: int = 0
                    ) -> dict[str, Any]:
    """Every network of :func:`convergence_networks` retrained on one data split at each
    length with each training seed; writes and returns ``convergence.json``.

    Why: a recipe that is long enough for networks with local heads can stop an
    attention-heavy network while it still learns, and one training draw per network
    cannot tell a gap from retraining noise. Holding the split fixed and varying only
    the training seed measures that noise, so gaps are judged against it.
    """
    from ..runtime.rundir import RunDir

    base = base or ablation_base()
    recipe = replace(base, seed=split_seed).resolve().retrain
    rows = []
    with RunDir(out, resume=True) as run:
        for name, (space, arch) in convergence_networks(base).items():
            for steps in lengths:
                longer = replace(recipe, steps=steps, warmup_steps=None)
                for ts in train_seeds:
                    meta = {"study": "convergence", "network": name, "split_seed": split_seed,
                            "train_seed": ts, "space": space.to_dict(),
                            "arch": arch.to_dict()["blocks"], "steps": steps}
                    file = run.path / "convergence" / f"{name}-steps{steps}-seed{ts}.json"
                    res = _retrained(base, space, arch, longer, split_seed, file, meta, ts)
                    rows.append({"network": name, "steps": steps, "train_seed": ts,
                                 "distribution": list(arch.distribution),
                                 **{k: res[k] for k in ("val_accuracy", "test_accuracy",
                                                        "macs", "params")}})
        result = {"format": "glitlib-convergence", "version": 1, "split_seed": split_seed,
                  "train_seeds": list(train_seeds), "steps": list(lengths),
                  "space": base.resolve().space, "rows": rows}
        write_json(run.path / "convergence.json", result)
    return result


def collect(out: str | Path, seeds: Sequence[int], methods: Sequence[str] = METHODS,
            locality_distribution: Sequence[int] | None = None,
            base: SearchConfig | None = None, rt: Runtime | None = None
            ) -> dict[str, Any]:
    """Run (or read back) every study and write ``ablations.json``; returns its content.

    ``locality_distribution`` defaults to the distribution the hierarchical search
    found with the first seed.
    """
    from ..runtime.rundir import RunDir

    seeds, base = list(seeds), base or ablation_base()
    with RunDir(out, resume=True) as run:
        methods_rows = run_methods(run.path, seeds, methods, base, rt)
        recipe_rows = run_recipe(run.path, methods_rows, base)
        dist_rows = (run_distribution(run.path, seeds, base) if "hierarchical" in methods
                     else [])
        if locality_distribution is None:
            first = [r for r in methods_rows if r["method"] == "hierarchical"]
            locality_distribution = first[0]["distribution"] if first else None
        loc_rows = (run_locality(run.path, seeds, locality_distribution, base)
                    if locality_distribution is not None else [])
        resolved = base.resolve()
        result = {"format": "glitlib-ablations", "version": 1, "seeds": seeds,
                  "space": resolved.space, "retrain_steps": resolved.retrain.steps,
                  "configs": {m: method_config(m, base).resolve().to_dict()
                              for m in methods},
                  "methods": methods_rows, "recipe": recipe_rows,
                  "distribution": dist_rows, "locality": loc_rows,
                  "locality_distribution": list(locality_distribution or [])}
        write_json(run.path / "ablations.json", result)
    return result
