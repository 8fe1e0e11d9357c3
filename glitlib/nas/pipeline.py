"""GLiT's hierarchical search end to end, and its single-stage baseline: one entry point.

    stage 1: supernet over the distribution (low-level values fixed)
             -> evolution under a MACs limit -> retrain the best -> best distribution
    stage 2: supernet over (d_k, d_z, e, k) with that distribution fixed
             -> evolution -> retrain the best -> the found architecture

:func:`run_search` is the whole run, and the ``glit search`` command, the book
and the tests all call it: it resolves the :class:`~glitlib.config.search.SearchConfig`,
checks the MACs limit and the data before any training, opens the output folder
(:class:`~glitlib.runtime.rundir.RunDir`: locked, listed), runs the stages and writes
``summary.json``, ``arch.json`` and the plots. ``stages=1`` runs one stage over
the joint space (the single-stage baseline); ``strategy="random"`` proposes
candidates at random instead of by evolution.

Each stage also reports how well its supernet ranks (:mod:`glitlib.nas.ranking`): it
retrains a few candidates drawn uniformly beside the best ones and compares. When
the evaluation budget covers every feasible path of a stage (stage 1 of digits),
the stage scores them all instead of searching.

Choices use the held-out ``val`` split only. The ``test`` split is read once, for
the found architecture, after every decision is taken (:func:`conclude`).

Every step writes its result into its own folder, stamped with the run's
fingerprint, and is skipped when resumed and already done, so a killed run
restarts where it stopped and a file of another run is never mixed in.

Why the ``digits`` preset and these defaults: 8x8 images in 2x2 patches give 17
tokens, 4 blocks of 3 heads at width 48; a supernet step takes tens of
milliseconds and a candidate (BN recalibration on 128 training images + 360
held-out images) a few tens, so the whole two-stage search -- 500 supernet
steps, SPOS's 1,000 candidates and 5 + 3 retrainings of 300 steps per stage --
runs in a few minutes on two CPU cores. 300 steps, because a shorter recipe
ranks speed of convergence rather than accuracy (the book's chapter 11).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.search import ResolvedConfig, SearchConfig
from ..data.heldout import save_heldout
from ..data.load import load_splits
from ..data.source import Splits
from ..model.arch import Arch
from ..runtime.context import Runtime
from ..runtime.files import load_checkpoint, register_log, write_json
from ..runtime.log import log, to_file
from ..runtime.ranks import barrier, is_main
from ..runtime.resume import save_settings, saved_result
from ..runtime.rundir import open_run
from ..runtime.seeds import rng
from ..train.loop import Checkpoint, check_shards
from ..train.standalone import accuracy, load_model, train_model
from .budget import check_macs_range
from .evaluator import Evaluator
from .paths import PathSpace, joint, stage1, stage2
from .ranking import ranking_report
from .records import Candidate, Retrained, best_candidates, best_retrained
from .strategy import make_strategy, read_search, run_strategy
from .training import train_supernet

__all__ = ["RunContext", "run_search", "run_stage", "retrain_candidates", "conclude",
           "first_paths"]


@dataclass(frozen=True)
class RunContext:
    """What every step of a run shares: the resolved config, the data, the output folder,
    the runtime, whether to resume, and the stamp every file of the run carries
    (``meta``: the run's fingerprint and the data it was made on)."""

    cfg: ResolvedConfig
    splits: Splits
    out: Path
    rt: Runtime = field(default_factory=Runtime)
    resume: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.meta:
            object.__setattr__(self, "meta", {"run": self.cfg.fingerprint(),
                                              "data": self.cfg.data()})

    def checkpoint(self, path: Path) -> Checkpoint:
        """A checkpoint of this run at ``path``, resumed when the run is."""
        return Checkpoint(path, dict(self.meta), self.resume)


def first_paths(cfg: ResolvedConfig) -> PathSpace:
    """The path space the run starts with: stage 1's, or the joint space for one stage."""
    space = cfg.search_space()
    if cfg.stages == 2:
        return stage1(space, prior=cfg.sampling_prior)
    return joint(space, cfg.sampling_prior)


def run_search(config: SearchConfig, out: str | Path, *, resume: bool = False,
               overwrite: bool = False, rt: Runtime | None = None, download: bool = False,
               splits: Splits | None = None) -> dict[str, Any]:
    """The whole search; returns (and writes) ``summary.json``'s content.

    Everything that can be refused is checked before any training: the settings,
    the MACs limit, the data against the space, the output folder. Under
    torch.distributed every rank calls this; rank 0 opens and writes the folder.
    """
    cfg = config.resolve()
    rt = (rt or Runtime()).check()
    check_macs_range(first_paths(cfg), None, cfg.max_macs)
    check_shards(cfg.supernet)
    check_shards(cfg.retrain)
    splits = splits if splits is not None else load_splits(cfg, rt, download)
    with open_run(out, resume, overwrite) as run, _logged(run.path):
        save_settings(run.path, cfg.to_dict(), resume)
        save_heldout(run.path, splits, resume)
        ctx = RunContext(cfg, splits, run.path, rt, resume)
        summary = saved_result(run.path / "summary.json", {"run": ctx.meta["run"]},
                               "summary", resume)
        if summary is not None:
            return summary
        log.info("search in %s (run %s): %d training, %d held-out, %d test images; MACs "
                 "limit %s", run.path, ctx.meta["run"], len(splits.train), len(splits.val),
                 len(splits.test), f"{cfg.max_macs:,}")
        results: list[dict[str, Any]] = []
        paths = first_paths(cfg)
        for name in ["stage1", "stage2"] if cfg.stages == 2 else ["single_stage"]:
            if name == "stage2":
                paths = stage2(paths.space, results[0]["best"]["distribution"],
                               cfg.sampling_prior)
            results.append(run_stage(name, paths, ctx))
        return _finish(ctx, results)


@contextmanager
def _logged(folder: Path) -> Iterator[None]:
    """The run's log lines also go to ``glit.log`` in its folder (rank 0)."""
    if not is_main():
        yield
        return
    file = folder / "glit.log"
    register_log(file)
    handler = to_file(file)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def run_stage(name: str, paths: PathSpace, ctx: RunContext) -> dict[str, Any]:
    """Supernet -> search -> retrain the best; returns the stage's result (also saved)."""
    cfg, folder = ctx.cfg, ctx.out / name
    result = saved_result(folder / "result.json", {"run": ctx.meta["run"]},
                          f"{name} result", ctx.resume)
    if result is not None:
        return result
    clock = time.perf_counter()
    limit = cfg.max_macs if cfg.constrain_supernet else None
    log.info("%s: a supernet over %s paths, %d steps", name, f"{paths.size:,}",
             cfg.supernet.steps)
    net = train_supernet(paths, ctx.splits.train, cfg.supernet, cfg.seed, ctx.rt,
                         ctx.checkpoint(folder / "supernet.pt"), f"{name} supernet", limit)
    t_supernet = time.perf_counter()
    score = Evaluator(net, ctx.splits.train, heldout_sample(ctx.splits.val, cfg),
                      cfg.bn_batches, cfg.bn_batch_size, cfg.seed, precision=ctx.rt.precision)
    strategy = make_strategy(cfg, paths)
    log.info("%s: supernet trained in %.0f s; searching (%s)", name, t_supernet - clock,
             strategy.name)
    found = run_strategy(strategy, score, folder / "search.json", ctx.resume, ctx.rt,
                         ctx.meta, f"{name} {strategy.name}")
    t_search = time.perf_counter()
    chosen = _to_retrain(found, cfg, name)
    rows = retrain_candidates(ctx, [c for _, c in chosen], folder / "retrain",
                              [r for r, _ in chosen], name)
    best = best_retrained([r for r in rows if r.rank < cfg.retrain_candidates])
    ranking = ranking_report([r.candidate.score for r in rows],
                             [r.val_accuracy for r in rows], len(ctx.splits.val),
                             cfg.retrain_candidates, cfg.seed)
    result = {**ctx.meta, "stage": name, "strategy": strategy.name, "best": best.to_dict(),
              "max_macs": cfg.max_macs, "evaluated": len(found),
              "path_space_size": paths.size, "ranking": ranking,
              "retrained": [r.to_dict() for r in rows]}
    write_json(folder / "timings.json", {
        "supernet_s": round(t_supernet - clock, 2), "search_s": round(t_search - t_supernet, 2),
        "retrain_s": round(time.perf_counter() - t_search, 2)})
    write_json(folder / "result.json", result)
    log.info("%s: done: distribution %s, held-out %.2f%% after retraining %d candidates; "
             "supernet ranking Kendall tau-b %s, Spearman %s", name,
             best.arch.distribution, 100 * best.val_accuracy, len(rows),
             _or_na(ranking["kendall_tau_b"]), _or_na(ranking["spearman"]))
    return result


def _or_na(value: float | None) -> str:
    """A rank statistic for a log line: ``n/a`` where it is undefined (every retrained
    candidate scored alike), not Python's ``None``."""
    return "n/a" if value is None else f"{value}"


def heldout_sample(val: Any, cfg: ResolvedConfig) -> Any:
    """The held-out images each candidate is scored on: all, or ``cfg.heldout_subset`` of
    them drawn once from the run's seed (the same for every candidate)."""
    n = cfg.heldout_subset
    if n is None or n >= len(val):
        return val
    picked = sorted(rng("heldout-subset", cfg.seed).sample(range(len(val)), n))
    return val.subset(picked)


def _to_retrain(found: list[Candidate], cfg: ResolvedConfig, name: str
                ) -> list[tuple[int, Candidate]]:
    """The best by supernet score, then a seeded uniform sample of the rest (for ranking)."""
    order = best_candidates(found, len(found))
    top = list(enumerate(order[:cfg.retrain_candidates]))
    rest = list(range(cfg.retrain_candidates, len(order)))
    picked = sorted(rng(f"{name}:rank-sample", cfg.seed, 0).sample(
        rest, min(cfg.rank_sample, len(rest))))
    return top + [(i, order[i]) for i in picked]


def retrain_candidates(ctx: RunContext, candidates: list[Candidate], folder: Path,
                       ranks: list[int] | None = None, stage: str = "") -> list[Retrained]:
    """Train each candidate from scratch with the run's recipe and seed; score it on ``val``.

    ``ranks``: each candidate's place by supernet score (default: their order).
    """
    ranks = ranks if ranks is not None else list(range(len(candidates)))
    rows = []
    for i, cand in enumerate(candidates):
        done, ckpt = folder / f"candidate{i}.json", folder / f"candidate{i}.pt"
        saved = saved_result(done, {"run": ctx.meta.get("run")}, "retrain result", ctx.resume)
        if saved is not None and ckpt.exists():
            load_checkpoint(ckpt, kind="model", run=ctx.meta.get("run"),
                            resume=True)  # refused before any write
            rows.append(Retrained.from_dict(saved, str(done)))
            continue
        model = _train(ctx, cand, ckpt, f"{stage} retrain {i + 1}/{len(candidates)}".strip())
        row = Retrained(ranks[i], cand, accuracy(model, ctx.splits.val,
                                                 precision=ctx.rt.precision), ckpt.name)
        write_json(done, {**ctx.meta, **row.to_dict()})
        rows.append(row)
    return rows


def conclude(ctx: RunContext, best: Retrained, ckpt_dir: Path,
             name: str = "found") -> dict[str, Any]:
    """The end of every search or retraining: the one read of the test split.

    Reloads the best retrained model, measures its test accuracy and writes
    ``arch.json`` (which ``glit info --arch`` and ``glit retrain --arch`` read).
    """
    space = ctx.cfg.search_space()
    path = ckpt_dir / best.checkpoint
    if ctx.resume and not path.exists():  # deleted, as a refusal advised: train it again
        log.info("%s is missing: retraining it (same recipe and seed)", path)
        _train(ctx, best.candidate, path, "final retrain")
    barrier()  # rank 0 wrote the checkpoint every rank reads
    model, _ = load_model(path, ctx.rt.device, run=ctx.meta["run"], resume=ctx.resume)
    test = accuracy(model, ctx.splits.test)
    arch = Arch(best.arch.blocks, name=f"{name}-{space.name}")
    write_json(ctx.out / "arch.json", arch.to_dict(space))
    return {"arch": [b.to_dict() for b in best.arch.blocks],
            "distribution": list(best.arch.distribution), "macs": best.candidate.macs,
            "params": best.candidate.params, "val_accuracy": best.val_accuracy,
            "test_accuracy": test}


def _finish(ctx: RunContext, stages: list[dict[str, Any]]) -> dict[str, Any]:
    last = stages[-1]
    best = Retrained.from_dict(last["best"], f"{last['stage']} result")
    final = conclude(ctx, best, ctx.out / last["stage"] / "retrain")
    space = ctx.cfg.search_space()
    summary = {**ctx.meta, "space": space.name, **final,
               "stages": {s["stage"]: s for s in stages}}
    write_json(ctx.out / "summary.json", summary)
    log.info("search done: %s MACs, %s params, held-out %.2f%%, test %.2f%%", f"{final['macs']:,}",
             f"{final['params']:,}", 100 * final["val_accuracy"], 100 * final["test_accuracy"])
    if is_main():
        from .plots import plot_search

        found = {s["stage"]: read_search(ctx.out / s["stage"] / "search.json")[1]
                 for s in stages}
        plot_search(ctx.out, space, found, ctx.cfg.max_macs, final["distribution"])
    return summary


def _train(ctx: RunContext, cand: Candidate, ckpt: Path, what: str) -> Any:
    """A candidate trained from scratch with the run's recipe and seed (resumed from
    ``ckpt`` where the run is): the same weights whenever it is trained."""
    cfg = ctx.cfg
    return train_model(cfg.search_space(), cand.arch, ctx.splits.train, cfg.retrain, cfg.seed,
                       ctx.rt, ctx.checkpoint(ckpt), what)
