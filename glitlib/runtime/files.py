"""Safe files: atomic writes, and JSON and checkpoint readers that fail with one clear line.

The one home of every file glitlib writes or reads back.

A run can be killed at any instant; a file is therefore written to a temporary
name in the same directory (``.glit-tmp-<name>.<random>``) and moved into place
with ``os.replace`` (atomic on POSIX), so a reader sees the old file or the new
one, never half of one. A kill mid-write leaves only such a temporary, which the
next run in that folder removes (:class:`~glitlib.runtime.rundir.RunDir`). Files get
the user's usual permissions (``0666`` minus the umask), not ``mkstemp``'s ``0600``.

In a distributed run only rank 0 writes (the other ranks compute the same
results).

Checkpoints are read with ``torch.load(weights_only=True)``: no code in a file
ever runs, whoever wrote it; a caller may allow a few extra plain types by name.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, GlitError, OutputError
from .ranks import is_main

__all__ = ["TMP_PREFIX", "atomic_write_bytes", "write_json", "read_json", "save_checkpoint",
           "read_checkpoint", "load_checkpoint", "save_figure", "on_write", "os_error"]

TMP_PREFIX = ".glit-tmp-"
_REDO = ("delete that file and rerun the step that writes it (glit ... --resume redoes "
         "only what is missing)")

# Called with each path just before it is moved into place (RunDir records it).
_write_hooks: list[Callable[[Path], None]] = []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def on_write(hook: Callable[[Path], None]) -> Callable[[], None]:
    """Register ``hook(path)`` for every atomic write; returns the function that removes it."""
    _write_hooks.append(hook)
    return lambda: _write_hooks.remove(hook)


def os_error(err: OSError, action: str, path: str | Path) -> OutputError:
    """One line for an operating-system fault: the path, the problem, the fix."""
    why = {errno.EACCES: "permission denied; check the folder's permissions",
           errno.EPERM: "operation not permitted; check the folder's permissions",
           errno.EROFS: "the file system is read-only; choose another --out",
           errno.ENOSPC: "no space left on the device; free space and rerun with --resume",
           errno.EDQUOT: "disk quota exceeded; free space and rerun with --resume",
           errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
           errno.EEXIST: "a file with that name exists; choose another path",
           errno.EISDIR: "it is a folder; give a file"}.get(err.errno or 0,
                                                          err.strerror or str(err))
    return OutputError(f"cannot {action} {path}: {why}")


def _atomic(path: Path, write: Callable[[Any], None]) -> None:
    if not is_main():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.")
    except OSError as err:
        raise os_error(err, "write", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _MODE)
        for hook in list(_write_hooks):
            hook(path)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise os_error(err, "write", path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically (rendered in memory first)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())


def _read_bytes(path: Path, what: str, error: type[GlitError]) -> bytes:
    if not path.is_file():
        raise error(f"{what} {path} does not exist; check the path")
    try:
        return path.read_bytes()
    except OSError as err:
        raise os_error(err, f"read {what}", path) from None


def read_json(path: str | Path, what: str = "result file",
              error: type[GlitError] = CheckpointError, fix: str = _REDO) -> Any:
    """Parse a JSON file, or raise ``error`` naming the file, the fault and ``fix``.

    ``fix`` says what to do with a file that is not JSON: by default, to rerun the
    step that wrote it (for glit's own results); an input file says "fix the file".
    """
    path = Path(path)
    raw = _read_bytes(path, what, error)
    if raw[:2] == b"PK" or raw[:1] == b"\x80":
        raise error(f"{what} {path} is a binary file (a checkpoint?), not JSON; give the "
                    "JSON file glit wrote (e.g. arch.json)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{what} {path} is not UTF-8 text (byte {err.start}), so not JSON; "
                    f"{fix}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{what} {path} is malformed JSON ({err.msg} at line {err.lineno} "
                    f"column {err.colno}); {fix}") from None


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` atomically. Keep ``state`` to tensors and plain Python values."""
    import torch

    _atomic(Path(path), lambda f: torch.save(state, f))


def read_checkpoint(path: str | Path, what: str = "checkpoint",
                    error: type[GlitError] = CheckpointError, allowed: Sequence[type] = (),
                    fix: str = "delete that file and rerun with --resume (only its step "
                              "is redone), or point to another file") -> Any:
    """``torch.load(weights_only=True)``: tensors and plain values, plus the ``allowed``
    types; anything else (a truncated zip, a pickle of another type) is ``error``."""
    import torch

    path = Path(path)
    raw = _read_bytes(path, what, error)
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, wrong format, unsafe pickle, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise error(f"cannot read {what} {path}: it is corrupted or not a {what} "
                    f"({first[:100]}); {fix}") from None


def load_checkpoint(path: str | Path, space: dict[str, Any] | None = None,
                    kind: str | None = None, run: str | None = None) -> dict[str, Any]:
    """A checkpoint glit wrote, read safely and checked against what the caller expects.

    ``space``/``kind``/``run``: the search space (as a dict), the kind of
    checkpoint and the run fingerprint the caller expects; a mismatch is an
    error that names both.
    """
    state = read_checkpoint(path)
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
            "--preset as the run that wrote it")
    if run is not None and state.get("run") != run:
        raise CheckpointError(
            f"checkpoint {path} belongs to another run (other settings or seed); delete it "
            "and rerun with --resume, or start afresh with --overwrite")
    return state


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = [k for k in b if a.get(k) != b.get(k)]
    return ", ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in keys[:3]) or "same values"
