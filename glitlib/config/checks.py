"""How a setting is declared and checked: its range, its help, its flag, one pass of checks.

Each field of a config dataclass carries its help text, its range (a :class:`Check`)
or its choices, and optionally its command-line flag name (:func:`setting`). The CLI
builds its flags from the same fields (:mod:`glitlib.cli.flags`), so a flag and a field
cannot disagree; :func:`validate` checks a whole config, nested configs included, and
raises one :class:`~glitlib.errors.ConfigError` naming the field, the bad value and the
allowed values, before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["Check", "setting", "validate", "from_dict", "fingerprint", "BIG", "COUNT",
           "COUNT0", "RATE", "NONNEG", "FRACTION", "PROB", "SEED", "MACS", "THREADS"]


@dataclass(frozen=True)
class Check:
    """The values a numeric setting may take: a type and an interval."""

    kind: type = int
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False  # None allowed (means: resolve to a default)

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:  # the cap too: 1e30 says why
            rng = (f" in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}"
                   f"{')' if self.hi_open else ']'}")
        elif self.lo is not None:
            rng = f" {'>' if self.lo_open else '>='} {self.lo:g}"
        else:
            rng = ""
        return what + rng

    def ok(self, v: Any) -> bool:
        if v is None:
            return self.optional
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if self.kind is int and not isinstance(v, int):
            return False
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return self.hi is None or (v < self.hi or (not self.hi_open and v == self.hi))


BIG = 10**12  # an upper bound only to refuse absurd values (and inf) with a message
COUNT = Check(int, 1, BIG)
COUNT0 = Check(int, 0, BIG)
RATE = Check(float, 0, 10, lo_open=True)
NONNEG = Check(float, 0, 1e6)
FRACTION = Check(float, 0, 1, hi_open=True)
PROB = Check(float, 0, 1)
SEED = Check(int, 0, 2**31 - 1)
THREADS = Check(int, 1, 4096)
MACS = Check(int, 1, BIG, optional=True)


def setting(default: Any, help: str, check: Check | None = None, *,
            choices: Sequence[Any] | None = None, flag: str | None = None) -> Any:
    """A config field: its default, help text, range or choices, and flag name."""
    meta: dict[str, Any] = {"help": help, "flag": flag}
    if check is not None:
        meta["check"] = check
    if choices is not None:
        meta["choices"] = tuple(choices)
    return field(default=default, metadata=meta)


def validate(cfg: Any, where: str = "") -> None:
    """Check every field of a config, nested configs too, then its own cross-checks.

    Raises one :class:`~glitlib.errors.ConfigError` naming the field, value and range.
    A config class may define ``check(prefix)`` for rules that tie fields together.
    """
    prefix = f"{where}: " if where else ""
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        kind = f.default_factory if f.default_factory is not MISSING else None
        if kind is not None and is_dataclass(kind):
            if not isinstance(v, kind):
                raise ConfigError(f"{prefix}{f.name} must be a {kind.__name__}, got "
                                  f"{type(v).__name__}")
            validate(v, f"{where}: {f.name}" if where else f.name)
            continue
        check, choices = f.metadata.get("check"), f.metadata.get("choices")
        if check is not None and not check.ok(v):
            raise ConfigError(f"{prefix}{f.name} must be {check.describe()}, got {v!r}")
        if choices is not None and v not in choices:
            raise ConfigError(f"{prefix}{f.name} must be one of {list(choices)}, got {v!r}")
    if hasattr(cfg, "check"):
        cfg.check(prefix)


def from_dict(cls: type, d: Any, where: str, complete: bool = False) -> Any:
    """``cls(**d)``, refusing anything but an object of known fields (nested too).

    ``complete``: every field must be there (a file glit wrote holds them all; one
    missing is a damaged or hand-cut file, not "use the default").
    """
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected an object, got {type(d).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}; known settings are "
                          f"{sorted(known)}")
    missing = sorted(set(known) - set(d)) if complete else []
    if missing:
        raise ConfigError(f"{where}: missing setting {missing[0]!r}; a config.json that glit "
                          "wrote holds every setting: give that file, unedited")
    values = dict(d)
    for name, f in known.items():
        sub = f.default_factory if f.default_factory is not MISSING else None
        if name in values and sub is not None and is_dataclass(sub):
            values[name] = from_dict(sub, values[name], f"{where}: {name}", complete)
    return cls(**values)


def fingerprint(obj: Any) -> str:
    """A short stable hash of JSON-able settings: which run a file belongs to."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
