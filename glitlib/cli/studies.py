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


def parse_ints(text: str, flag: str) -> list[int]:
    """``0-4`` or ``3,7,9`` (or both: ``0-2,5``) as a sorted list of distinct integers."""
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
    search_flags(p)
    p.add_argument("--seeds", default="0-4",
                   help="supernet seeds to replay the search with (default: 0-4)")
    p.add_argument("--only", default=None,
                   help="train and score only these networks (indices, e.g. 3,7): a cheap "
                        "sample of the full run")
    run_flags(p, out=False)
    p.add_argument("--out", required=True, help="output folder (a stopped run continues)")


@command("enumerate", "train every network of a small space alone, and replay the search "
         "on that table: how close does it get to the best?", _enumerate_args)
def enumerate_cmd(args: argparse.Namespace) -> int:
    from ..studies.truth import run_enumeration
    from .search import search_config

    seeds = parse_ints(args.seeds, "--seeds")
    only = parse_ints(args.only, "--only") if args.only else None
    rt = start(args)
    s = run_enumeration(search_config(args), args.out, seeds, only, rt)
    if only is not None:
        for i, acc in s["trained"].items():
            print(f"network {i}: held-out {pct(acc)}")
        return 0
    b = s["best"]
    print(f"{s['networks']} networks trained; the best, network {b['index']}: held-out "
          f"{pct(b['val_accuracy'])} (one standard error: {100 * s['tie']:.2f} points)")
    for r in s["seeds"]:
        h, one = r["hierarchical"], r["single_stage"]
        print(f"seed {r['supernet_seed']}: Kendall tau {r['kendall_tau']:+.2f}; two stages "
              f"find network {h['index']} (rank {h['rank']}, {h['gap_images']} images "
              f"behind); one stage: network {one['index']} (rank {one['rank']})")
    print(f"check: Kendall tau of {s['check']['steps']} steps vs half / twice: "
          f"{s['check']['kendall_tau_vs_recipe']}; {s['seconds']:.0f} s of training")
    return 0


def _ablate_args(p: argparse.ArgumentParser) -> None:
    from ..studies.ablations import METHODS

    p.add_argument("--seeds", default="0-4",
                   help="seeds, a range (0-4) or a list (0,2,5) (default: 0-4)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"search methods to compare (default: {','.join(METHODS)})")
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
    rt = start(args)
    result = collect(args.out, seeds, methods, rt=rt)
    print(f"{len(result['methods'])} searches, {len(result['recipe'])} longer retrainings, "
          f"{len(result['distribution']) + len(result['locality'])} networks retrained -> "
          f"{Path(args.out) / 'ablations.json'}")
    return 0
