"""The output folder of a run: locked, listed, never cleared of anything glit did not write.

A :class:`RunDir` is opened once per command, before any long work:

* an exclusive ``fcntl`` lock on ``.glitlib.lock`` refuses a second writer (the
  kernel drops the lock when a process dies, so a killed run never blocks);
* a marker, ``.glitlib-run.json`` (format ``glitlib-run``), lists every file the
  project wrote there, recorded *before* each file is moved into place;
* ``overwrite`` deletes exactly the listed files -- and refuses when the folder
  holds anything else, has no marker, or would lose an input of this command;
* temporaries left by a kill mid-write (``.glit-tmp-*``) are removed on opening.

In a distributed run rank 0 opens the folder (:func:`open_run`); the other ranks
only read from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import OutputError
from .files import TMP_PREFIX, atomic_write_bytes, on_write, os_error
from .ranks import barrier, is_main

__all__ = ["RunDir", "MARKER", "LOCK", "open_run"]

MARKER = ".glitlib-run.json"
LOCK = ".glitlib.lock"
_FORMAT, _VERSION = "glitlib-run", 1


class RunDir:
    """An output folder opened for writing.

    Use it as a context manager, or call :meth:`~glitlib.runtime.rundir.RunDir.close`.
    """

    def __init__(self, path: str | Path, resume: bool = False, overwrite: bool = False,
                 inputs: Iterable[str | Path] = ()):
        self.path = Path(path)
        self._fd: int | None = None
        self._unhook = None
        self._check_parent()
        existed = self.path.is_dir() and any(self.path.iterdir())
        if existed and not (resume or overwrite):
            raise OutputError(
                f"output folder {self.path} already exists and is not empty; pass --resume to "
                "continue that run or --overwrite to start a new one there")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise os_error(err, "create the output folder", self.path) from None
        self._lock()
        try:
            self.files = self._read_marker(existed)
            self._clean_temporaries()
            if overwrite and not resume and existed:
                self._clear(inputs)
            self._unhook = on_write(self._record)
            self._save_marker()
        except BaseException:
            self.close()
            raise

    # -- opening ----------------------------------------------------------------
    def _check_parent(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"--out {self.path} is a file; give a folder")
        for parent in self.path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"cannot create --out {self.path}: {parent} is a file")
                break

    def _lock(self) -> None:
        import fcntl

        try:
            self._fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise os_error(err, "write to the output folder", self.path) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self._fd, 32, 0).decode(errors="replace").strip()
            os.close(self._fd)
            self._fd = None
            raise OutputError(
                f"output folder {self.path} is in use by another glit run"
                f"{f' (pid {other})' if other else ''}; wait for it to finish or choose "
                "another --out") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def _read_marker(self, existed: bool) -> set[str]:
        marker = self.path / MARKER
        if not marker.exists():
            if existed:
                raise OutputError(
                    f"{self.path} is not a glit output folder (no {MARKER}; an older "
                    "glitlib does not write one); glit will not resume or overwrite it: "
                    "choose another --out or empty it yourself")
            return set()
        try:
            data = json.loads(marker.read_text())
            assert data["format"] == _FORMAT and isinstance(data["files"], list)
        except OSError as err:
            raise os_error(err, "read", marker) from None
        except (ValueError, KeyError, TypeError, AssertionError):
            raise OutputError(f"{marker} is damaged; glit will not overwrite or resume "
                              f"{self.path}: choose another --out") from None
        if data.get("version") != _VERSION:
            raise OutputError(f"{self.path} was written by another glitlib version "
                              f"({data.get('version')}); choose another --out")
        return {f for f in data["files"] if isinstance(f, str)}

    def _clean_temporaries(self) -> None:
        for tmp in self.path.rglob(f"{TMP_PREFIX}*"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)

    def _owned(self, p: Path) -> bool:
        rel = p.relative_to(self.path).as_posix()
        return rel in self.files or rel in (MARKER, LOCK)

    def _clear(self, inputs: Iterable[str | Path]) -> None:
        root = self.path.resolve()
        for inp in inputs:
            try:
                rel = Path(inp).resolve().relative_to(root).as_posix()
            except ValueError:
                continue
            if rel in self.files:
                raise OutputError(f"--overwrite would delete {inp}, an input of this command; "
                                  "choose another --out")
        foreign = [p for p in sorted(self.path.rglob("*"))
                   if (p.is_file() or p.is_symlink()) and not self._owned(p)]
        if foreign:
            raise OutputError(
                f"--overwrite refuses to clear {self.path}: it holds "
                f"{foreign[0].relative_to(self.path)}, which glit did not write; move it "
                "away or choose another --out")
        for rel in sorted(self.files):
            try:
                (self.path / rel).unlink(missing_ok=True)
            except OSError as err:
                raise os_error(err, "delete", self.path / rel) from None
        for d in sorted((p for p in self.path.rglob("*") if p.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
        self.files = set()

    # -- writing ----------------------------------------------------------------
    def _record(self, path: Path) -> None:
        try:
            rel = path.resolve().relative_to(self.path.resolve()).as_posix()
        except ValueError:
            return
        if rel not in self.files and rel != MARKER:
            self.files.add(rel)
            self._save_marker()

    def _save_marker(self) -> None:
        data: dict[str, Any] = {"format": _FORMAT, "version": _VERSION,
                                "files": sorted(self.files)}
        atomic_write_bytes(self.path / MARKER, (json.dumps(data, indent=1) + "\n").encode())

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel

    def close(self) -> None:
        """Stop recording writes and release the lock (the kernel would at exit too)."""
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _OtherRank:
    """The run folder as ranks other than 0 see it: a path to read from, nothing to lock."""

    def __init__(self, path: Path):
        self.path = path

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel

    def close(self) -> None:
        pass

    def __enter__(self) -> _OtherRank:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def open_run(out: str | Path, resume: bool = False, overwrite: bool = False,
             inputs: Iterable[str | Path] = ()) -> RunDir | _OtherRank:
    """The run's output folder: rank 0 opens (locks, checks, lists) it, the others wait.

    In a distributed run the folder must be on a file system every rank sees.
    """
    run: RunDir | _OtherRank
    if is_main():
        run = RunDir(out, resume, overwrite, inputs)
    else:
        run = _OtherRank(Path(out))
    barrier()
    return run
