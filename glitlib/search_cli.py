"""Search commands of the ``glit`` CLI: supernet, evolve, retrain, eval, search.

Each is a thin layer over the Python API (:mod:`glitlib.search` and friends):
parse flags, refuse to overwrite results, check inputs early, call, summarise.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from .arch import SearchSpace, get_space
from .cli import UserError, command
from .costs import CostModel
from .evolution import EvolutionConfig
from .io import prepare_out_dir, read_json, write_json
from .paths import joint, stage1, stage2
from .sampling import check_macs_range
from .search import SearchConfig, default_max_macs, load_splits
from .train import TrainConfig

__all__: list[str] = []


# -- shared flags ----------------------------------------------------------------
def _common(p: argparse.ArgumentParser, out: bool = True) -> None:
    p.add_argument("--preset", "--space", dest="space", default=None,
                   help="search space: a preset (digits, tiny, small, base) or a JSON file "
                        "(default: digits, or the checkpoint's)")
    p.add_argument("--dataset", default="digits", choices=["digits", "cifar10", "folder"],
                   help="digits (bundled with scikit-learn), cifar10 or folder (needs --data)")
    p.add_argument("--data", default=None, help="data directory for cifar10/folder")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 if missing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    if out:
        p.add_argument("--out", required=True, help="output directory")
        p.add_argument("--resume", action="store_true", help="continue the run in --out")
        p.add_argument("--overwrite", action="store_true", help="replace the run in --out")


def _train_flags(p: argparse.ArgumentParser, prefix: str, d: TrainConfig,
                 recipe: bool = False) -> None:
    p.add_argument(f"--{prefix}steps", type=int, default=d.steps)
    p.add_argument(f"--{prefix}batch-size", type=int, default=d.batch_size)
    p.add_argument(f"--{prefix}lr", type=float, default=d.lr)
    if recipe:  # timm pieces of the DeiT recipe, for large data
        p.add_argument(f"--{prefix}ema-decay", type=float, default=0.0,
                       help="keep a ModelEmaV3 copy with this decay (0: off)")
        p.add_argument(f"--{prefix}mixup", type=float, default=0.0, help="mixup alpha")
        p.add_argument(f"--{prefix}cutmix", type=float, default=0.0, help="cutmix alpha")
        p.add_argument(f"--{prefix}drop-path", type=float, default=0.0)


def _train_cfg(args: argparse.Namespace, prefix: str, d: TrainConfig) -> TrainConfig:
    p = prefix.replace("-", "_")
    extra = {k: getattr(args, f"{p}{k}") for k in ("ema_decay", "mixup", "cutmix", "drop_path")
             if hasattr(args, f"{p}{k}")}
    return replace(d, **extra, steps=getattr(args, f"{p}steps"), lr=getattr(args, f"{p}lr"),
                   batch_size=getattr(args, f"{p}batch_size"), seed=args.seed,
                   warmup_steps=min(d.warmup_steps, getattr(args, f"{p}steps") // 5),
                   ckpt_every=getattr(args, "ckpt_every", None) or d.ckpt_every)


def _evo_flags(p: argparse.ArgumentParser) -> None:
    e = SearchConfig().evolution
    p.add_argument("--max-macs", type=float, default=None,
                   help="MACs limit (default: the all-global baseline's MACs)")
    p.add_argument("--population", type=int, default=e.population)
    p.add_argument("--generations", type=int, default=e.generations)
    p.add_argument("--parents", type=int, default=e.top_k, help="top-k kept as parents")
    p.add_argument("--mutations", type=int, default=None,
                   help=f"mutations per generation (default: half the population, {e.mutations})")
    p.add_argument("--crossovers", type=int, default=None,
                   help=f"crossovers per generation (default: half the population, "
                        f"{e.crossovers})")
    p.add_argument("--bn-batches", type=int, default=SearchConfig.bn_batches,
                   help="BatchNorm recalibration batches per candidate")
    p.add_argument("--bn-batch-size", type=int, default=SearchConfig.bn_batch_size)


def _space(args: argparse.Namespace) -> str | dict[str, Any]:
    if args.space is None:
        return "digits"
    if Path(args.space).suffix == ".json":
        data = read_json(args.space, "search space file")
        get_space(data)  # validates
        return data
    get_space(args.space)
    return args.space


def _config(args: argparse.Namespace) -> SearchConfig:
    base = SearchConfig()
    cfg = SearchConfig(space=_space(args), dataset=args.dataset, data_dir=args.data,
                       seed=args.seed, bn_batches=args.bn_batches,
                       bn_batch_size=args.bn_batch_size)
    if getattr(args, "max_macs", None) is not None:
        cfg.max_macs = int(args.max_macs)
    cfg.evolution = _evo_cfg(args)
    cfg.supernet = _train_cfg(args, "supernet-", base.supernet)
    if getattr(args, "constrain_supernet", False):
        cfg.constrain_supernet = True
        cfg.supernet = replace(cfg.supernet, macs_bins=args.supernet_macs_bins)
    cfg.retrain = _train_cfg(args, "retrain-", base.retrain)
    cfg.top_k = getattr(args, "top_k", cfg.top_k)
    return cfg


def _evo_cfg(args: argparse.Namespace) -> EvolutionConfig:
    return replace(EvolutionConfig(), population=args.population,
                   generations=args.generations, top_k=args.parents,
                   mutations=_or(args.mutations, args.population // 2),
                   crossovers=_or(args.crossovers, args.population // 2), seed=args.seed)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _out(args: argparse.Namespace, config: dict[str, Any]) -> Path:
    """The output folder, refusing to clobber; on --resume the settings must match."""
    try:
        out = prepare_out_dir(args.out, args.resume, args.overwrite)
    except FileExistsError as err:
        raise UserError(str(err)) from None
    saved = out / "config.json"
    if args.resume and saved.exists():
        old = read_json(saved, "run settings")
        if old != json.loads(json.dumps(config)):
            keys = sorted(k for k in config if old.get(k) != json.loads(json.dumps(config))[k])
            raise UserError(f"{out} was run with other settings ({', '.join(keys)}); resume "
                            "with the same flags, or pass --overwrite to start afresh")
    write_json(saved, config)
    return out


def _check_macs(space: SearchSpace, paths, max_macs: int | None) -> int:
    limit = default_max_macs(space) if max_macs is None else max_macs
    check_macs_range(paths, CostModel(space), None, limit)
    return limit


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


# -- glit search -----------------------------------------------------------------
def _search_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--strategy", default="hierarchical", choices=["hierarchical", "spos",
                                                                   "random"],
                   help="hierarchical (GLiT), spos (one stage, joint space) or random")
    _evo_flags(p)
    p.add_argument("--top-k", type=int, default=SearchConfig.top_k,
                   help="candidates retrained from scratch per stage")
    _train_flags(p, "supernet-", SearchConfig().supernet)
    _train_flags(p, "retrain-", SearchConfig().retrain, recipe=True)
    p.add_argument("--ckpt-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--constrain-supernet", action="store_true",
                   help="train the supernets only on paths under the MACs limit (SPOS)")
    p.add_argument("--supernet-macs-bins", type=int, default=1,
                   help="with --constrain-supernet: pick one of this many MACs bins "
                        "uniformly, then a path inside it")


@command("search", "the whole hierarchical search: stage 1 and stage 2, each "
         "supernet -> evolution -> retrain top-k", _search_args)
def search(args: argparse.Namespace) -> int:
    from .search import hierarchical_search, single_stage_search

    cfg = _config(args)
    space = get_space(cfg.space)
    first = joint(space) if args.strategy != "hierarchical" else stage1(space)
    _check_macs(space, first, cfg.max_macs)
    splits = load_splits(cfg, args.device, args.download)
    out = _out(args, {"command": "search", "strategy": args.strategy, **cfg.to_dict()})
    if args.strategy == "hierarchical":
        s = hierarchical_search(cfg, out, args.resume, args.device, not args.quiet, splits)
    else:
        strategy = "evolution" if args.strategy == "spos" else "random"
        s = single_stage_search(cfg, out, strategy, args.resume, args.device,
                                not args.quiet, splits)
    for name, st in s["stages"].items():
        secs = ", ".join(f"{k} {v:.0f}s" for k, v in st["seconds"].items())
        print(f"{name}: {st['evaluated']} candidates of {st['path_space_size']:,} -> "
              f"distribution {st['distribution']}, held-out {_pct(st['val_accuracy'])} "
              f"({secs})")
    print(f"found: {s['macs']:,} MACs, {s['params']:,} params, held-out "
          f"{_pct(s['val_accuracy'])}, test {_pct(s['test_accuracy'])}")
    print(f"wrote {out / 'arch.json'} (glit info --arch {out / 'arch.json'})")
    return 0


# -- glit supernet ---------------------------------------------------------------
def _supernet_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--stage", default="1", choices=["1", "2", "joint"])
    p.add_argument("--distribution", default=None,
                   help="global heads per block for --stage 2, e.g. 3,0,1,3")
    _train_flags(p, "", SearchConfig().supernet)
    p.add_argument("--min-macs", type=float, default=None)
    p.add_argument("--max-macs", type=float, default=None)
    p.add_argument("--macs-bins", type=int, default=1,
                   help="SPOS sampling: pick one of this many MACs bins uniformly")
    p.add_argument("--ckpt-every", type=int, default=None)


def _paths(args: argparse.Namespace, space: SearchSpace):
    if args.stage == "1":
        return stage1(space)
    if args.stage == "joint":
        return joint(space)
    if not args.distribution:
        raise UserError("--stage 2 needs --distribution, e.g. --distribution 3,0,1,3")
    try:
        dist = [int(g) for g in args.distribution.split(",")]
    except ValueError:
        raise UserError(f"--distribution {args.distribution!r} is not a comma-separated "
                        "list of integers") from None
    return stage2(space, dist)


@command("supernet", "train a SPOS supernet for one stage", _supernet_args)
def supernet(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .train import train_supernet

    space = get_space(_space(args))
    paths = _paths(args, space)
    cfg = replace(_train_cfg(args, "", SearchConfig().supernet),
                  min_macs=_int(args.min_macs), max_macs=_int(args.max_macs),
                  macs_bins=args.macs_bins)
    check_macs_range(paths, CostModel(space), cfg.min_macs, cfg.max_macs)
    splits = load_dataset(args.dataset, args.seed, args.data, space.img_size, space.in_chans,
                          args.download).to(args.device)
    out = _out(args, {"command": "supernet", "space": space.to_dict(), "stage": args.stage,
                      "distribution": args.distribution, "dataset": args.dataset,
                      "train": asdict(cfg)})
    train_supernet(paths, splits.train, cfg, out / "supernet.pt", args.resume, args.device,
                   not args.quiet)
    print(f"supernet over {paths.size:,} paths trained {cfg.steps} steps -> "
          f"{out / 'supernet.pt'}")
    return 0


def _int(x: float | None) -> int | None:
    return None if x is None else int(x)


# -- glit evolve -------------------------------------------------------------------
def _evolve_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--supernet", required=True, help="supernet.pt written by glit supernet")
    p.add_argument("--strategy", default="evolution", choices=["evolution", "random"])
    _evo_flags(p)


@command("evolve", "evolutionary (or random) search over a trained supernet", _evolve_args)
def evolve_cmd(args: argparse.Namespace) -> int:
    from .evaluate import Evaluator
    from .evolution import evolve, random_search, top_candidates
    from .train import load_supernet

    wanted = get_space(_space(args)) if args.space else None
    net, state = load_supernet(args.supernet, wanted, device=args.device)
    space = net.space
    max_macs = _check_macs(space, net.paths, _int(args.max_macs))
    cfg = replace(_evo_cfg(args), max_macs=max_macs)
    splits = load_splits(replace(SearchConfig(), space=space.to_dict(), dataset=args.dataset,
                                 data_dir=args.data, seed=args.seed), args.device,
                         args.download)
    out = _out(args, {"command": "evolve", "supernet": str(args.supernet),
                      "evolution": asdict(cfg), "dataset": args.dataset})
    score = Evaluator(net, splits.train, splits.val, args.bn_batches, args.bn_batch_size,
                      args.seed)
    run = evolve if args.strategy == "evolution" else random_search
    records = run(net.paths, score, cfg, out / "search.json", args.resume, not args.quiet)
    best = top_candidates(records, 1)[0]
    print(f"{len(records)} candidates evaluated; best held-out {_pct(best['accuracy'])} at "
          f"{best['macs']:,} MACs -> {out / 'search.json'}")
    return 0


# -- glit retrain ------------------------------------------------------------------
def _retrain_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--search", help="search.json written by glit evolve")
    src.add_argument("--arch", help="an architecture JSON file (trains just that one)")
    p.add_argument("--top-k", type=int, default=SearchConfig.top_k)
    _train_flags(p, "", SearchConfig().retrain, recipe=True)
    p.add_argument("--ckpt-every", type=int, default=None)


@command("retrain", "train the top-k candidates from scratch; keep the best", _retrain_args)
def retrain(args: argparse.Namespace) -> int:
    from .arch import Arch, load_arch
    from .evaluate import accuracy
    from .evolution import top_candidates
    from .search import retrain_top
    from .train import load_model

    if args.arch:
        space, arch = load_arch(args.arch, None)
        cost = CostModel(space)(arch)
        cands = [{"arch": [b.to_dict() for b in arch.blocks], "macs": cost.macs,
                  "params": cost.params, "accuracy": float("nan")}]
    else:
        state = read_json(args.search, "search results")
        if not isinstance(state, dict) or not state.get("records"):
            raise UserError(f"{args.search} holds no evaluated candidates; run glit evolve")
        space = get_space(_space(args))
        cands = top_candidates(state["records"], args.top_k)
    cfg = SearchConfig(space=space.to_dict(), dataset=args.dataset, data_dir=args.data,
                       seed=args.seed, retrain=_train_cfg(args, "", SearchConfig().retrain))
    splits = load_splits(cfg, args.device, args.download)
    out = _out(args, {"command": "retrain", **cfg.to_dict(), "candidates": cands})
    rows = retrain_top(space, cands, splits, cfg, out, args.resume, args.device,
                       not args.quiet)
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["macs"]))
    model, _ = load_model(out / best["checkpoint"], args.device)
    test = accuracy(model, splits.test)
    arch = Arch.from_dict({"blocks": best["arch"], "name": "retrained"})
    (out / "arch.json").write_text(arch.to_json(space) + "\n")
    write_json(out / "result.json", {**best, "test_accuracy": test})
    print(f"best of {len(rows)}: candidate {best['rank']}, held-out "
          f"{_pct(best['val_accuracy'])}, test {_pct(test)} -> {out / 'arch.json'}")
    return 0


# -- glit eval -----------------------------------------------------------------------
def _eval_args(p: argparse.ArgumentParser) -> None:
    _common(p, out=False)
    p.add_argument("--checkpoint", required=True, help="a model checkpoint (candidateN.pt)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])


@command("eval", "accuracy of a retrained model on one split", _eval_args)
def eval_cmd(args: argparse.Namespace) -> int:
    from .evaluate import accuracy
    from .train import load_model

    model, state = load_model(args.checkpoint, args.device)
    cfg = SearchConfig(space=state["space"], dataset=args.dataset, data_dir=args.data,
                       seed=args.seed)
    splits = load_splits(cfg, args.device, args.download)
    acc = accuracy(model, getattr(splits, args.split))
    print(f"{args.split} accuracy {_pct(acc)} ({len(getattr(splits, args.split))} images)")
    return 0
