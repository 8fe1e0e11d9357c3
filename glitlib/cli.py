"""The ``glit`` command line (also ``python -m glitlib``).

Only the library's own errors (:class:`~glitlib.errors.GlitError`) and
operating-system faults become one line on stderr and exit 2; anything else is
a bug and keeps its traceback. Bad flags are refused by the parser, with the
valid range, before anything runs. Flags are built from the config dataclasses
(:mod:`glitlib.config`), so a flag, its default and its range cannot disagree
with the library. Nothing heavy (torch) is imported until a command runs, so
``glit --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass, replace
from typing import Any

from ._version import __version__
from .config import Check
from .errors import GlitError

__all__ = ["main", "COMMANDS", "add_fields", "apply_fields", "checked", "explicit",
           "print_result"]


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: ``glit CMD: error: ...`` and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


# name -> (help, add arguments, run). search_cli adds its commands here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str, add_args: Callable[[argparse.ArgumentParser], None]):
    """Register ``run(args) -> exit code`` as ``glit NAME``."""
    def deco(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (help, add_args, run)
        return run
    return deco


# -- flags from config fields ---------------------------------------------------
def checked(check: Check, flag: str) -> Callable[[str], Any]:
    """An argparse ``type`` that parses a number and refuses it outside ``check``."""
    def parse(text: str) -> Any:
        value: Any
        try:
            value = int(text) if check.kind is int else float(text)
        except ValueError:
            try:
                as_float = float(text)
                value = int(as_float) if check.kind is int and as_float.is_integer() else None
            except (ValueError, OverflowError):
                value = None
        if value is None or not check.ok(value):
            raise argparse.ArgumentTypeError(f"must be {check.describe()}, got {text!r}")
        return value
    parse.__name__ = flag
    return parse


def add_fields(p: argparse.ArgumentParser, instance: Any, prefix: str = "",
               skip: Sequence[str] = ()) -> None:
    """One flag per field of a config dataclass: ``--{prefix}{flag or name}``.

    Defaults are shown but not set (``SUPPRESS``), so :func:`apply_fields` sees
    only what the user typed and a config file can supply the rest.
    """
    for f in fields(instance):
        value = getattr(instance, f.name)
        if f.name in skip or is_dataclass(value):
            continue
        name = (f.metadata.get("flag") or f.name).replace("_", "-")
        flag, dest = f"--{prefix}{name}", f"{prefix.replace('-', '_')}{f.name}"
        shown = "auto" if value is None else value
        help_text = f"{f.metadata.get('help', '')} (default: {shown})"
        kw: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text}
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif "check" in f.metadata:
            check = f.metadata["check"]
            p.add_argument(flag, type=checked(check, flag),
                           metavar="N" if check.kind is int else "X", **kw)
        elif "choices" in f.metadata:
            choices = f.metadata["choices"]
            p.add_argument(flag, type=type(choices[0]), choices=choices, **kw)
        else:
            p.add_argument(flag, **kw)


def apply_fields(args: argparse.Namespace, instance: Any, prefix: str = "",
                 skip: Sequence[str] = ()) -> Any:
    """``instance`` with every field the user gave on the command line replaced.

    ``skip``: fields whose flag belongs to another config (e.g. the top-level ``--seed``).
    """
    dest = prefix.replace("-", "_")
    given = {f.name: getattr(args, f"{dest}{f.name}") for f in fields(instance)
             if f.name not in skip and not is_dataclass(getattr(instance, f.name))
             and hasattr(args, f"{dest}{f.name}")}
    return replace(instance, **given)


def explicit(args: argparse.Namespace, name: str) -> bool:
    """Whether the user typed this flag (flags built by :func:`add_fields` default to absent)."""
    return hasattr(args, name)


# -- glit info ------------------------------------------------------------------
def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="search space: a preset (tiny, small, base, cifar, digits) or a JSON "
                        "file (default: the architecture's own, else tiny)")
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
    from .arch import load_arch, load_space
    from .costs import count, reference_formula_macs, space_sizes

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


def print_result(out: dict[str, Any], as_json: bool) -> None:
    """One JSON object, or an aligned table for people."""
    if as_json:
        print(json.dumps(out))
        return
    width = max(len(k) for k in out)
    for key, value in out.items():
        if isinstance(value, int) and not isinstance(value, bool):
            shown = f"{value:,} ({_fmt(value)})"
        elif isinstance(value, float):
            shown = f"{100 * value:.2f}%" if "accuracy" in key else f"{value:g}"
        else:
            shown = value
        print(f"{key:<{width}}  {shown}")


# -- the program -----------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    from . import search_cli  # noqa: F401  (registers the commands)

    parser = _Parser(prog="glit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"glit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text,
                                formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    name = f"glit {args.command}"
    try:
        return COMMANDS[args.command][2](args)
    except GlitError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine, not the program: disk full, permissions, ...
        where = f" {err.filename}" if err.filename else ""
        print(f"{name}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
