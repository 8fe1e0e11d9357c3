"""The ``glit`` command line (also ``python -m glitlib``).

Every known failure (bad architecture, bad file, bad data) becomes one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from .arch import ArchitectureError, get_space, load_arch
from .costs import count, reference_formula_macs, space_sizes

__all__ = ["main", "UserError", "COMMANDS"]


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


# name -> (add arguments, run). Other modules add their commands here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str, add_args: Callable[[argparse.ArgumentParser], None]):
    """Register ``run(args) -> exit code`` as ``glit NAME``."""
    def deco(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (help, add_args, run)
        return run
    return deco


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default=None,
                   help="search space preset: tiny, small, base, digits (default: the "
                        "architecture's own, else tiny)")
    p.add_argument("--arch", default=None,
                   help="a named architecture (glit-tiny, deit-tiny, ...) or a JSON file")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _fmt(n: int) -> str:
    if abs(n) >= 10**13:
        return f"{n:.3e}"
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}"
    return str(n)


@command("info", "params, MACs and search-space sizes", _info_args)
def info(args: argparse.Namespace) -> int:
    space = get_space(args.space) if args.space else None
    if args.arch is None:
        space = space or get_space("tiny")
        out = {"space": space.name, **space_sizes(space)}
    else:
        space, arch = load_arch(args.arch, space)
        cost = count(space, arch)
        out = {
            "space": space.name, "arch": arch.name or args.arch,
            "params": cost.params, "macs": cost.macs,
            "macs_reference_formula": reference_formula_macs(space, arch),
            "distribution": list(arch.distribution),
            **space_sizes(space, arch.distribution),
        }
    if args.json:
        print(json.dumps(out))
    else:
        width = max(len(k) for k in out)
        for key, value in out.items():
            shown = f"{value:,} ({_fmt(value)})" if isinstance(value, int) else value
            print(f"{key:<{width}}  {shown}")
    return 0


def _parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(prog="glit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _load_plugins() -> None:
    from . import search_cli  # noqa: F401  (registers supernet/evolve/retrain/eval/search)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except (ArchitectureError, UserError, ValueError, FileNotFoundError) as err:
        print(f"glit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glit {args.command}: interrupted; rerun with --resume to continue",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
