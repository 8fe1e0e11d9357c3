"""The hierarchical search of GLiT, end to end, and its single-stage baselines.

    stage 1: supernet over the distribution (low-level values fixed)
             -> evolution under a MACs limit -> retrain the top-k -> best distribution
    stage 2: supernet over (d_k, d_z, e, k) with that distribution fixed
             -> evolution -> retrain the top-k -> the final architecture

Each stage is the same three steps (:func:`run_stage`) over a different
:class:`~glitlib.paths.PathSpace`; the baselines are one stage over
:func:`~glitlib.paths.joint` with evolution (single-stage SPOS) or random
search. Choices use the held-out ``val`` split only; the ``test`` split is read
once, for the chosen architecture, after every decision is taken.

Every step writes its result into its own folder and is skipped when resumed
and already done, so a killed pipeline restarts where it stopped.

Why the ``digits`` preset and these defaults: 8x8 images in 2x2 patches give 17
tokens, 4 blocks of 3 heads at width 48; a supernet step takes tens of
milliseconds and a candidate (BN recalibration on 128 training images + 360
held-out images) a few tens, so the whole two-stage search -- 500 supernet
steps, SPOS's 1,000 candidates and 5 retrainings of 100 steps per stage --
runs in a few minutes on two CPU cores. Stage
1 of this space has only 4^4 = 256 distributions, so under the MACs limit the
evolution there visits nearly every feasible one; stage 2 (~1.6 million paths)
is where it must actually search.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .arch import Arch, BlockArch, SearchSpace, get_space
from .costs import CostModel
from .data import Splits, load_dataset
from .evaluate import Evaluator, accuracy
from .evolution import EvolutionConfig, evolve, random_search, top_candidates
from .io import read_json, write_json
from .paths import PathSpace, joint, stage1, stage2
from .train import TrainConfig, load_model, train_model, train_supernet

__all__ = ["SearchConfig", "default_max_macs", "run_stage", "hierarchical_search",
           "single_stage_search", "load_splits"]


def _supernet_defaults() -> TrainConfig:
    return TrainConfig(steps=500, batch_size=128, lr=2e-3, warmup_steps=50)


def _retrain_defaults() -> TrainConfig:
    return TrainConfig(steps=100, batch_size=128, lr=2e-3, warmup_steps=10, ckpt_every=50)


@dataclass
class SearchConfig:
    """Everything a search run depends on; saved as ``config.json`` in the output folder."""

    space: str | dict[str, Any] = "digits"
    dataset: str = "digits"
    data_dir: str | None = None
    seed: int = 0
    max_macs: int | None = None  # None: the all-global baseline's MACs
    top_k: int = 5
    bn_batches: int = 1
    bn_batch_size: int = 128
    constrain_supernet: bool = False  # SPOS: train only paths under the MACs limit
    supernet: TrainConfig = field(default_factory=_supernet_defaults)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    retrain: TrainConfig = field(default_factory=_retrain_defaults)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchConfig:
        d = dict(d)
        d["supernet"] = TrainConfig.from_dict(d.get("supernet", {}))
        d["evolution"] = EvolutionConfig.from_dict(d.get("evolution", {}))
        d["retrain"] = TrainConfig.from_dict(d.get("retrain", {}))
        return cls(**d)


def default_max_macs(space: SearchSpace) -> int:
    """MACs of the all-global (DeiT-like) network of the space: d_k = d/N, middle d_z.

    GLiT is compared with DeiT at DeiT's cost; this is that budget in any space.
    """
    d_k = space.head_channels if space.head_channels in space.d_k else space.middle("d_k")
    block = BlockArch(space.num_heads, d_k, space.middle("d_z"), None, None)
    return CostModel(space).macs(Arch((block,) * space.depth))


def load_splits(cfg: SearchConfig, device: str = "cpu", download: bool = False) -> Splits:
    """The dataset of ``cfg`` split three ways; its image shape must fit the space."""
    space = get_space(cfg.space)
    splits = load_dataset(cfg.dataset, cfg.seed, cfg.data_dir, space.img_size,
                          space.in_chans, download)
    want = (space.in_chans, space.img_size, space.img_size)
    classes = int(splits.train.y.max()) + 1
    if splits.shape != want or classes > space.num_classes:
        raise ValueError(
            f"dataset {cfg.dataset!r} has images {tuple(splits.shape)} and {classes} classes "
            f"but space {space.name!r} expects {want} and {space.num_classes}; pick a "
            "matching --preset or --space")
    return splits.to(device)


def _arch(record: dict[str, Any]) -> Arch:
    return Arch.from_dict({"blocks": record["arch"]})


def run_stage(name: str, paths: PathSpace, splits: Splits, cfg: SearchConfig, out: Path,
              resume: bool = False, device: str = "cpu", progress: bool = True,
              strategy: str = "evolution") -> dict[str, Any]:
    """Supernet -> search -> retrain the top-k; returns the stage's result (also saved)."""
    folder = out / name
    result_file = folder / "result.json"
    if resume and result_file.exists():
        return read_json(result_file, f"{name} result")
    space = paths.space
    max_macs = cfg.max_macs if cfg.max_macs is not None else default_max_macs(space)
    timer = _Timer()
    scfg = cfg.supernet
    if cfg.constrain_supernet:
        scfg = TrainConfig(**{**asdict(scfg), "max_macs": max_macs})
    net = train_supernet(paths, splits.train, scfg, folder / "supernet.pt", resume, device,
                         progress, desc=f"{name} supernet")
    timer.lap("supernet")
    score = Evaluator(net, splits.train, splits.val, cfg.bn_batches, cfg.bn_batch_size,
                      cfg.seed)
    ecfg = EvolutionConfig(**{**asdict(cfg.evolution), "max_macs": max_macs,
                              "seed": cfg.seed})
    search = evolve if strategy == "evolution" else random_search
    records = search(paths, score, ecfg, folder / "search.json", resume, progress)
    timer.lap("search")
    retrained = retrain_top(space, top_candidates(records, cfg.top_k), splits, cfg,
                            folder / "retrain", resume, device, progress)
    timer.lap("retrain")
    best = max(retrained, key=lambda r: (r["val_accuracy"], -r["macs"]))
    model, _ = load_model(folder / "retrain" / best["checkpoint"], device)
    result = {**best, "stage": name, "max_macs": max_macs, "evaluated": len(records),
              "path_space_size": paths.size, "seconds": timer.laps,
              "test_accuracy": accuracy(model, splits.test)}  # the only read of test
    write_json(result_file, result)
    return result


def retrain_top(space: SearchSpace, candidates: list[dict[str, Any]], splits: Splits,
                cfg: SearchConfig, folder: Path, resume: bool = False, device: str = "cpu",
                progress: bool = True) -> list[dict[str, Any]]:
    """Train each candidate from scratch with the same recipe; score it on ``val``."""
    out = []
    for i, rec in enumerate(candidates):
        done = folder / f"candidate{i}.json"
        if resume and done.exists():
            out.append(read_json(done, "retrain result"))
            continue
        arch = _arch(rec)
        ckpt = folder / f"candidate{i}.pt"
        model = train_model(space, arch, splits.train, cfg.retrain, ckpt, resume, device,
                            progress, desc=f"retrain {i + 1}/{len(candidates)}")
        row = {"rank": i, "arch": rec["arch"], "distribution": list(arch.distribution),
               "macs": rec["macs"], "params": rec["params"],
               "supernet_accuracy": rec["accuracy"],
               "val_accuracy": accuracy(model, splits.val), "checkpoint": ckpt.name}
        write_json(done, row)
        out.append(row)
    return out


def hierarchical_search(cfg: SearchConfig, out: str | Path, resume: bool = False,
                        device: str = "cpu", progress: bool = True,
                        splits: Splits | None = None) -> dict[str, Any]:
    """GLiT's two-stage search; writes ``summary.json`` and ``arch.json`` into ``out``."""
    out = Path(out)
    space = get_space(cfg.space)
    splits = splits or load_splits(cfg, device)
    first = run_stage("stage1", stage1(space), splits, cfg, out, resume, device, progress)
    second = run_stage("stage2", stage2(space, first["distribution"]), splits, cfg, out,
                       resume, device, progress)
    return _finish(out, space, cfg, [first, second])


def single_stage_search(cfg: SearchConfig, out: str | Path, strategy: str = "evolution",
                        resume: bool = False, device: str = "cpu", progress: bool = True,
                        splits: Splits | None = None) -> dict[str, Any]:
    """Baselines on the same budget: SPOS over the joint space, or random search."""
    out = Path(out)
    space = get_space(cfg.space)
    splits = splits or load_splits(cfg, device)
    name = "spos" if strategy == "evolution" else "random"
    result = run_stage(name, joint(space), splits, cfg, out, resume, device, progress,
                       strategy)
    return _finish(out, space, cfg, [result])


def _finish(out: Path, space: SearchSpace, cfg: SearchConfig,
            stages: list[dict[str, Any]]) -> dict[str, Any]:
    final = stages[-1]
    arch = Arch(_arch(final).blocks, name=f"found-{space.name}")
    (out / "arch.json").write_text(arch.to_json(space) + "\n")
    summary = {"space": space.name, "config": cfg.to_dict(), "arch": final["arch"],
               "distribution": final["distribution"], "macs": final["macs"],
               "params": final["params"], "val_accuracy": final["val_accuracy"],
               "test_accuracy": final["test_accuracy"],
               "stages": {s["stage"]: s for s in stages}}
    write_json(out / "summary.json", summary)
    from .plots import plot_search
    plot_search(out, space, [s["stage"] for s in stages])
    return summary


class _Timer:
    def __init__(self) -> None:
        import time
        self._clock = time.perf_counter
        self._t = self._clock()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self._clock()
        self.laps[name] = round(now - self._t, 2)
        self._t = now

