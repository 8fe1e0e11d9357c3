"""The search commands of ``glit``: search, supernet, evolve, retrain, eval.

Each builds a :class:`~glitlib.config.SearchConfig` from its flags (or a saved
``config.json``) and calls the library; the run semantics live there, not here.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from .cli import add_fields, apply_fields, checked, command, explicit, print_result
from .config import (
    COUNT,
    COUNT0,
    RUN_PRESETS,
    EvolutionConfig,
    SearchConfig,
    fingerprint,
    imagenet_preset,
)
from .errors import ConfigError

__all__: list[str] = []

_DATA = ("space", "dataset", "data_dir", "seed", "heldout_per_class")
_BASE = SearchConfig()


def _only(instance: Any, keep: tuple[str, ...]) -> tuple[str, ...]:
    from dataclasses import fields

    return tuple(f.name for f in fields(instance) if f.name not in keep)


def _run_flags(p: argparse.ArgumentParser, out: bool = True) -> None:
    p.add_argument("--download", action="store_true",
                   help="download CIFAR-10 into --data if it is missing (opt-in)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps; "
                   "under torchrun, cuda gives rank i cuda:LOCAL_RANK (default: cpu)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: train and score under bf16 autocast (GPUs) (default: fp32)")
    p.add_argument("--workers", type=checked(COUNT0, "--workers"), default=None, metavar="N",
                   help="imagenet: data-loading worker processes per rank (default: 8 on "
                        "a GPU, else 0)")
    p.add_argument("--prefetch-factor", type=checked(COUNT, "--prefetch-factor"), default=2,
                   metavar="N", help="imagenet: batches each worker loads ahead (default: 2)")
    p.add_argument("--cache-heldout", action="store_true",
                   help="imagenet: keep the held-out images decoded in memory after their "
                        "first pass instead of decoding them for every candidate (uint8: "
                        "7.5 GB per rank for 50,000 at 224 px)")
    p.add_argument("--threads", type=checked(COUNT, "--threads"), default=None, metavar="N",
                   help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they show only on a terminal anyway)")
    if out:
        p.add_argument("--compile", nargs="?", const="inductor", default=None,
                       metavar="BACKEND", help="retraining: run the standalone model through "
                       "torch.compile (backend: inductor unless named) (default: off)")
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--resume", action="store_true", help="continue the run in --out")
        p.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (deletes only files glit wrote there)")


def _data_flags(p: argparse.ArgumentParser, preset: bool = True) -> None:
    keep = _DATA if preset else _DATA[1:]
    add_fields(p, _BASE, skip=_only(_BASE, keep))


def _start(args: argparse.Namespace) -> dict[str, Any]:
    """Check the device, set threads, join torchrun's process group; the run's options.

    Under torchrun every rank runs the command: each gets its own GPU, and only
    rank 0 prints and writes.
    """
    import atexit
    import os
    import sys

    import torch

    from .device import check_device
    from .distributed import init_from_env, is_main, shutdown
    from .imagenet import LoaderSettings

    check_device(args.device)
    _check_backend(getattr(args, "compile", None))
    args.device = init_from_env(args.device)
    atexit.register(shutdown)
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet = args.quiet or not is_main()
    if not is_main():
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    gpu = args.device.startswith("cuda")
    workers = args.workers if args.workers is not None else (8 if gpu else 0)
    loader = LoaderSettings(workers=workers, pin_memory=gpu,
                            persistent_workers=workers > 0,
                            prefetch_factor=args.prefetch_factor, cache=args.cache_heldout)
    run = {"device": args.device, "progress": False if quiet else None,
           "precision": args.precision, "loader": loader}
    return run | ({"compile": args.compile} if getattr(args, "compile", None) else {})


def _check_backend(name: str | None) -> None:
    """``--compile BACKEND`` must name a torch.compile backend, before any training."""
    import torch

    if name is None:
        return
    known = torch.compiler.list_backends(exclude_tags=())
    if name not in known:
        raise ConfigError(f"--compile {name!r} is not a torch.compile backend here; use "
                          f"inductor (the default) or one of {', '.join(sorted(known)[:6])}, ...")


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


# -- glit search -----------------------------------------------------------------
_EVO_SKIP = ("max_macs", "seed")
_SUP_SKIP = ("seed", "min_macs", "max_macs", "model_ema_decay", "drop_path")
_RET_SKIP = ("seed", "min_macs", "max_macs", "macs_bins")


def _search_args(p: argparse.ArgumentParser) -> None:
    _data_flags(p)
    p.add_argument("--config", default=None,
                   help="a config.json written by glit search: repeat that run exactly "
                        "(flags given as well override it)")
    add_fields(p, _BASE, skip=_DATA + ("supernet", "evolution", "retrain"))
    add_fields(p, _BASE.evolution, skip=_EVO_SKIP)
    add_fields(p, _BASE.supernet, "supernet-", skip=_SUP_SKIP)
    add_fields(p, _BASE.retrain, "retrain-", skip=_RET_SKIP)
    _run_flags(p)


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The run ``glit search`` means: a saved config or the defaults, then the flags."""
    from .io import read_json

    if args.config:
        base = SearchConfig.from_dict(read_json(args.config, "config file"),
                                      f"config file {args.config}")
    else:
        base = _BASE
        if getattr(args, "dataset", None) == "cifar10" and not explicit(args, "space"):
            base = replace(base, space="cifar")
    base = _run_preset(args) or base
    cfg = apply_fields(args, base)
    return replace(cfg, evolution=apply_fields(args, cfg.evolution, "", _EVO_SKIP),
                   supernet=apply_fields(args, cfg.supernet, "supernet-", _SUP_SKIP),
                   retrain=apply_fields(args, cfg.retrain, "retrain-", _RET_SKIP))


def _run_preset(args: argparse.Namespace) -> SearchConfig | None:
    """The paper's ImageNet settings when ``--preset imagenet-*`` was given (else None).

    Batch sizes typed on the command line keep the preset's epochs and scale its
    learning rates; every other flag then overrides the preset as usual.
    """
    if not (explicit(args, "space") and args.space in RUN_PRESETS):
        return None
    batches = {key: getattr(args, flag) for key, flag in
               (("supernet_batch", "supernet_batch_size"),
                ("retrain_batch", "retrain_batch_size"), ("retrain_batch", "batch_size"))
               if hasattr(args, flag)}
    preset = imagenet_preset(args.space, **batches)
    del args.space  # the preset names its space
    return preset


@command("search", "the whole search: stage 1 and stage 2 (or one stage), each supernet -> "
         "evolution -> retrain the best", _search_args)
def search(args: argparse.Namespace) -> int:
    from .io import read_json
    from .search import run_search

    cfg = search_config(args)
    run = _start(args)
    s = run_search(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                   download=args.download, **run)
    for name, st in s["stages"].items():
        t = read_json(Path(args.out) / name / "timings.json", "timings")
        secs = ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in t.items())
        rk = st["ranking"]
        tau = ("Kendall tau n/a (too few distinct scores)" if rk["kendall_tau"] is None else
               f"Kendall tau {rk['kendall_tau']} {rk['kendall_tau_ci95']}")
        print(f"{name}: {st['strategy']}, {st['evaluated']} candidates of "
              f"{st['path_space_size']:,} -> distribution {st['best']['distribution']}, "
              f"held-out {_pct(st['best']['val_accuracy'])} ({secs}); supernet ranking over "
              f"{rk['candidates']} retrained: {tau}, precision@{rk['k']} "
              f"{rk['precision_at_k']}")
    print(f"found: {s['macs']:,} MACs, {s['params']:,} params, held-out "
          f"{_pct(s['val_accuracy'])}, test {_pct(s['test_accuracy'])}")
    print(f"wrote {Path(args.out) / 'arch.json'} (glit info --arch "
          f"{Path(args.out) / 'arch.json'})")
    return 0


# -- step commands: one config.json each ------------------------------------------
def _open(args: argparse.Namespace, config: dict[str, Any], inputs: list[str]):
    """The locked output folder with ``config.json`` checked (resume) and written."""
    from .search import open_run, save_settings

    run = open_run(args.out, args.resume, args.overwrite, tuple(inputs))
    try:
        save_settings(run.path, config, args.resume)
    except BaseException:
        run.close()
        raise
    return run


def _same_data(args: argparse.Namespace, data: dict[str, Any] | None,
               source: str) -> dict[str, Any]:
    """The split a file was made on; a different one typed by the user is refused.

    Files written before glitlib recorded their data need the user to say it: the
    ``--seed`` (and ``--dataset``/``--data``) they were made with.
    """
    if not data:
        if not explicit(args, "seed"):
            raise ConfigError(f"{source} does not record the data split it was made on (an "
                              "older glitlib wrote it); pass the --seed (and --dataset/--data) "
                              "it was made with")
        return {k: getattr(args, k, getattr(_BASE, k)) for k in _DATA[1:]}
    for key, flag in (("seed", "--seed"), ("dataset", "--dataset"), ("data_dir", "--data")):
        if explicit(args, key) and getattr(args, key) != data.get(key):
            raise ConfigError(
                f"{source} was made on dataset {data.get('dataset')!r} split with seed "
                f"{data.get('seed')}; {flag} {getattr(args, key)} would score it on other "
                f"images (its training images among them): drop {flag}")
    return data


def _supernet_args(p: argparse.ArgumentParser) -> None:
    _data_flags(p)
    p.add_argument("--stage", default="1", choices=["1", "2", "joint"],
                   help="1: the distribution; 2: the details of --distribution; joint: "
                        "everything (default: 1)")
    p.add_argument("--distribution", default=None,
                   help="global heads per block for --stage 2, e.g. 3,0,1,3")
    add_fields(p, _BASE, skip=_only(_BASE, ("sampling_prior",)))
    add_fields(p, _BASE.supernet, skip=("seed", "model_ema_decay", "drop_path"))
    _run_flags(p)


def _paths(args: argparse.Namespace, space, prior: str):
    from .paths import joint, stage1, stage2

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


@command("supernet", "train a SPOS supernet for one stage", _supernet_args)
def supernet(args: argparse.Namespace) -> int:
    from .budget import check_macs_range
    from .search import data_spec, load_splits
    from .train import train_supernet

    cfg = apply_fields(args, _BASE)
    cfg = replace(cfg, supernet=apply_fields(args, cfg.supernet, "", ("seed",))).resolve()
    space = cfg.search_space()
    paths = _paths(args, space, cfg.sampling_prior)
    check_macs_range(paths, cfg.supernet.min_macs, cfg.supernet.max_macs)
    run_kw = _start(args)
    splits = load_splits(cfg, args.device, args.download, run_kw["loader"])
    config = {"command": "supernet", "stage": args.stage, "distribution": args.distribution,
              "search": cfg.to_dict()}
    with _open(args, config, []) as run:
        meta = {"run": fingerprint(config), "data": data_spec(cfg)}
        train_supernet(paths, splits.train, cfg.supernet, run / "supernet.pt", args.resume,
                       args.device, run_kw["progress"], meta=meta,
                       precision=run_kw["precision"])
    print(f"supernet over {paths.size:,} paths trained {cfg.supernet.steps} steps -> "
          f"{Path(args.out) / 'supernet.pt'}")
    return 0


# -- glit evolve -------------------------------------------------------------------
def _evolve_args(p: argparse.ArgumentParser) -> None:
    _data_flags(p)
    p.add_argument("--supernet", required=True, help="supernet.pt written by glit supernet")
    add_fields(p, _BASE, skip=_only(_BASE, ("max_macs", "strategy", "bn_batches",
                                             "bn_batch_size")))
    add_fields(p, EvolutionConfig(), skip=_EVO_SKIP)
    _run_flags(p)


@command("evolve", "evolutionary (or random) search over a trained supernet", _evolve_args)
def evolve_cmd(args: argparse.Namespace) -> int:
    from .arch import load_space
    from .budget import check_macs_range
    from .evaluate import Evaluator
    from .evolution import evolve, random_search
    from .records import best_candidates
    from .search import load_splits
    from .train import load_supernet

    run_kw = _start(args)
    wanted = load_space(args.space) if explicit(args, "space") else None
    net, state = load_supernet(args.supernet, wanted, device=args.device)
    data = _same_data(args, state.get("data"), f"supernet {args.supernet}")
    cfg = apply_fields(args, replace(_BASE, space=net.space.to_dict(), **data))
    cfg = replace(cfg, evolution=apply_fields(args, cfg.evolution, "", _EVO_SKIP)).resolve()
    check_macs_range(net.paths, None, cfg.max_macs)
    splits = load_splits(cfg, args.device, args.download, run_kw["loader"])
    config = {"command": "evolve", "supernet": str(args.supernet), "search": cfg.to_dict()}
    with _open(args, config, [args.supernet]) as run:
        meta = {"run": fingerprint(config), "data": data}
        score = Evaluator(net, splits.train, splits.val, cfg.bn_batches, cfg.bn_batch_size,
                          cfg.seed, precision=run_kw["precision"])
        search = evolve if cfg.strategy == "evolution" else random_search
        found = search(net.paths, score, cfg.evolution, run / "search.json", args.resume,
                       run_kw["progress"], meta=meta)
    best = best_candidates(found, 1)[0]
    print(f"{len(found)} candidates evaluated; best held-out {_pct(best.supernet_accuracy)} "
          f"at {best.macs:,} MACs -> {Path(args.out) / 'search.json'}")
    return 0


# -- glit retrain ------------------------------------------------------------------
def _retrain_args(p: argparse.ArgumentParser) -> None:
    _data_flags(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--search", help="search.json written by glit evolve or glit search")
    src.add_argument("--arch", help="an architecture JSON file (trains just that one)")
    add_fields(p, _BASE, skip=_only(_BASE, ("retrain_candidates",)))
    add_fields(p, _BASE.retrain, skip=_RET_SKIP)
    _run_flags(p)


def _sources(args: argparse.Namespace, base: SearchConfig = _BASE):
    """(space, candidates, data) from --arch or --search; ``base`` fills unset data flags."""
    from .arch import load_arch, load_space
    from .costs import CostModel
    from .evolution import read_search
    from .records import Candidate, best_candidates

    if args.arch:
        wanted = None
        if explicit(args, "space") or base is not _BASE:  # a preset names the space
            wanted = load_space(args.space if explicit(args, "space") else base.space)
        space, arch = load_arch(args.arch, wanted)
        cost = CostModel(space)(arch)
        data = {k: getattr(args, k, getattr(base, k)) for k in _DATA[1:]}
        return space, [Candidate(arch, cost.macs, cost.params, None, -1)], data
    from .arch import get_space

    state, found = read_search(args.search)
    if not found:
        raise ConfigError(f"{args.search} holds no evaluated candidates; run glit evolve")
    space = get_space(state["space"])
    data = _same_data(args, state.get("data"), f"search results {args.search}")
    k = getattr(args, "retrain_candidates", _BASE.retrain_candidates)
    return space, best_candidates(found, k), data


@command("retrain", "train the best candidates from scratch; keep the best by held-out "
         "accuracy", _retrain_args)
def retrain(args: argparse.Namespace) -> int:
    from .io import write_json
    from .records import best_retrained
    from .search import conclude, data_spec, load_splits, retrain_candidates

    run_kw = _start(args)
    base = _run_preset(args) or _BASE
    space, cands, data = _sources(args, base)
    cfg = replace(base, space=space.to_dict(), **data,
                  retrain=apply_fields(args, base.retrain, "", _RET_SKIP)).resolve()
    splits = load_splits(cfg, args.device, args.download, run_kw["loader"])
    config = {"command": "retrain", "source": str(args.search or args.arch),
              "candidates": [c.to_dict() for c in cands], "search": cfg.to_dict()}
    with _open(args, config, [args.search or args.arch]) as run:
        meta = {"run": fingerprint(config), "data": data_spec(cfg)}
        rows = retrain_candidates(space, cands, splits, cfg.retrain, run.path, args.resume,
                                  args.device, run_kw["progress"], meta,
                                  precision=run_kw["precision"],
                                  compile=run_kw.get("compile"))
        best = best_retrained(rows)
        final = conclude(space, best, run.path, splits, run.path, args.device, "retrained")
        write_json(run / "result.json", {**meta, **final,
                                         "retrained": [r.to_dict() for r in rows]})
    print(f"best of {len(rows)}: candidate {best.rank}, held-out "
          f"{_pct(best.val_accuracy)}, test {_pct(final['test_accuracy'])} -> "
          f"{Path(args.out) / 'arch.json'}")
    return 0


# -- glit eval -----------------------------------------------------------------------
def _eval_args(p: argparse.ArgumentParser) -> None:
    _data_flags(p, preset=False)
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
    _run_flags(p, out=False)


@command("eval", "accuracy of a retrained model on one split of its own data, or of "
         "released weights on ImageNet's val images", _eval_args)
def eval_cmd(args: argparse.Namespace) -> int:
    from .evaluate import accuracy
    from .search import load_splits
    from .train import load_model

    run_kw = _start(args)
    if args.weights:
        return _eval_weights(args, run_kw)
    model, state = load_model(args.checkpoint, args.device)
    data = _same_data(args, state.get("data"), f"checkpoint {args.checkpoint}")
    cfg = replace(_BASE, space=state["space"], **data)
    splits = load_splits(cfg, args.device, args.download, run_kw["loader"])
    split = getattr(splits, args.split)
    acc = accuracy(model, split, precision=run_kw["precision"])
    print_result({"checkpoint": str(args.checkpoint), "split": args.split,
                  "accuracy": acc, "images": len(split)}, args.json)
    return 0


def _eval_weights(args: argparse.Namespace, run_kw: dict[str, Any]) -> int:
    """Released weights on ImageNet's official val images (DeiT's eval transform)."""
    from .evaluate import accuracy
    from .imagenet import imagenet_val
    from .weights import from_deit, load_official

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
    val = imagenet_val(args.data_dir, model.space.img_size, run_kw["loader"])
    if val.num_classes != model.space.num_classes:
        raise ConfigError(f"{args.data_dir}/val has {val.num_classes} classes, the model "
                          f"{model.space.num_classes}; give the full ImageNet-1k val/ folder")
    acc = accuracy(model.to(args.device).eval(), val, precision=run_kw["precision"])
    print_result({"weights": str(args.weights), "arch": args.arch, "split": "imagenet val",
                  "accuracy": acc, "images": len(val)}, args.json)
    return 0


# -- glit enumerate ---------------------------------------------------------------
def _parse_ints(text: str, flag: str) -> list[int]:
    """``0-4`` or ``3,7,9`` (or both: ``0-2,5``) as a list of integers."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a list like 0-4 or 3,7,9") from None
    if not out or min(out) < 0:
        raise ConfigError(f"{flag} {text!r}: give non-negative integers, like 0-4 or 3,7,9")
    return sorted(set(out))


def _enumerate_args(p: argparse.ArgumentParser) -> None:
    _data_flags(p)
    p.add_argument("--config", default=None,
                   help="a config.json written by glit search or glit enumerate")
    add_fields(p, _BASE, skip=_DATA + ("supernet", "evolution", "retrain"))
    add_fields(p, _BASE.evolution, skip=_EVO_SKIP)
    add_fields(p, _BASE.supernet, "supernet-", skip=_SUP_SKIP)
    add_fields(p, _BASE.retrain, "retrain-", skip=_RET_SKIP)
    p.add_argument("--seeds", default="0-4",
                   help="supernet seeds to replay the search with (default: 0-4)")
    p.add_argument("--only", default=None,
                   help="train and score only these networks (indices, e.g. 3,7): a cheap "
                        "sample of the full run")
    _run_flags(p, out=False)
    p.add_argument("--out", required=True, help="output folder (a stopped run continues)")


@command("enumerate", "train every network of a small space alone, and replay the search "
         "on that table: how close does it get to the best?", _enumerate_args)
def enumerate_cmd(args: argparse.Namespace) -> int:
    from .exhaustive import run_enumeration

    seeds = _parse_ints(args.seeds, "--seeds")
    only = _parse_ints(args.only, "--only") if args.only else None
    run_kw = _start(args)
    s = run_enumeration(search_config(args), args.out, seeds, only, args.device,
                        run_kw["progress"])
    if only is not None:
        for i, acc in s["trained"].items():
            print(f"network {i}: held-out {_pct(acc)}")
        return 0
    b = s["best"]
    print(f"{s['networks']} networks trained; the best, network {b['index']}: held-out "
          f"{_pct(b['val_accuracy'])} (one standard error: {100 * s['tie']:.2f} points)")
    for r in s["seeds"]:
        h, one = r["hierarchical"], r["single_stage"]
        print(f"seed {r['supernet_seed']}: Kendall tau {r['kendall_tau']:+.2f}; two stages "
              f"find network {h['index']} (rank {h['rank']}, {h['gap_images']} images "
              f"behind); one stage: network {one['index']} (rank {one['rank']})")
    print(f"check: Kendall tau of {s['check']['steps']} steps vs half / twice: "
          f"{s['check']['kendall_tau_vs_recipe']}; {s['seconds']:.0f} s of training")
    return 0


# -- glit ablate ---------------------------------------------------------------------
def _ablate_args(p: argparse.ArgumentParser) -> None:
    from .ablations import METHODS

    p.add_argument("--seeds", default="0-4",
                   help="seeds, a range (0-4) or a list (0,2,5) (default: 0-4)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"search methods to compare (default: {','.join(METHODS)})")
    _run_flags(p, out=False)
    p.add_argument("--out", required=True, help="output folder; run the same command "
                   "again to continue an interrupted ablation where it stopped")


@command("ablate", "the book's ablations on digits: search methods on equal compute, "
         "recipe length, distribution-only search, ways to add locality", _ablate_args)
def ablate(args: argparse.Namespace) -> int:
    from .ablations import METHODS, collect

    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown method {unknown[0] if unknown else ''!r}; "
                          f"choose from {','.join(METHODS)}")
    seeds = _parse_ints(args.seeds, "--seeds")
    run_kw = _start(args)
    result = collect(args.out, seeds, methods, progress=run_kw["progress"])
    print(f"{len(result['methods'])} searches, {len(result['recipe'])} longer retrainings, "
          f"{len(result['distribution']) + len(result['locality'])} networks retrained -> "
          f"{Path(args.out) / 'ablations.json'}")
    return 0
