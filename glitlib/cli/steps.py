"""The steps of a search as commands: ``glit supernet``, ``evolve``, ``retrain``, ``eval``.

Each builds a :class:`~glitlib.config.search.SearchConfig` from its flags (and from the
file it reads) and calls the library; the run semantics live there, not here. Each
writes its own ``config.json``, so a step resumes like a whole search.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config.checks import fingerprint
from ..config.search import SearchConfig
from ..errors import ConfigError
from .flags import add_fields, apply_fields, explicit, print_result
from .registry import command
from .search import run_preset
from .shared import BASE, DATA, data_flags, open_out, pct, run_flags, same_data, start

__all__ = ["supernet", "evolve", "retrain", "eval_cmd"]


# -- glit supernet -------------------------------------------------------------------
def _supernet_args(p: argparse.ArgumentParser) -> None:
    data_flags(p)
    p.add_argument("--stage", default="1", choices=["1", "2", "joint"],
                   help="1: the distribution; 2: the details of --distribution; joint: "
                        "everything (default: 1)")
    p.add_argument("--distribution", default=None,
                   help="global heads per block for --stage 2, e.g. 3,0,1,3")
    add_fields(p, BASE, only=("sampling_prior", "max_macs"), title="supernet training")
    add_fields(p, BASE.supernet, title="supernet training")
    run_flags(p)


def _paths(args: argparse.Namespace, cfg: SearchConfig) -> Any:
    from ..nas.paths import joint, stage1, stage2

    space, prior = cfg.search_space(), cfg.sampling_prior
    if args.stage == "1":
        return stage1(space, prior=prior)
    if args.stage == "joint":
        return joint(space, prior)
    if not args.distribution:
        raise ConfigError("--stage 2 needs --distribution, e.g. --distribution 3,0,1,3")
    try:
        dist = [int(g) for g in args.distribution.split(",")]
    except ValueError:
        raise ConfigError(f"--distribution {args.distribution!r} is not a comma-separated "
                          "list of integers") from None
    return stage2(space, dist, prior)


@command("supernet", "train a SPOS supernet for one stage (--max-macs: only paths under it)",
         _supernet_args)
def supernet(args: argparse.Namespace) -> int:
    from ..data.load import load_splits
    from ..nas.budget import check_macs_range
    from ..nas.training import train_supernet
    from ..train.loop import Checkpoint

    cfg = apply_fields(args, BASE)
    cfg = replace(cfg, supernet=apply_fields(args, cfg.supernet)).resolve()
    paths = _paths(args, cfg)
    limit = cfg.max_macs if explicit(args, "max_macs") else None
    check_macs_range(paths, cfg.supernet.min_macs, limit)
    rt = start(args)
    splits = load_splits(cfg, rt, args.download)
    config = {"command": "supernet", "stage": args.stage, "distribution": args.distribution,
              "search": cfg.to_dict()}
    with open_out(args, config, []) as run:
        meta = {"run": fingerprint(config), "data": cfg.data()}
        train_supernet(paths, splits.train, cfg.supernet, cfg.seed, rt,
                       Checkpoint(run.path / "supernet.pt", meta, args.resume),
                       max_macs=limit)
    print(f"supernet over {paths.size:,} paths trained {cfg.supernet.steps} steps -> "
          f"{Path(args.out) / 'supernet.pt'}")
    return 0


# -- glit evolve -------------------------------------------------------------------
def _evolve_args(p: argparse.ArgumentParser) -> None:
    data_flags(p)
    p.add_argument("--supernet", required=True, help="supernet.pt written by glit supernet")
    add_fields(p, BASE, only=("max_macs", "strategy", "exhaustive_small", "bn_batches",
                              "bn_batch_size"), title="search")
    add_fields(p, BASE.evolution, title="search")
    run_flags(p)


@command("evolve", "evolutionary (or random) search over a trained supernet", _evolve_args)
def evolve(args: argparse.Namespace) -> int:
    from ..data.load import load_splits
    from ..model.space import load_space
    from ..nas.budget import check_macs_range
    from ..nas.evaluator import Evaluator
    from ..nas.records import best_candidates
    from ..nas.strategy import make_strategy, run_strategy
    from ..nas.training import load_supernet

    rt = start(args)
    wanted = load_space(args.space) if explicit(args, "space") else None
    net, state = load_supernet(args.supernet, wanted, device=rt.device)
    data = same_data(args, state.get("data"), f"supernet {args.supernet}")
    cfg = apply_fields(args, replace(BASE, space=net.space.to_dict(), **data))
    cfg = replace(cfg, evolution=apply_fields(args, cfg.evolution)).resolve()
    check_macs_range(net.paths, None, cfg.max_macs)
    splits = load_splits(cfg, rt, args.download)
    config = {"command": "evolve", "supernet": str(args.supernet), "search": cfg.to_dict()}
    with open_out(args, config, [args.supernet]) as run:
        meta = {"run": fingerprint(config), "data": data}
        score = Evaluator(net, splits.train, splits.val, cfg.bn_batches, cfg.bn_batch_size,
                          cfg.seed, precision=rt.precision)
        found = run_strategy(make_strategy(cfg, net.paths), score, run.path / "search.json",
                             args.resume, rt, meta)
    best = best_candidates(found, 1)[0]
    print(f"{len(found)} candidates evaluated; best held-out {pct(best.score)} "
          f"at {best.macs:,} MACs -> {Path(args.out) / 'search.json'}")
    return 0


# -- glit retrain ------------------------------------------------------------------
def _retrain_args(p: argparse.ArgumentParser) -> None:
    data_flags(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--search", help="search.json written by glit evolve or glit search")
    src.add_argument("--arch", help="an architecture JSON file (trains just that one)")
    add_fields(p, BASE, only=("retrain_candidates",), title="retraining")
    add_fields(p, BASE.retrain, title="retraining")
    run_flags(p)


def _sources(args: argparse.Namespace, base: SearchConfig) -> tuple[Any, list, dict]:
    """(space, candidates, data) from --arch or --search; ``base`` fills unset data flags."""
    from ..model.arch import load_arch
    from ..model.costs import CostModel
    from ..model.space import get_space, load_space
    from ..nas.records import Candidate, best_candidates
    from ..nas.strategy import read_search

    if args.arch:
        wanted = None
        if explicit(args, "space") or base is not BASE:  # a preset names the space
            wanted = load_space(args.space if explicit(args, "space") else base.space)
        space, arch = load_arch(args.arch, wanted)
        cost = CostModel(space)(arch)
        data = {k: getattr(args, k, getattr(base, k)) for k in DATA[1:]}
        return space, [Candidate(arch, cost.macs, cost.params, None, -1)], data
    state, found = read_search(args.search)
    if not found:
        raise ConfigError(f"{args.search} holds no evaluated candidates; run glit evolve")
    space = get_space(state["space"])
    data = same_data(args, state.get("data"), f"search results {args.search}")
    k = getattr(args, "retrain_candidates", BASE.retrain_candidates)
    return space, best_candidates(found, k), data


@command("retrain", "train the best candidates from scratch; keep the best by held-out "
         "accuracy", _retrain_args)
def retrain(args: argparse.Namespace) -> int:
    from ..data.load import load_splits
    from ..nas.pipeline import RunContext, conclude, retrain_candidates
    from ..nas.records import best_retrained
    from ..runtime.files import write_json

    rt = start(args)
    base = run_preset(args) or BASE
    space, cands, data = _sources(args, base)
    cfg = replace(base, space=space.to_dict(), **data,
                  retrain=apply_fields(args, base.retrain)).resolve()
    splits = load_splits(cfg, rt, args.download)
    config = {"command": "retrain", "source": str(args.search or args.arch),
              "candidates": [c.to_dict() for c in cands], "search": cfg.to_dict()}
    with open_out(args, config, [args.search or args.arch]) as run:
        meta = {"run": fingerprint(config), "data": cfg.data()}
        ctx = RunContext(cfg, splits, run.path, rt, args.resume, meta)
        rows = retrain_candidates(ctx, cands, run.path)
        best = best_retrained(rows)
        final = conclude(ctx, best, run.path, "retrained")
        write_json(run.path / "result.json", {**meta, **final,
                                              "retrained": [r.to_dict() for r in rows]})
    print(f"best of {len(rows)}: candidate {best.rank}, held-out "
          f"{pct(best.val_accuracy)}, test {pct(final['test_accuracy'])} -> "
          f"{Path(args.out) / 'arch.json'}")
    return 0


# -- glit eval -----------------------------------------------------------------------
def _eval_args(p: argparse.ArgumentParser) -> None:
    data_flags(p, preset=False)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a model checkpoint (candidateN.pt)")
    src.add_argument("--weights", help="released weights: GLiT-Tiny's checkpoint (--arch "
                     "glit-tiny) or a timm DeiT state dict (--arch deit-tiny, ...), scored on "
                     "--dataset imagenet's val/ folder")
    p.add_argument("--arch", default="glit-tiny",
                   help="with --weights: glit-tiny, deit-tiny, deit-small or deit-base "
                        "(default: glit-tiny)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="which split of the checkpoint's own data (default: test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    run_flags(p, out=False)


@command("eval", "accuracy of a retrained model on one split of its own data, or of "
         "released weights on ImageNet's val images", _eval_args)
def eval_cmd(args: argparse.Namespace) -> int:
    from ..data.load import load_splits
    from ..train.standalone import accuracy, load_model

    rt = start(args)
    if args.weights:
        return _eval_weights(args, rt)
    model, state = load_model(args.checkpoint, rt.device)
    data = same_data(args, state.get("data"), f"checkpoint {args.checkpoint}")
    cfg = replace(BASE, space=state["space"], **data)
    split = getattr(load_splits(cfg, rt, args.download), args.split)
    acc = accuracy(model, split, precision=rt.precision)
    print_result({"checkpoint": str(args.checkpoint), "split": args.split,
                  "accuracy": acc, "images": len(split)}, args.json)
    return 0


def _eval_weights(args: argparse.Namespace, rt: Any) -> int:
    """Released weights on ImageNet's official val images (DeiT's eval transform)."""
    from ..data.imagenet import imagenet_val
    from ..model.weights import from_deit, load_official
    from ..train.standalone import accuracy

    if getattr(args, "dataset", "digits") != "imagenet" or not getattr(args, "data_dir", None):
        raise ConfigError("--weights scores on ImageNet's val/ folder: pass --dataset imagenet "
                          "--data DIR")
    if args.arch == "glit-tiny":
        model = load_official(args.weights)
    elif args.arch in ("deit-tiny", "deit-small", "deit-base"):
        model = from_deit(args.weights)
    else:
        raise ConfigError(f"--arch {args.arch!r}: released weights exist for glit-tiny and "
                          "deit-tiny/-small/-base")
    val = imagenet_val(args.data_dir, model.space.img_size, rt.loader)
    if val.num_classes != model.space.num_classes:
        raise ConfigError(f"{args.data_dir}/val has {val.num_classes} classes, the model "
                          f"{model.space.num_classes}; give the full ImageNet-1k val/ folder")
    acc = accuracy(model.to(rt.device).eval(), val, precision=rt.precision)
    print_result({"weights": str(args.weights), "arch": args.arch, "split": "imagenet val",
                  "accuracy": acc, "images": len(val)}, args.json)
    return 0
