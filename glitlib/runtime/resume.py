"""Resuming: continue from a saved file only if it is this run's, else refuse and say why.

Every step of a run saves its result with the settings that identify it (the run's
fingerprint, a step's own settings). A resumed step reads that file back and
continues only when those settings equal its own; otherwise it refuses with one
line naming the settings that differ, never silently recomputing or mixing in
another run's numbers. :func:`saved_result` is that rule, used wherever a step
resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError, GlitError
from .files import read_json, write_json

__all__ = ["changed_keys", "require_same", "saved_result", "save_settings"]

FRESH = "rerun with the same settings, or pass --overwrite to start afresh"


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The dotted names of every setting that differs between two JSON-like values."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            keys += changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")
        return keys
    return [] if old == new else [prefix.rstrip(".") or "value"]


def require_same(saved: Mapping[str, Any], expected: Mapping[str, Any], where: str | Path,
                 error: type[GlitError] = CheckpointError, fix: str = FRESH) -> None:
    """Refuse when ``saved`` differs from ``expected`` in any of ``expected``'s keys."""
    keys = changed_keys({k: saved.get(k) for k in expected}, dict(expected))
    if keys == ["run"]:
        raise error(f"{where} belongs to another run (another fingerprint); {fix}")
    if keys:
        shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
        raise error(f"{where} was written with other settings ({shown}); {fix}")


def saved_result(path: Path, expected: Mapping[str, Any], what: str,
                 resume: bool = True) -> Any | None:
    """The JSON saved at ``path`` when resuming and it belongs to this run, else ``None``.

    ``expected``: the keys that identify the run (``{"run": fingerprint}``, a step's
    settings); a file written with others is refused, never used or overwritten.
    """
    if not resume or not path.exists():
        return None
    saved = read_json(path, what)
    if not isinstance(saved, dict):
        raise CheckpointError(f"{what} {path} is not a JSON object; delete that file and "
                              "rerun with --resume")
    require_same(saved, expected, path)
    return saved


def save_settings(out: Path, settings: dict[str, Any], resume: bool) -> None:
    """Write ``out/config.json``; resumed, the saved settings must equal ``settings``.

    A folder written by another version of glitlib cannot be resumed (its settings
    mean other things); that is refused with the fix, and its results stay readable.
    """
    saved_file = out / "config.json"
    if resume and saved_file.exists():
        old = read_json(saved_file, "run settings")
        if not isinstance(old, dict):
            raise ConfigError(f"{saved_file} is not a JSON object; choose another --out")
        if _writer(old) != _writer(settings):
            raise ConfigError(
                f"{out} holds a run of glit {_writer(old)}, not of glit {_writer(settings)}: "
                "it cannot be resumed by this command; choose another --out")
        if old.get("version") != settings.get("version"):
            raise ConfigError(
                f"{out} was written by another glitlib (config version {old.get('version')}, "
                f"this one writes {settings.get('version')}): it cannot be resumed; choose "
                "another --out, or pass --overwrite to start afresh there (its old results "
                "stay readable until then)")
        keys = changed_keys(old, settings)
        if keys:
            raise ConfigError(f"{out} was run with other settings ({', '.join(keys[:4])}); "
                              f"resume with the same flags (or --config {saved_file}), or "
                              "pass --overwrite to start afresh")
    write_json(saved_file, settings)


def _writer(settings: dict[str, Any]) -> str:
    """The command whose settings these are: the step commands record theirs; a search's
    settings are the search config itself."""
    command = settings.get("command")
    return command if isinstance(command, str) else "search"
