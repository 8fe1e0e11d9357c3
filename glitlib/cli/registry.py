"""The commands of ``glit``: each module of ``glitlib.cli`` registers its own here."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["COMMANDS", "command"]

AddArgs = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

# name -> (help, add arguments, run)
COMMANDS: dict[str, tuple[str, AddArgs, Run]] = {}


def command(name: str, help: str, add_args: AddArgs) -> Callable[[Run], Run]:
    """Register ``run(args) -> exit code`` as ``glit NAME``."""
    def deco(run: Run) -> Run:
        COMMANDS[name] = (help, add_args, run)
        return run
    return deco
