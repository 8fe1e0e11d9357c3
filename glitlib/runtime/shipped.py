"""The results the book's chapters read, found wherever glitlib is installed.

The repository's ``data/`` folder is their one home: the commands in
``data/README.md`` write them there. A chapter must also run where only the
package is installed (Colab, a fresh virtual environment), so the wheel carries the
files the chapters read as the data package ``glitlib/_shipped/``, which
pyproject.toml maps onto ``data/`` (no second copy in the repository). Run from a
checkout (``PYTHONPATH`` or an editable install), the package has no ``_shipped/``
folder and the same names are read from ``data/`` next to it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path, PurePosixPath

from ..errors import ConfigError, ShippedFileError

__all__ = ["SHIPPED_PACKAGE", "shipped", "shipped_root"]

SHIPPED_PACKAGE = "_shipped"  # the folder inside glitlib that holds data/ in a wheel
_MAKE = "data/README.md names the command that makes each file"


def _package_dir() -> Path:
    """glitlib's own folder; the results are read as files, so it must be one."""
    root = resources.files("glitlib")
    if not isinstance(root, Path):
        raise ShippedFileError(f"glitlib is imported from an archive ({root}); its shipped "
                               "results need an unpacked install: pip install glitlib")
    return root


def shipped_root() -> Path:
    """The folder of the shipped results: the wheel's ``_shipped/``, else the checkout's
    ``data/``; refuses a package that has neither."""
    package = _package_dir()
    inside = package / SHIPPED_PACKAGE
    if inside.is_dir():
        return inside
    checkout = package.parent / "data"
    if (checkout / "README.md").is_file() and (package.parent / "pyproject.toml").is_file():
        return checkout
    raise ShippedFileError(f"this glitlib ({package}) carries no shipped results: neither "
                           f"{inside} nor a checkout's data/ exists; reinstall glitlib from "
                           "its wheel or its repository")


def _parts(name: str) -> tuple[str, ...]:
    """``name`` as path parts below the shipped folder; never above or outside it."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise ConfigError(f"shipped result name {name!r} must be a relative path with '/' "
                          "and no '..', e.g. 'ablations/ablations.json'")
    return path.parts


def shipped(name: str = "") -> Path:
    """The path of the shipped result ``name`` (``"digits_search/summary.json"``, a
    folder such as ``"digits_search"``, or ``""`` for them all).

    Raises :class:`~glitlib.errors.ShippedFileError`, naming the file, when this
    install does not carry it.
    """
    root = shipped_root()
    path = root.joinpath(*_parts(name))
    if not path.exists():
        raise ShippedFileError(f"shipped result {name!r} is missing: {path} does not exist "
                               f"(this glitlib's shipped results are in {root}); {_MAKE}")
    return path
