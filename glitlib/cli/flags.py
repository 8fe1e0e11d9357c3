"""Flags built from config fields, so a flag, its default and its range cannot disagree.

:func:`add_fields` adds one flag per field of a config dataclass; defaults are shown
but not set, so :func:`apply_fields` sees only what the user typed and a config file
can supply the rest. Every numeric flag parses through :func:`checked`, which refuses
a value outside the field's range with one line; each is recorded in
``NUMERIC_FLAGS``, the public table of every numeric flag and its range.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import fields, is_dataclass, replace
from typing import Any

from ..config.checks import Check

__all__ = ["NUMERIC_FLAGS", "checked", "group", "add_fields", "apply_fields", "explicit",
           "print_result", "fmt_count"]

# (command, flag, range) for every numeric flag of every command, as the parser is built.
NUMERIC_FLAGS: dict[tuple[str, str], Check] = {}


class _Checked:
    """An argparse ``type`` that parses a number and refuses it outside ``check``."""

    def __init__(self, check: Check, flag: str):
        self.check, self.flag, self.__name__ = check, flag, flag

    def __call__(self, text: str) -> Any:
        value: Any
        try:
            value = int(text) if self.check.kind is int else float(text)
        except ValueError:
            try:
                as_float = float(text)
                is_whole = self.check.kind is int and as_float.is_integer()
                value = int(as_float) if is_whole else None
            except (ValueError, OverflowError):
                value = None
        if value is None or not self.check.ok(value):
            raise argparse.ArgumentTypeError(f"must be {self.check.describe()}, got {text!r}")
        return value


def checked(p: argparse.ArgumentParser, check: Check, flag: str) -> _Checked:
    """The parser of a numeric flag of ``p``, recorded in ``NUMERIC_FLAGS``."""
    NUMERIC_FLAGS[(p.prog.removeprefix("glit ").strip(), flag)] = check
    return _Checked(check, flag)


def group(p: argparse.ArgumentParser, title: str) -> Any:
    """The argument group ``title`` of ``p`` (made once), so ``--help`` reads by topic."""
    for g in p._action_groups:
        if g.title == title:
            return g
    return p.add_argument_group(title)


def add_fields(p: argparse.ArgumentParser, instance: Any, prefix: str = "",
               only: Sequence[str] | None = None, title: str = "settings") -> None:
    """One flag per field of a config dataclass: ``--{prefix}{flag or name}``, in the
    ``--help`` group ``title``.

    Nested configs are left to their own call (with their own prefix); ``only`` limits
    the flags to those fields. Defaults are shown once (in the text when it names
    them, else appended) but not set (``SUPPRESS``).
    """
    g = group(p, title)
    for f in fields(instance):
        value = getattr(instance, f.name)
        if is_dataclass(value) or (only is not None and f.name not in only):
            continue
        name = (f.metadata.get("flag") or f.name).replace("_", "-")
        flag, dest = f"--{prefix}{name}", f"{prefix.replace('-', '_')}{f.name}"
        shown = value if value is not None else "auto" if "check" in f.metadata else "none"
        text = f.metadata.get("help", "")
        help_text = text if "default:" in text else f"{text} (default: {shown})"
        kw: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text}
        if isinstance(value, bool):
            g.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif "check" in f.metadata:
            check = f.metadata["check"]
            g.add_argument(flag, type=checked(p, check, flag),
                           metavar="N" if check.kind is int else "X", **kw)
        elif "choices" in f.metadata:
            choices = f.metadata["choices"]
            g.add_argument(flag, type=type(choices[0]), choices=choices, **kw)
        else:
            g.add_argument(flag, **kw)


def apply_fields(args: argparse.Namespace, instance: Any, prefix: str = "") -> Any:
    """``instance`` with every field the user gave on the command line replaced."""
    dest = prefix.replace("-", "_")
    given = {f.name: getattr(args, f"{dest}{f.name}") for f in fields(instance)
             if not is_dataclass(getattr(instance, f.name))
             and hasattr(args, f"{dest}{f.name}")}
    return replace(instance, **given)


def explicit(args: argparse.Namespace, name: str) -> bool:
    """Whether the user typed this flag (flags built by :func:`add_fields` default to absent)."""
    return hasattr(args, name)


def fmt_count(n: int) -> str:
    """``1472873280`` as ``1.473G``: a count for people."""
    if abs(n) >= 10**13:
        return f"{n:.3e}"
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}"
    return str(n)


def print_result(out: dict[str, Any], as_json: bool) -> None:
    """One JSON object, or an aligned table for people."""
    if as_json:
        print(json.dumps(out))
        return
    width = max(len(k) for k in out)
    for key, value in out.items():
        if isinstance(value, int) and not isinstance(value, bool):
            shown = f"{value:,} ({fmt_count(value)})"
        elif isinstance(value, float):
            shown = f"{100 * value:.2f}%" if "accuracy" in key else f"{value:g}"
        else:
            shown = value
        print(f"{key:<{width}}  {shown}")

