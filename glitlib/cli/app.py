"""The ``glit`` command line (also ``python -m glitlib``): the parser and the error rule.

Only the library's own errors (:class:`~glitlib.errors.GlitError`) and
operating-system faults become one line on stderr and exit 2; anything else is
a bug and keeps its traceback. Bad flags are refused by the parser, with the
valid range, before anything runs. Nothing heavy (torch) is imported until a
command runs, so ``glit --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import GlitError
from ..runtime.ranks import stalled
from . import info, search, steps, studies  # noqa: F401  (each registers its commands)
from .registry import COMMANDS

__all__ = ["main", "parser"]


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: ``glit CMD: error: ...`` and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The whole ``glit`` parser: one subcommand per registered command."""
    p = _Parser(prog="glit", description="GLiT, the global-local image transformer, and "
                "the search that finds it")
    p.add_argument("--version", action="version", version=f"glit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text,
                                formatter_class=argparse.RawDescriptionHelpFormatter))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
    except RuntimeError as err:  # a collective that another rank never joined
        line = stalled(err)
        if line is None:
            raise
        print(f"{name}: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
