"""GLiT's hierarchical search end to end, and its single-stage baseline: one entry point.

    stage 1: supernet over the distribution (low-level values fixed)
             -> evolution under a MACs limit -> retrain the best -> best distribution
    stage 2: supernet over (d_k, d_z, e, k) with that distribution fixed
             -> evolution -> retrain the best -> the found architecture

:func:`run_search` is the whole run, and the ``glit search`` command, the book
and the tests all call it: it resolves the :class:`~glitlib.config.SearchConfig`,
checks the MACs limit and the data before any training, opens the output folder
(:class:`~glitlib.rundir.RunDir`: locked, listed), runs the stages and writes
``summary.json``, ``arch.json`` and the plots. ``stages=1`` runs one stage over
the joint space (the single-stage baseline); ``strategy="random"`` proposes
candidates at random instead of by evolution.

Each stage also reports how well its supernet ranks (:mod:`glitlib.ranking`): it
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
from pathlib import Path
from typing import Any

from .arch import Arch, SearchSpace, spaces_that_fit
from .budget import check_macs_range
from .config import SearchConfig, TrainConfig
from .data import Splits, load_dataset
from .device import check_device
from .errors import CheckpointError, ConfigError, DataError
from .evaluate import Evaluator, accuracy
from .evolution import enumerate_search, evolve, feasible_paths, random_search, read_search
from .io import read_json, write_json
from .paths import PathSpace, joint, stage1, stage2
from .ranking import ranking_report
from .records import Candidate, Retrained, best_candidates, best_retrained
from .rundir import RunDir
from .sampling import step_rng
from .train import check_shards, load_model, train_model, train_supernet

__all__ = ["run_search", "run_stage", "retrain_candidates", "conclude", "load_splits",
           "save_settings", "save_heldout", "open_run", "data_spec", "first_paths"]


def data_spec(cfg: SearchConfig) -> dict[str, Any]:
    """What fixes the three splits: recorded in every checkpoint of a run."""
    spec = {"dataset": cfg.dataset, "data_dir": cfg.data_dir, "seed": cfg.seed}
    if cfg.heldout_per_class is not None:
        spec["heldout_per_class"] = cfg.heldout_per_class
    return spec


def load_splits(cfg: SearchConfig, device: str = "cpu", download: bool = False,
                loader: Any = None) -> Splits:
    """The dataset of ``cfg`` split three ways; refused unless it fits the space.

    ``imagenet`` streams from its folder at the space's image size (the others
    are read into memory); ``loader`` sets its workers.
    """
    space = cfg.search_space()
    splits = load_dataset(cfg.dataset, cfg.seed, cfg.data_dir, download, space.img_size,
                          cfg.heldout_per_class, loader)
    classes = splits.num_classes
    if not space.fits(splits.shape, classes):
        fits = spaces_that_fit(splits.shape, classes)
        hint = (f"use --preset {' or --preset '.join(fits)}" if fits else
                "write a space JSON for it (see the README) and pass it as --preset FILE")
        raise DataError(
            f"dataset {cfg.dataset!r} has images {tuple(splits.shape)} (C, H, W) and "
            f"{classes} classes, but space {space.name!r} takes "
            f"{(space.in_chans, space.img_size, space.img_size)} and at most "
            f"{space.num_classes}; {hint}")
    return splits.to(device)


def first_paths(cfg: SearchConfig) -> PathSpace:
    """The path space the run starts with: stage 1's, or the joint space for one stage."""
    space = cfg.search_space()
    if cfg.stages == 2:
        return stage1(space, prior=cfg.sampling_prior)
    return joint(space, cfg.sampling_prior)


def run_search(config: SearchConfig, out: str | Path, *, resume: bool = False,
               overwrite: bool = False, device: str = "cpu", progress: bool | None = None,
               download: bool = False, splits: Splits | None = None,
               precision: str = "fp32", loader: Any = None,
               compile: str | None = None) -> dict[str, Any]:
    """The whole search; returns (and writes) ``summary.json``'s content.

    Everything that can be refused is checked before any training: the settings,
    the MACs limit, the data against the space, the output folder.
    ``progress=None`` shows bars on a terminal only. ``precision="bf16"`` trains
    and scores under bf16 autocast (on a GPU); ``loader`` sets the streaming data
    loader's workers (:class:`glitlib.imagenet.LoaderSettings`); ``compile`` names a
    ``torch.compile`` backend for the retraining. Under
    torch.distributed every rank calls this; rank 0 opens and writes the folder.
    """
    cfg = config.resolve()
    check_device(device)
    space = cfg.search_space()
    check_macs_range(first_paths(cfg), None, cfg.max_macs)
    check_shards(cfg.supernet)
    check_shards(cfg.retrain)
    splits = splits if splits is not None else load_splits(cfg, device, download, loader)
    with open_run(out, resume, overwrite) as run:
        save_settings(run.path, cfg.to_dict(), resume)
        save_heldout(run.path, cfg, splits, resume)
        meta = {"run": cfg.fingerprint(), "data": data_spec(cfg)}
        summary_file = run.path / "summary.json"
        if resume and summary_file.exists():
            summary = read_json(summary_file, "summary")
            if summary.get("run") == meta["run"]:
                return summary
        names = ["stage1", "stage2"] if cfg.stages == 2 else ["single_stage"]
        results, paths = [], first_paths(cfg)
        for name in names:
            if name == "stage2":
                paths = stage2(space, results[0]["best"]["distribution"], cfg.sampling_prior)
            results.append(run_stage(name, paths, splits, cfg, run.path, resume, device,
                                     progress, meta, precision, compile))
        return _finish(run.path, space, cfg, results, splits, device, meta)


def open_run(out: str | Path, resume: bool = False, overwrite: bool = False,
             inputs: tuple[str | Path, ...] = ()) -> Any:
    """The run's output folder: rank 0 opens (locks, checks, lists) it, the others wait.

    In a distributed run the folder must be on a file system every rank sees.
    """
    from .distributed import barrier, is_main

    if is_main():
        run: Any = RunDir(out, resume, overwrite, inputs)
    else:
        run = _OtherRank(Path(out))
    barrier()
    return run


class _OtherRank:
    """The run folder as ranks other than 0 see it: a path to read from, nothing to lock."""

    def __init__(self, path: Path):
        self.path = path

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel

    def close(self) -> None:
        pass

    def __enter__(self) -> _OtherRank:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def save_heldout(out: Path, cfg: SearchConfig, splits: Splits, resume: bool) -> None:
    """``heldout.json``: the files held out of training to score the search (streamed data).

    Written once; a resumed run checks that the data folder still gives the same list.
    """
    if cfg.dataset != "imagenet":
        return
    from .imagenet import check_heldout, heldout_record

    record = heldout_record(splits)
    saved = out / "heldout.json"
    if resume and saved.exists():
        check_heldout(read_json(saved, "held-out file list"), record, saved)
    else:
        write_json(saved, record)


def save_settings(out: Path, new: dict[str, Any], resume: bool) -> None:
    """Write ``config.json``; on resume it must equal the saved one."""
    saved = out / "config.json"
    if resume and saved.exists():
        old = read_json(saved, "run settings")
        if old != new:
            keys = _changed(old, new)
            raise ConfigError(f"{out} was run with other settings ({', '.join(keys[:4])}); "
                              "resume with the same flags (or --config "
                              f"{saved}), or pass --overwrite to start afresh")
    write_json(saved, new)


def _changed(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = []
        for k in sorted(set(old) | set(new)):
            keys += _changed(old.get(k), new.get(k), f"{prefix}{k}.")
        return keys
    return [] if old == new else [prefix.rstrip(".")]


def run_stage(name: str, paths: PathSpace, splits: Splits, cfg: SearchConfig, out: Path,
              resume: bool = False, device: str = "cpu", progress: bool | None = None,
              meta: dict[str, Any] | None = None, precision: str = "fp32",
              compile: str | None = None) -> dict[str, Any]:
    """Supernet -> search -> retrain the best; returns the stage's result (also saved)."""
    meta = meta or {"run": cfg.fingerprint(), "data": data_spec(cfg)}
    folder = out / name
    result_file = folder / "result.json"
    if resume and result_file.exists():
        result = read_json(result_file, f"{name} result")
        if result.get("run") != meta["run"]:
            raise CheckpointError(f"{result_file} belongs to another run; delete {folder} "
                                  "and rerun with --resume, or pass --overwrite")
        return result
    clock = time.perf_counter()
    net = train_supernet(paths, splits.train, cfg.supernet, folder / "supernet.pt", resume,
                         device, progress, f"{name} supernet", meta, precision)
    t_supernet = time.perf_counter()
    score = Evaluator(net, splits.train, splits.val, cfg.bn_batches, cfg.bn_batch_size,
                      cfg.seed, precision=precision)
    strategy, found = _search(paths, score, cfg, folder / "search.json", resume, progress,
                              meta)
    t_search = time.perf_counter()
    chosen = _to_retrain(found, cfg, name)
    rows = retrain_candidates(paths.space, [c for _, c in chosen], splits, cfg.retrain,
                              folder / "retrain", resume, device, progress, meta,
                              ranks=[r for r, _ in chosen], precision=precision,
                              compile=compile)
    best = best_retrained([r for r in rows if r.rank < cfg.retrain_candidates])
    ranking = ranking_report([r.candidate.supernet_accuracy for r in rows],
                             [r.val_accuracy for r in rows], len(splits.val),
                             cfg.retrain_candidates, cfg.seed)
    result = {**meta, "stage": name, "strategy": strategy, "best": best.to_dict(),
              "max_macs": cfg.max_macs, "evaluated": len(found),
              "path_space_size": paths.size, "ranking": ranking,
              "retrained": [r.to_dict() for r in rows]}
    write_json(folder / "timings.json", {
        "supernet_s": round(t_supernet - clock, 2), "search_s": round(t_search - t_supernet, 2),
        "retrain_s": round(time.perf_counter() - t_search, 2)})
    write_json(result_file, result)
    return result


def _search(paths: PathSpace, score: Evaluator, cfg: SearchConfig, state: Path, resume: bool,
            progress: bool | None, meta: dict[str, Any]) -> tuple[str, list[Candidate]]:
    """Evolution or random search -- or every feasible path, when the budget covers them."""
    budget = cfg.evolution.population * cfg.evolution.generations
    archs = feasible_paths(paths, cfg.max_macs, budget) if cfg.enumerate_small else None
    if archs is not None:
        return "enumeration", enumerate_search(paths, score, cfg.evolution, archs, state,
                                               resume, progress, meta)
    search = evolve if cfg.strategy == "evolution" else random_search
    return cfg.strategy, search(paths, score, cfg.evolution, state, resume, progress,
                                meta=meta)


def _to_retrain(found: list[Candidate], cfg: SearchConfig, name: str
                ) -> list[tuple[int, Candidate]]:
    """The best by supernet score, then a seeded uniform sample of the rest (for ranking)."""
    order = best_candidates(found, len(found))
    top = list(enumerate(order[:cfg.retrain_candidates]))
    rest = list(range(cfg.retrain_candidates, len(order)))
    rng = step_rng(cfg.seed, 0, f"{name}:rank-sample")
    picked = sorted(rng.sample(rest, min(cfg.rank_sample, len(rest))))
    return top + [(i, order[i]) for i in picked]


def retrain_candidates(space: SearchSpace, candidates: list[Candidate], splits: Splits,
                       cfg: TrainConfig, folder: Path, resume: bool = False,
                       device: str = "cpu", progress: bool | None = None,
                       meta: dict[str, Any] | None = None,
                       ranks: list[int] | None = None, precision: str = "fp32",
                       compile: str | None = None) -> list[Retrained]:
    """Train each candidate from scratch with the same recipe; score it on ``val``.

    ``ranks``: each candidate's place by supernet score (default: their order).
    """
    meta = meta or {}
    ranks = ranks if ranks is not None else list(range(len(candidates)))
    rows = []
    for i, cand in enumerate(candidates):
        done = folder / f"candidate{i}.json"
        if resume and done.exists():
            saved = read_json(done, "retrain result")
            if saved.get("run") != meta.get("run"):
                raise CheckpointError(f"{done} belongs to another run; delete it and rerun "
                                      "with --resume, or pass --overwrite")
            rows.append(Retrained.from_dict(saved, str(done)))
            continue
        ckpt = folder / f"candidate{i}.pt"
        model = train_model(space, cand.arch, splits.train, cfg, ckpt, resume, device,
                            progress, f"retrain {i + 1}/{len(candidates)}", meta, precision,
                            compile)
        row = Retrained(ranks[i], cand, accuracy(model, splits.val, precision=precision),
                        ckpt.name)
        write_json(done, {**meta, **row.to_dict()})
        rows.append(row)
    return rows


def conclude(space: SearchSpace, best: Retrained, ckpt_dir: Path, splits: Splits,
             out: Path, device: str = "cpu", name: str = "found") -> dict[str, Any]:
    """The end of every search or retraining: the one read of the test split.

    Reloads the best retrained model, measures its test accuracy and writes
    ``arch.json`` (which ``glit info --arch`` and ``glit retrain --arch`` read).
    """
    from .distributed import barrier

    barrier()  # rank 0 wrote the checkpoint every rank reads
    model, _ = load_model(ckpt_dir / best.checkpoint, device)
    test = accuracy(model, splits.test)
    arch = Arch(best.arch.blocks, name=f"{name}-{space.name}")
    write_json(out / "arch.json", arch.to_dict(space))
    return {"arch": [b.to_dict() for b in best.arch.blocks],
            "distribution": list(best.arch.distribution), "macs": best.candidate.macs,
            "params": best.candidate.params, "val_accuracy": best.val_accuracy,
            "test_accuracy": test}


def _finish(out: Path, space: SearchSpace, cfg: SearchConfig, stages: list[dict[str, Any]],
            splits: Splits, device: str, meta: dict[str, Any]) -> dict[str, Any]:
    last = stages[-1]
    best = Retrained.from_dict(last["best"], f"{last['stage']} result")
    final = conclude(space, best, out / last["stage"] / "retrain", splits, out, device)
    summary = {**meta, "space": space.name, **final,
               "stages": {s["stage"]: s for s in stages}}
    write_json(out / "summary.json", summary)
    from .distributed import is_main
    from .plots import plot_search

    if not is_main():
        return summary

    found = {s["stage"]: read_search(out / s["stage"] / "search.json")[1] for s in stages}
    plot_search(out, space, found, cfg.max_macs, final["distribution"])
    return summary
