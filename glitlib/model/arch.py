"""Architectures as data: one block's choices, a whole network, and the named networks.

:class:`BlockArch` and :class:`Arch` are small frozen values, hashable and with
JSON round trips; a result file that holds one fully describes the network.
:func:`all_global` is the one home of "the all-global network" of a space: the
reference GLiT is compared against, and the default MACs limit of a search.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

from ..errors import ArchitectureError
from ..runtime.files import read_json
from .space import SPACES, SearchSpace, get_space, is_int

__all__ = ["BlockArch", "Arch", "NAMED_ARCHS", "all_global", "get_arch", "load_arch",
           "resolve_arch"]


@dataclass(frozen=True)
class BlockArch:
    """The choices of one block.

    ``d_k`` is ``None`` when the block has no global head (``g == 0``), ``e``
    and ``k`` are ``None`` when it has no local head (``g == N``): such values
    would not change the network, so they are not part of it.
    """

    g: int
    d_k: int | None
    d_z: int
    e: int | None
    k: int | None

    def __post_init__(self) -> None:
        for key in ("g", "d_k", "d_z", "e", "k"):
            v = getattr(self, key)
            optional = key not in ("g", "d_z")
            if not (is_int(v) or (optional and v is None)):
                kind = "an integer or null" if optional else "an integer"
                raise ArchitectureError(f"block: {key} must be {kind}, got {v!r}")

    def canonical(self, num_heads: int, uses_e: bool = True) -> BlockArch:
        """The same block with the values it does not use dropped.

        ``uses_e=False`` (window local heads, ``SearchSpace.uses_e``) drops
        ``e`` from every block, so blocks that differ only there are one network.
        """
        return replace(
            self,
            d_k=self.d_k if self.g > 0 else None,
            e=self.e if self.g < num_heads and uses_e else None,
            k=self.k if self.g < num_heads else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "block") -> BlockArch:
        keys = {"g", "d_k", "d_z", "e", "k"}
        if not isinstance(data, dict) or not {"g", "d_z"} <= set(data) <= keys:
            raise ArchitectureError(
                f"{where}: expected an object with keys g, d_k, d_z, e, k "
                f"(d_k/e/k may be null), got {data!r}"
            )
        try:
            values: dict[str, Any] = {key: data.get(key) for key in keys}
            return cls(**values)
        except ArchitectureError as err:
            raise ArchitectureError(f"{where}: {str(err).removeprefix('block: ')}") from None


@dataclass(frozen=True)
class Arch:
    """A whole network: one :class:`BlockArch` per block, in order."""

    blocks: tuple[BlockArch, ...]
    name: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.blocks, (list, tuple)):
            raise ArchitectureError(f"an architecture is a sequence of BlockArch, got "
                                    f"{type(self.blocks).__name__}")
        for i, b in enumerate(self.blocks):
            if not isinstance(b, BlockArch):
                raise ArchitectureError(f"block {i}: expected a BlockArch, got {b!r}; build "
                                        "blocks with BlockArch(g, d_k, d_z, e, k)")
        object.__setattr__(self, "blocks", tuple(self.blocks))

    @property
    def distribution(self) -> tuple[int, ...]:
        """Global heads per block, the part stage 1 searches."""
        return tuple(b.g for b in self.blocks)

    def validate(self, space: SearchSpace) -> Arch:
        """Raise :class:`~glitlib.errors.ArchitectureError` at the first bad value; else self."""
        if len(self.blocks) != space.depth:
            raise ArchitectureError(
                f"architecture has {len(self.blocks)} blocks but space "
                f"{space.name!r} has depth {space.depth}; give exactly "
                f"{space.depth} blocks"
            )
        n = space.num_heads
        for i, b in enumerate(self.blocks):
            _check(i, "g", b.g, tuple(range(n + 1)))
            _check(i, "d_z", b.d_z, space.d_z)
            if b.g > 0:
                _check(i, "d_k", b.d_k, space.d_k)
            if b.g < n:
                _check(i, "e", b.e, space.e if space.uses_e else (None, *space.e))
                _check(i, "k", b.k, space.k)
        return self

    def canonical(self, space: SearchSpace) -> Arch:
        """The same network with unused values dropped (a dedup key)."""
        blocks = tuple(b.canonical(space.num_heads, space.uses_e) for b in self.blocks)
        return Arch(blocks, name=self.name)

    def to_dict(self, space: SearchSpace | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        if space is not None:
            out["space"] = space.to_dict()
        out["blocks"] = [b.to_dict() for b in self.blocks]
        return out

    def to_json(self, space: SearchSpace | None = None) -> str:
        return json.dumps(self.to_dict(space), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arch:
        if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
            raise ArchitectureError(
                'architecture JSON must be an object with a "blocks" list, '
                f"got {type(data).__name__}"
            )
        unknown = sorted(set(data) - {"blocks", "name", "space"})
        if unknown:
            raise ArchitectureError(f"architecture JSON has unknown key {unknown[0]!r}; an "
                                    "architecture holds only blocks, name and space")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise ArchitectureError(f"architecture name must be a string, got {name!r}")
        blocks = [
            BlockArch.from_dict(b, where=f"block {i}")
            for i, b in enumerate(data["blocks"])
        ]
        return cls(tuple(blocks), name=name)

    @classmethod
    def from_json(cls, text: str) -> Arch:
        return cls.from_dict(_parse_json(text, "architecture"))


def _check(block: int, key: str, value: Any, allowed: tuple[int | None, ...]) -> None:
    if value not in allowed:
        raise ArchitectureError(
            f"block {block}: {key}={value!r} is not allowed; choose one of "
            f"{list(allowed)}"
        )


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ArchitectureError(
            f"{what} JSON is malformed: {err.msg} at line {err.lineno} column "
            f"{err.colno}; fix the file"
        ) from None


def _glit_tiny() -> Arch:
    # The released GLiT-Tiny, block by block: (g, d_k, e, k, d_z).
    rows = [
        (3, 32, None, None, 4), (0, None, 2, 31, 4), (1, 64, 4, 31, 6),
        (3, 64, None, None, 4), (0, None, 4, 45, 4), (1, 64, 4, 31, 6),
        (3, 64, None, None, 2), (1, 64, 4, 31, 2), (0, None, 4, 45, 4),
        (3, 64, None, None, 4), (0, None, 4, 31, 4), (3, 128, None, None, 6),
    ]
    blocks = tuple(BlockArch(g=g, d_k=dk, d_z=dz, e=e, k=k) for g, dk, e, k, dz in rows)
    return Arch(blocks, name="glit-tiny")


def all_global(space: SearchSpace, name: str | None = None) -> Arch:
    """The all-global network of a space: every head global, ``d_k`` and ``d_z`` the
    middle candidates (the values stage 1 fixes).

    On the paper's spaces this is DeiT (``d_k = d/N``, ``d_z = 4``): GLiT is compared
    with it, and its MACs are a search's default limit
    (:func:`glitlib.model.costs.default_max_macs`), so the all-global path of stage 1
    is always feasible.
    """
    block = BlockArch(g=space.num_heads, d_k=space.middle("d_k"), d_z=space.middle("d_z"),
                      e=None, k=None)
    return Arch((block,) * space.depth, name=name or f"all-global {space.name}")


NAMED_ARCHS: dict[str, tuple[str, Arch]] = {
    "glit-tiny": ("tiny", _glit_tiny()),
    "deit-tiny": ("tiny", all_global(SPACES["tiny"], "deit-tiny")),
    "deit-small": ("small", all_global(SPACES["small"], "deit-small")),
    "deit-base": ("base", all_global(SPACES["base"], "deit-base")),
}


def get_arch(name: str) -> tuple[SearchSpace, Arch]:
    """A named architecture and the space it lives in."""
    if name not in NAMED_ARCHS:
        raise ArchitectureError(
            f"unknown architecture {name!r}; choose one of {list(NAMED_ARCHS)} "
            "or give a path to an architecture JSON file"
        )
    space_name, arch = NAMED_ARCHS[name]
    return SPACES[space_name], arch


def load_arch(
    name_or_path: str | Path, space: SearchSpace | None = None
) -> tuple[SearchSpace, Arch]:
    """A named architecture or an architecture JSON file, validated.

    A file may carry its own ``"space"`` (a preset name or a full dict); else
    ``space`` is used.
    """
    text = str(name_or_path)
    if text in NAMED_ARCHS:
        named_space, arch = get_arch(text)
        return (space or named_space), arch.validate(space or named_space)
    path = Path(name_or_path)
    if not path.is_file():
        raise ArchitectureError(
            f"architecture {text!r} is neither a named architecture "
            f"{list(NAMED_ARCHS)} nor an existing JSON file"
        )
    data = read_json(path, "architecture file", ArchitectureError, "fix the file")
    try:
        arch = Arch.from_dict(data)
        if isinstance(data, dict) and "space" in data and space is None:
            space = get_space(data["space"])
    except ArchitectureError as err:
        raise ArchitectureError(f"architecture file {path}: {err}") from None
    if space is None:
        raise ArchitectureError(
            f"architecture file {path} names no search space; pass --preset"
        )
    try:
        return space, arch.validate(space)
    except ArchitectureError as err:
        raise ArchitectureError(f"architecture file {path}: {err}") from None


def resolve_arch(source: Any, space: SearchSpace) -> tuple[SearchSpace, Arch]:
    """A searched network as a model factory takes it (timm's ``arch=``), and its space.

    ``source`` is an :class:`Arch`, an architecture dict (``{"blocks": [...]}``, with
    or without ``"space"``: a preset name or a full space dict), a named architecture
    (``"glit-tiny"``), or the path of an architecture JSON file such as the
    ``arch.json`` that ``glit search`` writes (it carries its space). The network
    lives in the space it carries; else in ``space``. Validated against that space;
    any fault is one :class:`~glitlib.errors.ArchitectureError` line.
    """
    if isinstance(source, Arch):
        return space, _validated(source, space, "arch")
    if isinstance(source, dict):
        return _from_dict(source, space, "arch")
    if isinstance(source, (str, PathLike)):
        text = str(source)
        if text in NAMED_ARCHS:
            return get_arch(text)
        path = Path(text)
        if not path.is_file():
            raise ArchitectureError(
                f"arch={text!r} is neither a named architecture {list(NAMED_ARCHS)} nor an "
                "existing JSON file; give the path of an arch.json that glit search wrote"
            )
        data = read_json(path, "architecture file", ArchitectureError, "fix the file")
        return _from_dict(data, space, f"architecture file {path}")
    raise ArchitectureError(
        f"arch={source!r}: give an Arch, an architecture dict ({{\"blocks\": [...]}}, "
        "optionally with its \"space\") or the path of an arch.json"
    )


def _from_dict(data: Any, space: SearchSpace, where: str) -> tuple[SearchSpace, Arch]:
    try:
        arch = Arch.from_dict(data)
        own = data.get("space")
        if own is not None:
            if not isinstance(own, (str, dict, SearchSpace)):
                raise ArchitectureError(f"space must be a preset name or a space object, "
                                        f"got {own!r}")
            space = get_space(own)
    except ArchitectureError as err:
        raise ArchitectureError(f"{where}: {err}") from None
    return space, _validated(arch, space, where)


def _validated(arch: Arch, space: SearchSpace, where: str) -> Arch:
    try:
        return arch.validate(space)
    except ArchitectureError as err:
        raise ArchitectureError(f"{where}: {err}") from None
