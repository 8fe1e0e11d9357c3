"""``glit search``: the whole search, from flags or a saved ``config.json``."""

from __future__ import annotations

import argparse
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

from ..config.presets import RUN_PRESETS, imagenet_preset
from ..config.search import SearchConfig
from .flags import add_fields, apply_fields, explicit, group
from .registry import command
from .shared import BASE, DATA, data_flags, pct, run_flags, start

__all__ = ["search", "search_flags", "search_config", "NESTED"]

# The nested recipes of a SearchConfig, the prefix of their flags, their --help group.
NESTED = {"evolution": "", "supernet": "supernet-", "retrain": "retrain-"}
TITLES = {"evolution": "search", "supernet": "supernet training",
          "retrain": "retraining (the candidates, from scratch)"}


def search_flags(p: argparse.ArgumentParser) -> None:
    """Every setting of a search as a flag, ``--config`` to start from a saved run."""
    data_flags(p)
    group(p, "search").add_argument(
        "--config", default=None, help="a config.json written by glit search: repeat that "
        "run exactly (flags given as well override it)")
    top = [f.name for f in fields(BASE) if f.name not in DATA
           and not is_dataclass(getattr(BASE, f.name))]
    add_fields(p, BASE, only=top, title="search")
    for name, prefix in NESTED.items():
        add_fields(p, getattr(BASE, name), prefix, title=TITLES[name])


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The run the flags mean: a saved config or the defaults, then the flags."""
    from ..runtime.files import read_json

    if args.config:
        base = SearchConfig.from_dict(read_json(args.config, "config file"),
                                      f"config file {args.config}")
    else:
        base = BASE
        own = {"cifar10": "cifar", "bands": "bands"}.get(getattr(args, "dataset", ""))
        if own and not explicit(args, "space"):
            base = replace(base, space=own)  # the dataset's own preset
    base = run_preset(args) or base
    cfg = apply_fields(args, base)
    return replace(cfg, **{name: apply_fields(args, getattr(cfg, name), prefix)
                           for name, prefix in NESTED.items()})


def run_preset(args: argparse.Namespace) -> SearchConfig | None:
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


def _ranking(rk: dict) -> str:
    """A stage's ranking diagnostics in words: plain tau-b and Spearman with p-values,
    the tie-aware tau with its 95 % bootstrap interval, precision@k both ways."""
    if rk["kendall_tau_b"] is None:
        return "n/a (too few distinct scores)"
    return (f"Kendall tau-b {rk['kendall_tau_b']} (p {rk['kendall_p']}), Spearman "
            f"{rk['spearman']} (p {rk['spearman_p']}); tie-aware tau {rk['kendall_tau']}, "
            f"95 % interval {rk['kendall_tau_ci95']}; precision@{rk['k']} "
            f"{rk['precision_at_k_strict']} (with ties {rk['precision_at_k']})")


def _search_args(p: argparse.ArgumentParser) -> None:
    search_flags(p)
    run_flags(p)


def _seconds(path: Path) -> str:
    """A stage's timings for the closing line; a file of another shape is named, not used."""
    from ..runtime.files import read_json

    t = read_json(path, "timings")
    if not isinstance(t, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in t.values()):
        return f"{path} is damaged: timings not shown"
    return ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in t.items())


@command("search", "the whole search: stage 1 and stage 2 (or one stage), each supernet -> "
         "evolution -> retrain the best", _search_args)
def search(args: argparse.Namespace) -> int:
    from ..nas.pipeline import run_search
    cfg = search_config(args)
    rt = start(args)
    s = run_search(cfg, args.out, resume=args.resume, overwrite=args.overwrite, rt=rt,
                   download=args.download)
    for name, st in s["stages"].items():
        secs = _seconds(Path(args.out) / name / "timings.json")
        print(f"{name}: {st['strategy']}, {st['evaluated']} candidates of "
              f"{st['path_space_size']:,} -> distribution {st['best']['distribution']}, "
              f"held-out {pct(st['best']['val_accuracy'])} ({secs}); supernet ranking over "
              f"{st['ranking']['candidates']} retrained: {_ranking(st['ranking'])}")
    print(f"found: {s['macs']:,} MACs, {s['params']:,} params, held-out "
          f"{pct(s['val_accuracy'])}, test {pct(s['test_accuracy'])}")
    print(f"wrote {Path(args.out) / 'arch.json'} (glit info --arch "
          f"{Path(args.out) / 'arch.json'})")
    return 0
