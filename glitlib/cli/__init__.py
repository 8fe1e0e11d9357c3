"""The ``glit`` command: its parser, the flags built from the configs, one module per group
of commands (info, search, the steps of a search, the book's studies)."""

from .app import main, parser

__all__ = ["main", "parser"]
