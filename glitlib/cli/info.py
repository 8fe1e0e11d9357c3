"""``glit info``: params, MACs and search-space sizes, without training anything."""

from __future__ import annotations

import argparse

from .flags import print_result
from .registry import command

__all__ = ["info"]


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="search space: a preset (tiny, small, base, cifar, digits) or a JSON "
                        "file (default: the architecture's own, else tiny)")
    p.add_argument("--arch", default=None,
                   help="a named architecture (glit-tiny, deit-tiny, ...) or a JSON file")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@command("info", "params, MACs and search-space sizes", _info_args)
def info(args: argparse.Namespace) -> int:
    from ..model.arch import load_arch
    from ..model.costs import count, reference_formula_macs
    from ..model.space import load_space
    from ..nas.paths import space_sizes

    space = load_space(args.preset) if args.preset else None
    if args.arch is None:
        space = space or load_space("tiny")
        out = {"space": space.name, **space_sizes(space)}
    else:
        space, arch = load_arch(args.arch, space)
        cost = count(space, arch)
        out = {
            "space": space.name, "arch": arch.name or args.arch,
            "params": cost.params, "macs": cost.macs,
        }
        if space.local == "conv1d":  # the released code's formula knows Conv1D heads only
            out["macs_reference_formula"] = reference_formula_macs(space, arch)
        out |= {"distribution": list(arch.distribution),
                **space_sizes(space, arch.distribution)}
    print_result(out, args.json)
    return 0
