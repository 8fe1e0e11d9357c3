"""Safe files: atomic writes and checkpoint loading that fails with one clear line.

A run can be killed at any instant; a file is therefore written to a temporary
name in the same directory and moved into place with ``os.replace`` (atomic on
POSIX), so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "atomic_write_bytes", "write_json", "read_json",
           "save_checkpoint", "load_checkpoint", "prepare_out_dir"]


class CheckpointError(ValueError):
    """A checkpoint or result file that cannot be used; the message says how to fix it."""


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def read_json(path: str | Path, what: str = "result file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; check the path")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{what} {path} is corrupted ({err}); delete it and rerun the step that "
            "writes it") from None


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` atomically. Keep ``state`` to tensors and plain Python values."""
    _atomic(Path(path), lambda f: torch.save(state, f))


def load_checkpoint(path: str | Path, space: dict[str, Any] | None = None,
                    kind: str | None = None) -> dict[str, Any]:
    """Load with ``weights_only=True`` (no code runs) and check what it holds.

    ``space``/``kind``: the search space (as a dict) and the kind of checkpoint
    the caller expects; a mismatch is an error that names both.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; check the path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, wrong format, unsafe pickle, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupted or not a glitlib checkpoint ({first[:120]}); "
            "delete it and rerun with --overwrite, or point to another file") from None
    if not isinstance(state, dict) or "space" not in state or "kind" not in state:
        raise CheckpointError(f"checkpoint {path} is not a glitlib checkpoint "
                              "(no 'space'/'kind'); point to a file glit wrote")
    if kind is not None and state["kind"] != kind:
        raise CheckpointError(f"checkpoint {path} holds a {state['kind']}, expected a {kind}; "
                              "point to the right file")
    if space is not None and state["space"] != space:
        raise CheckpointError(
            f"checkpoint {path} is for search space {state['space'].get('name')!r} "
            f"({_diff(state['space'], space)}), not {space.get('name')!r}; use the same "
            "--preset/--space as the run that wrote it, or --overwrite to start afresh")
    return state


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = [k for k in b if a.get(k) != b.get(k)]
    return ", ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in keys[:3]) or "same values"


def prepare_out_dir(out: str | Path, resume: bool, overwrite: bool) -> Path:
    """Create ``out``; refuse an existing non-empty one unless resuming or overwriting."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a directory")
    if out.is_dir() and any(out.iterdir()) and not (resume or overwrite):
        raise FileExistsError(
            f"output directory {out} already exists and is not empty; pass --resume to "
            "continue that run or --overwrite to start a new one there")
    if overwrite and out.is_dir() and any(out.iterdir()) and not resume:
        if not (out / "config.json").is_file():
            raise FileExistsError(
                f"--overwrite refuses to delete {out}: it holds no config.json, so it is not a "
                "glit output directory; remove it yourself or choose another --out")
        import shutil
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out
