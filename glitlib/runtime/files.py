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

Every write is recorded with the SHA-256 of its bytes in the run folder's marker
(:class:`~glitlib.runtime.rundir.RunDir`), and every read of a file that a marker lists
checks it: a file damaged or edited since glit wrote it is refused with one line.

Checkpoints are read with ``torch.load(weights_only=True)``: no code in a file
ever runs, whoever wrote it; a caller may allow a few extra plain types by name.
JSON is read with limits (size, nesting, number length) that turn a hostile file into
one line too.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, GlitError, OutputError
from .ranks import is_main

__all__ = ["TMP_PREFIX", "MARKER", "LOCK", "MAX_JSON_BYTES", "atomic_write_bytes",
           "register_log", "append_lines", "write_json", "read_json", "save_checkpoint",
           "read_checkpoint", "load_checkpoint", "save_figure", "on_write", "os_error",
           "verify_recorded"]

TMP_PREFIX = ".glit-tmp-"
MARKER, LOCK = ".glitlib-run.json", ".glitlib.lock"
MARKER_FORMAT, MARKER_VERSION = "glitlib-run", 2
MAX_JSON_BYTES = 64 * 2**20  # more than any file glit writes; refuses a 200 MB hand-made one
_MARKER_DEPTH = 4  # how far up from a file its run folder's marker may be
_REDO = ("delete that file and rerun the step that writes it (glit ... --resume redoes "
         "only what is missing)")

# Called with each path and its SHA-256 just before it is moved into place, or with
# ``None`` for a log a file is appended to (RunDir records them).
_write_hooks: list[Callable[[Path, str | None], None]] = []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def on_write(hook: Callable[[Path, str | None], None]) -> Callable[[], None]:
    """Register ``hook(path, sha256)`` for every atomic write; returns its remover."""
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


def _atomic(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary, recorded first, moved into place last.

    The bytes are all in memory before the file is opened, so a full disk fails in an
    ``OSError`` here (one line: :func:`os_error`), never half-way in a serialiser.
    """
    if not is_main():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.")
    except OSError as err:
        raise os_error(err, "write", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _MODE)
        digest = hashlib.sha256(data).hexdigest()
        for hook in list(_write_hooks):
            hook(path, digest)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise os_error(err, "write", path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    _atomic(Path(path), data)


def register_log(path: str | Path) -> None:
    """Tell the run folder that glit writes ``path`` (a log file or a folder of them) by
    appending, so it is listed as glit's own, without a digest."""
    if is_main():
        for hook in list(_write_hooks):
            hook(Path(path), None)


def append_lines(path: str | Path, lines: list[str]) -> None:
    """Append ``lines`` to a log (``metrics.jsonl``): not atomic, never read back as a
    result; a kill can cut its last line, which a resumed run drops."""
    if not is_main() or not lines:
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        register_log(path)
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
    except OSError as err:
        raise os_error(err, "write", path) from None


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically (rendered in memory first)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())


def _read_bytes(path: Path, what: str, error: type[GlitError]) -> bytes:
    if path.is_dir():
        raise error(f"{what} {path} is a folder; give a file")
    if not path.is_file():
        raise error(f"{what} {path} does not exist; check the path")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise os_error(err, f"read {what}", path) from None
    verify_recorded(path, raw, what)
    return raw


def _marker_of(path: Path) -> tuple[Path, str] | None:
    """The run folder's marker that lists ``path``, and ``path`` relative to it."""
    for up, folder in enumerate(path.resolve().parents):
        if up >= _MARKER_DEPTH:
            return None
        marker = folder / MARKER
        if marker.is_file():
            return marker, path.resolve().relative_to(folder).as_posix()
    return None


def verify_recorded(path: Path, raw: bytes, what: str = "file") -> None:
    """Refuse ``raw`` when the run folder's marker records other bytes for ``path``.

    A file no marker lists (a checkpoint from elsewhere, the shipped results) passes:
    its own checks apply. The previous record is accepted too, for the instant between
    recording a rewrite and moving it into place.
    """
    found = _marker_of(path)
    if found is None:
        return
    marker, rel = found
    try:
        record = json.loads(marker.read_text())["files"].get(rel)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return  # a damaged marker is refused where the folder is opened
    if not isinstance(record, dict) or "sha256" not in record:
        return  # not recorded, or a log appended to
    digest = hashlib.sha256(raw).hexdigest()
    if digest not in (record.get("sha256"), record.get("previous")):
        raise CheckpointError(
            f"{what} {path} is damaged: its bytes differ from those glit wrote (SHA-256 "
            f"recorded in {marker.name}); restore a good copy, or delete it and rerun the "
            "step that writes it (--resume redoes only what is missing)")


def read_json(path: str | Path, what: str = "result file",
              error: type[GlitError] = CheckpointError, fix: str = _REDO) -> Any:
    """Parse a JSON file, or raise ``error`` naming the file, the fault and ``fix``.

    ``fix`` says what to do with a file that is not JSON: by default, to rerun the
    step that wrote it (for glit's own results); an input file says "fix the file".
    Files over ``MAX_JSON_BYTES``, nesting too deep for the parser and numbers too
    long to convert are refused like malformed JSON.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_JSON_BYTES:
        raise error(f"{what} {path} is {path.stat().st_size / 2**20:,.0f} MB, more than "
                    f"the {MAX_JSON_BYTES // 2**20} MB of any JSON file glit reads; give the "
                    "file glit wrote")
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
    except RecursionError:
        raise error(f"{what} {path} is malformed JSON (nested too deep to read); "
                    f"{fix}") from None
    except ValueError as err:  # e.g. an integer of thousands of digits
        raise error(f"{what} {path} is malformed JSON ({_brief(err)}); {fix}") from None


def _brief(err: BaseException, limit: int = 90) -> str:
    """The first line of an error, cut at a word (never mid-word) if long.

    torch's refusal of an unsafe pickle is replaced by its reason alone: its own text
    suggests loading with ``weights_only=False``, which would run the file's code.
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    if text.startswith("Weights only load failed"):
        after = [line for line in lines if "WeightsUnpickler error:" in line]
        reason = after[0].split("WeightsUnpickler error:", 1)[1].strip() if after else ""
        if not reason and after:
            nxt = lines.index(after[0]) + 1
            reason = lines[nxt] if nxt < len(lines) else ""
        text = "refused by a safe load" + (f": {reason}" if reason else "")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` atomically (serialised in memory first). Keep ``state`` to tensors
    and plain Python values."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    _atomic(Path(path), buf.getvalue())


_RESUME_FIX = ("delete that file and rerun with --resume (only its step is redone), or "
               "start afresh with --overwrite")
_INPUT_FIX = "point to a file glit wrote"


def read_checkpoint(path: str | Path, what: str = "checkpoint",
                    error: type[GlitError] = CheckpointError, allowed: Sequence[type] = (),
                    fix: str = _INPUT_FIX) -> Any:
    """``torch.load(weights_only=True)``: tensors and plain values, plus the ``allowed``
    types; anything else (a truncated zip, a pickle of another type) is ``error``,
    with torch's reason in brief and no warnings on the way."""
    import torch

    path = Path(path)
    raw = _read_bytes(path, what, error)
    damaged = _zip_damage(raw)
    if damaged:
        raise error(f"cannot read {what} {path}: it is corrupted ({damaged}); {fix}")
    try:
        with torch.serialization.safe_globals(list(allowed)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, wrong format, unsafe pickle, ...
        raise error(f"cannot read {what} {path}: it is corrupted or not a {what} "
                    f"({_brief(err)}); {fix}") from None


def _zip_damage(raw: bytes) -> str | None:
    """What is wrong with a checkpoint's zip archive, or ``None``: torch reads the
    members without checking their CRC-32, so flipped bits would load as weights."""
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        return None  # not a zip: torch.load names the problem
    try:
        bad = zipfile.ZipFile(io.BytesIO(raw)).testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return _brief(err)
    return f"member {bad} fails its CRC-32 check" if bad else None


def load_checkpoint(path: str | Path, space: dict[str, Any] | None = None,
                    kind: str | None = None, run: str | None = None,
                    resume: bool = False) -> dict[str, Any]:
    """A checkpoint glit wrote, read safely and checked against what the caller expects.

    ``space``/``kind``/``run``: the search space (as a dict), the kind of checkpoint
    and the run fingerprint the caller expects; a mismatch is an error that names both.
    Its fields are checked too (types, the weights present). ``resume``: the file is a
    run's own checkpoint (the fix is to redo its step), not an input of the command.
    """
    fix = _RESUME_FIX if resume else _INPUT_FIX
    state = read_checkpoint(path, fix=fix)
    problem = _checkpoint_problem(state)
    if problem:
        raise CheckpointError(f"checkpoint {path} is not a glitlib checkpoint ({problem}); "
                              f"{fix}")
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
            f"checkpoint {path} belongs to another run (other settings or seed); {fix}")
    return state


def _checkpoint_problem(state: Any) -> str | None:
    """What keeps ``state`` from being a glitlib checkpoint, or ``None``."""
    import torch

    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a dict"
    for key, kind in (("kind", str), ("space", dict), ("model", dict), ("step", int)):
        if key not in state:
            return f"no {key!r}"
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            return f"{key!r} is a {type(state[key]).__name__}, not a {kind.__name__}"
    if not all(isinstance(v, torch.Tensor) for v in state["model"].values()):
        return "'model' holds something other than tensors"
    return None


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = [k for k in b if a.get(k) != b.get(k)]
    return ", ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in keys[:3]) or "same values"
