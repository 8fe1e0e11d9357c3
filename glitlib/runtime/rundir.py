"""The output folder of a run: checked, locked, listed; nothing outside it is ever touched.

A :class:`RunDir` is opened once per command, before any long work:

* every check that can refuse the folder runs first and only reads: a file where a
  folder should be, a non-empty folder without ``--resume``/``--overwrite``, a folder
  glit did not write, files in it glit did not write (``--overwrite``), an input of the
  same command inside it; a refusal leaves the folder exactly as it was;
* an exclusive ``fcntl`` lock on ``.glitlib.lock`` refuses a second writer (the kernel
  drops the lock when a process dies, so a killed run never blocks); on a file system
  without ``flock`` (Lustre mounted without it) the run goes on with a warning;
* a marker, ``.glitlib-run.json`` (format ``glitlib-run``, version 2), lists every file
  the project wrote there with the SHA-256 of its bytes, recorded *before* each file is
  moved into place; reading the file back checks it (:mod:`glitlib.runtime.files`), so
  bit rot, a bad copy or a hand edit is caught;
* the marker is checked before it is trusted: every entry must be a plain relative path
  inside the folder, reached without a symbolic link out of it. ``overwrite`` deletes
  exactly the listed files -- a run folder handed over from elsewhere can delete
  nothing outside itself;
* temporaries left by a kill mid-write (``.glit-tmp-*``) are removed on opening.

In a distributed run rank 0 opens the folder (:func:`open_run`); the other ranks only
read from it.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import OutputError
from .files import (
    LOCK,
    MARKER,
    MARKER_FORMAT,
    MARKER_VERSION,
    TMP_PREFIX,
    atomic_write_bytes,
    on_write,
    os_error,
)
from .log import log
from .ranks import barrier, is_main

__all__ = ["RunDir", "MARKER", "LOCK", "open_run"]

_NO_FLOCK = {errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOLCK}


def _walk(root: Path) -> Iterator[Path]:
    """Every file and link under ``root``, never following a link into another folder."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in files:
            yield here / name
        for name in dirs:
            if (here / name).is_symlink():
                yield here / name


class RunDir:
    """An output folder opened for writing.

    Use it as a context manager, or call :meth:`~glitlib.runtime.rundir.RunDir.close`.
    """

    def __init__(self, path: str | Path, resume: bool = False, overwrite: bool = False,
                 inputs: Iterable[str | Path] = ()):
        self.path = Path(path)
        self._fd: int | None = None
        self._unhook: Any = None
        self._check_parent()
        existed = self.path.is_dir() and any(self.path.iterdir())
        self.files = self._read_marker(existed)  # refuses a folder glit did not write
        if existed and not (resume or overwrite):
            raise OutputError(
                f"output folder {self.path} holds a glit run; pass --resume to continue that "
                "run or --overwrite to start a new one there (or choose another --out)")
        clear = overwrite and not resume and existed
        if clear:
            self._check_clear(inputs)
        if resume and not existed:
            log.info("no run in %s yet: starting it", self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise os_error(err, "create the output folder", self.path) from None
        self._lock()
        try:
            self.files = self._read_marker(existed)  # again, now that it is ours
            self._clean_temporaries()
            if clear:
                self._check_clear(inputs)
                self._clear()
            self._unhook = on_write(self._record)
            self._save_marker()
        except BaseException:
            self.close()
            raise

    # -- checks that only read ------------------------------------------------------
    def _check_parent(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"--out {self.path} is a file; give a folder")
        for parent in self.path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"cannot create --out {self.path}: {parent} is a file")
                break

    def _read_marker(self, existed: bool) -> dict[str, dict[str, Any]]:
        marker = self.path / MARKER
        if not marker.exists():
            if existed:
                raise OutputError(
                    f"output folder {self.path} is not empty and glit did not write it (no "
                    f"{MARKER}); glit will not write into, resume or overwrite it: choose "
                    "another --out (a new or empty folder)")
            return {}
        try:
            data = json.loads(marker.read_text())
            assert data["format"] == MARKER_FORMAT and isinstance(data, dict)
        except OSError as err:
            raise os_error(err, "read", marker) from None
        except (ValueError, KeyError, TypeError, AssertionError, RecursionError):
            raise OutputError(f"{marker} is damaged; glit will not overwrite or resume "
                              f"{self.path}: choose another --out") from None
        if data.get("version") != MARKER_VERSION:
            raise OutputError(f"{self.path} was written by another glitlib version (run "
                              f"folder format {data.get('version')}); it cannot be resumed "
                              "or overwritten by this one: choose another --out")
        files = data.get("files")
        if not isinstance(files, dict):
            raise OutputError(f"{marker} is damaged; choose another --out")
        for rel, record in files.items():
            self._check_entry(rel, record, marker)
        return files

    def _check_entry(self, rel: Any, record: Any, marker: Path) -> None:
        """A listed file must lie inside the folder, by a plain relative path."""
        parts = PurePosixPath(rel).parts if isinstance(rel, str) else ()
        bad = (not parts or PurePosixPath(rel).is_absolute() or "\\" in rel
               or any(p in ("", ".", "..") for p in parts) or rel in (MARKER, LOCK))
        kinds = ("sha256", "append", "folder")  # a digest; a log appended to; a log folder
        if bad or not isinstance(record, dict) or not any(k in record for k in kinds) or (
                "sha256" in record and not isinstance(record["sha256"], str)):
            raise OutputError(f"{marker} lists {rel!r}, which is not a file inside "
                              f"{self.path}: the folder was tampered with; glit will not "
                              "resume or overwrite it: choose another --out")

    def _inside(self, rel: str) -> bool:
        """Whether ``rel`` is reached inside the folder (no link out on the way)."""
        root = self.path.resolve()
        try:
            (self.path / rel).parent.resolve().relative_to(root)
        except ValueError:
            return False
        return True

    def _check_clear(self, inputs: Iterable[str | Path]) -> None:
        root = self.path.resolve()
        for inp in inputs:
            try:
                rel = Path(inp).resolve().relative_to(root).as_posix()
            except ValueError:
                continue
            if rel in self.files:
                raise OutputError(f"--overwrite would delete {inp}, an input of this command; "
                                  "choose another --out")
        outside = [rel for rel in self.files if not self._inside(rel)]
        if outside:
            raise OutputError(f"--overwrite refuses to clear {self.path}: it lists "
                              f"{outside[0]}, reached through a link out of the folder; "
                              "choose another --out")
        foreign = [p for p in sorted(_walk(self.path)) if not self._owned(p)]
        if foreign:
            raise OutputError(
                f"--overwrite refuses to clear {self.path}: it holds "
                f"{foreign[0].relative_to(self.path)}, which glit did not write; move it "
                "away or choose another --out")

    def _owned(self, p: Path) -> bool:
        rel = p.relative_to(self.path).as_posix()
        folders = [f for f, r in self.files.items() if r.get("folder")]
        return (rel in self.files or rel in (MARKER, LOCK)
                or any(PurePosixPath(rel).is_relative_to(f) for f in folders)
                or (p.name.startswith(TMP_PREFIX) and not p.is_symlink()))

    # -- taking the folder ------------------------------------------------------------
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
        except OSError as err:
            if err.errno not in _NO_FLOCK:
                raise os_error(err, "lock", self.path / LOCK) from None
            log.warning("the file system of %s has no flock (%s): the folder is not "
                        "locked; make sure one run alone writes it", self.path,
                        err.strerror or err)
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def _clean_temporaries(self) -> None:
        for tmp in _walk(self.path):
            if tmp.name.startswith(TMP_PREFIX) and tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)

    def _clear(self) -> None:
        for rel, record in sorted(self.files.items()):
            target = self.path / rel
            try:
                if record.get("folder") and target.is_dir() and not target.is_symlink():
                    for f in sorted(_walk(target), reverse=True):
                        f.unlink()  # files and links; a link's target is never touched
                else:
                    target.unlink(missing_ok=True)  # a link goes, never what it points to
            except OSError as err:
                raise os_error(err, "delete", target) from None
        for folder, dirs, _ in sorted(os.walk(self.path), reverse=True):
            for name in dirs:
                d = Path(folder) / name
                if not d.is_symlink() and d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
        self.files = {}

    # -- writing ----------------------------------------------------------------
    def _record(self, path: Path, digest: str | None) -> None:
        """Record a write: its digest, or (``None``) that the file is a log appended to
        (or, for a folder, a folder of logs) that no digest can hold."""
        try:
            rel = path.resolve().relative_to(self.path.resolve()).as_posix()
        except ValueError:
            return
        if rel == MARKER:
            return
        if digest is None:
            record: dict[str, Any] = {"folder": True} if path.is_dir() else {"append": True}
        else:
            old = self.files.get(rel, {}).get("sha256")
            record = {"sha256": digest, **({"previous": old} if old and old != digest
                                           else {})}
        if self.files.get(rel) != record:
            self.files[rel] = record
            self._save_marker()

    def _save_marker(self) -> None:
        data: dict[str, Any] = {"format": MARKER_FORMAT, "version": MARKER_VERSION,
                                "files": dict(sorted(self.files.items()))}
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
