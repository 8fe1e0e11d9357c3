"""The book's studies as commands: ``glit enumerate`` (a small space trained whole) and
``glit ablate`` (the ablations over seeds)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from .registry import command
from .search import search_flags
from .shared import pct, run_flags, start

__all__ = ["parse_ints", "enumerate_cmd", "ablate"]


MAX_LIST = 1000  # seeds or networks one command takes


def parse_ints(text: str, flag: str) -> list[int]:
    """``0-4`` or ``3,7,9`` (or both: ``0-2,5``) as a sorted list of distinct integers.

    A number named twice, a range backwards or more than ``MAX_LIST`` numbers
    (each one a training run) are refused before anything is expanded.
    """
    ranges: list[tuple[int, int]] = []
    try:
        for part in text.split(","):
            lo, dash, hi = part.strip().partition("-")
            ranges.append((int(lo), int(hi) if dash else int(lo)))  # "0-" is no range
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a list like 0-4 or 3,7,9") from None
    if any(lo < 0 or hi < lo for lo, hi in ranges):
        raise ConfigError(f"{flag} {text!r}: give non-negative integers and ranges low-high, "
                          "like 0-4 or 3,7,9")
    total = sum(hi - lo + 1 for lo, hi in ranges)
    if total > MAX_LIST:
        raise ConfigError(f"{flag} {text!r} names {total:,} numbers; give at most "
                          f"{MAX_LIST:,}")
    out = [n for lo, hi in ranges for n in range(lo, hi + 1)]
    twice = sorted({n for n in out if out.count(n) > 1})
    if twice:
        raise ConfigError(f"{flag} {text!r} names {twice[0]} more than once; give each once")
    return sorted(out)


def _enumerate_args(p: argparse.ArgumentParser) -> None:
    search_flags(p)
    p.add_argument("--train-seeds", default="0-2",
                   help="training seeds of every network: its truth is the mean over them "
                        "(default: 0-2)")
    p.add_argument("--seeds", default="0-19",
                   help="supernet seeds to replay the searches with (default: 0-19)")
    p.add_argument("--only", default=None,
                   help="train and score only these networks (indices, e.g. 3,7): a cheap "
                        "sample of the full run")
    run_flags(p, out=False)
    p.add_argument("--out", required=True, help="output folder (a stopped run continues)")


@command("enumerate", "train every network of a small space alone with several seeds (the "
         "truth), and replay the searches on it: how close do they get to the best?",
         _enumerate_args)
def enumerate_cmd(args: argparse.Namespace) -> int:
    from ..studies.replays import replay_table
    from ..studies.truth import build_truth
    from .flags import explicit
    from .search import search_config

    if explicit(args, "sampling_prior"):
        raise ConfigError("glit enumerate replays the single-stage search under both "
                          "sampling priors (the stages of two do not depend on it); drop "
                          "--sampling-prior")
    train_seeds = parse_ints(args.train_seeds, "--train-seeds")
    seeds = parse_ints(args.seeds, "--seeds")
    only = parse_ints(args.only, "--only") if args.only is not None else None
    cfg = search_config(args).resolve()
    rt = start(args)
    truth = build_truth(cfg, args.out, train_seeds, only, rt)
    if only is not None:
        for i, accs in truth["trained"].items():
            print(f"network {i}: held-out " + ", ".join(pct(a) for a in accs))
        return 0
    best = max(truth["networks"], key=lambda n: n["test_mean"])
    ceiling = truth["noise_ceiling"]["test"]
    print(f"{len(truth['networks'])} networks x {len(train_seeds)} training seeds; the best "
          f"by mean test accuracy: network {best['index']} ({pct(best['test_mean'])}); "
          f"noise ceiling: Kendall tau-b {ceiling['kendall_tau_b']}, Spearman "
          f"{ceiling['spearman']}")
    replays = replay_table(truth, cfg, args.out, seeds, rt)["summary"]
    for name, m in replays["methods"].items():
        print(f"{name:22s} regret {m['mean_regret']:.2f} points {m['ci95']} (95 % interval), "
              f"found the best with {m['found_best']} of {m['seeds']} seeds")
    return 0


def _ablate_args(p: argparse.ArgumentParser) -> None:
    from ..studies.ablations import METHODS

    p.add_argument("--seeds", default="0-4",
                   help="seeds, a range (0-4) or a list (0,2,5) (default: 0-4)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"search methods to compare (default: {','.join(METHODS)})")
    p.add_argument("--convergence", action="store_true",
                   help="instead of the four studies: the all-global network and seed "
                   "0's distribution with each kind of local heads, on seed 0's split, "
                   "retrained at --steps with each of --train-seeds (convergence.json)")
    p.add_argument("--steps", default="300,600,1200",
                   help="--convergence: recipe lengths (default: 300,600,1200)")
    p.add_argument("--train-seeds", default="0-2",
                   help="--convergence: training seeds (default: 0-2)")
    run_flags(p, out=False)
    p.add_argument("--out", required=True, help="output folder; run the same command "
                   "again to continue an interrupted ablation where it stopped")


@command("ablate", "the book's ablations on digits: search methods on equal compute, "
         "recipe length, distribution-only search, ways to add locality", _ablate_args)
def ablate(args: argparse.Namespace) -> int:
    from ..studies.ablations import METHODS, collect

    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown method {unknown[0] if unknown else ''!r}; "
                          f"choose from {','.join(METHODS)}")
    seeds = parse_ints(args.seeds, "--seeds")
    if args.convergence:
        from ..studies.ablations import run_convergence

        lengths = parse_ints(args.steps, "--steps")
        if lengths[0] < 1:
            raise ConfigError(f"--steps {args.steps!r}: a recipe needs at least 1 step")
        train_seeds = parse_ints(args.train_seeds, "--train-seeds")
        start(args)
        conv = run_convergence(args.out, lengths, train_seeds)
        print(f"{len(conv['rows'])} networks retrained -> "
              f"{Path(args.out) / 'convergence.json'}")
        return 0
    rt = start(args)
    result = collect(args.out, seeds, methods, rt=rt)
    print(f"{len(result['methods'])} searches, {len(result['recipe'])} longer retrainings, "
          f"{len(result['distribution']) + len(result['locality'])} networks retrained -> "
          f"{Path(args.out) / 'ablations.json'}")
    return 0
