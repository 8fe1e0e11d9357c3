"""Architectures as data: a search space, one block's choices, a whole network.

Everything the search manipulates is a small frozen value that can be hashed,
compared, validated and written to JSON. Models are built *from* these values,
never the other way round, so a result file fully describes the network.

Vocabulary (the paper's): a block has ``N`` heads, ``g`` of them global
(self-attention) and ``N - g`` local (convolution heads). Low-level choices:
``d_k`` the width of one global head, ``d_z`` the FFN ratio, ``e`` the conv
expansion and ``k`` the 1D kernel size.

A space also says how its local heads are local (``SearchSpace.local``): GLiT's
1D depthwise conv over the token sequence (``"conv1d"``, the default), a
``k x k`` depthwise conv over the patch grid (``"conv2d"``), or self-attention
within a window of ``k`` tokens (``"window"``, which has no expansion ``e``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import GlitError

__all__ = [
    "ArchitectureError",
    "LOCAL_KINDS",
    "BlockArch",
    "Arch",
    "SearchSpace",
    "SPACES",
    "get_space",
    "NAMED_ARCHS",
    "get_arch",
    "load_arch",
    "load_space",
    "spaces_that_fit",
    "with_local",
]


class ArchitectureError(GlitError, ValueError):
    """An architecture or search space that cannot exist; the message says why."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_SKELETON = ("img_size", "patch_size", "in_chans", "num_classes", "embed_dim", "depth",
             "num_heads")
_CHOICES = ("d_k", "d_z", "e", "k")
# How local heads see their neighbours; the first is GLiT's and the default.
LOCAL_KINDS = ("conv1d", "window", "conv2d")


@dataclass(frozen=True)
class SearchSpace:
    """The fixed skeleton of a network plus the candidates of every choice.

    The skeleton (image and patch size, width ``embed_dim``, ``depth`` blocks of
    ``num_heads`` heads) is shared by every architecture of the space; the
    candidate tuples are what the search may pick per block. Every field is
    checked on construction, so a space that exists can be built and counted.
    ``local`` picks the kind of local heads (one of ``LOCAL_KINDS``) for
    every block of the space; a choice of the space, not of the search.
    """

    name: str
    img_size: int
    patch_size: int
    in_chans: int
    num_classes: int
    embed_dim: int
    depth: int
    num_heads: int
    d_k: tuple[int, ...]
    d_z: tuple[int, ...]
    e: tuple[int, ...]
    k: tuple[int, ...]
    local: str = "conv1d"

    def __post_init__(self) -> None:
        where = f"space {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ArchitectureError(f"search space: name must be a non-empty string, got "
                                    f"{self.name!r}")
        if self.local not in LOCAL_KINDS:
            raise ArchitectureError(f"{where}: local={self.local!r} is not a kind of local "
                                    f"heads; choose one of {list(LOCAL_KINDS)}")
        for key in _SKELETON:
            v = getattr(self, key)
            if not _is_int(v) or not 1 <= v <= 1_000_000:
                raise ArchitectureError(f"{where}: {key} must be an integer from 1 to "
                                        f"1000000, got {v!r}")
        for key in _CHOICES:
            values = getattr(self, key)
            if not isinstance(values, (list, tuple)) or not values or any(
                    not _is_int(v) or not 1 <= v <= 1_000_000 for v in values):
                raise ArchitectureError(f"{where}: {key} must be a non-empty list of integers "
                                        f"from 1 to 1000000, got {values!r}")
            if len(set(values)) != len(values):
                raise ArchitectureError(f"{where}: {key} lists a candidate twice: {values!r}")
            object.__setattr__(self, key, tuple(values))
        if self.img_size % self.patch_size:
            raise ArchitectureError(
                f"{where}: img_size={self.img_size} is not divisible by "
                f"patch_size={self.patch_size}; pick an image size that is a "
                "multiple of the patch size"
            )
        if self.embed_dim % self.num_heads:
            raise ArchitectureError(
                f"{where}: embed_dim={self.embed_dim} is not divisible by "
                f"num_heads={self.num_heads}; the channel split needs d/N whole"
            )
        if any(v % 2 == 0 for v in self.k):
            raise ArchitectureError(
                f"{where}: kernel sizes must be odd for 'same' padding, got k={list(self.k)}"
            )

    # -- derived sizes -------------------------------------------------------
    @property
    def grid_size(self) -> int:
        """Patches per side, the paper's ``m``."""
        return self.img_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        """Tokens entering the blocks, ``m^2`` patches plus the class token."""
        return self.grid_size**2 + 1

    @property
    def head_channels(self) -> int:
        """Channels per head in the channel split, ``d / N``."""
        return self.embed_dim // self.num_heads

    @property
    def uses_e(self) -> bool:
        """Whether the local heads have an expansion ``e`` (window attention has none)."""
        return self.local != "window"

    def middle(self, key: str) -> int:
        """The middle candidate: the value a stage fixes while it searches others."""
        values = getattr(self, key)
        return values[len(values) // 2]

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values; ``local`` only when it is not GLiT's ``"conv1d"``,
        so the dicts (and run fingerprints) of conv1d spaces stay as they were."""
        d = asdict(self)
        for key in ("d_k", "d_z", "e", "k"):
            d[key] = list(d[key])
        if d["local"] == "conv1d":
            del d["local"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "search space JSON") -> SearchSpace:
        if not isinstance(data, dict):
            raise ArchitectureError(f"{where}: expected an object with the keys "
                                    f"{sorted(cls.__dataclass_fields__)}, got "
                                    f"{type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        missing = known - set(data) - {"local"}  # optional: "conv1d" when absent
        if unknown or missing:
            raise ArchitectureError(
                f"{where}: unknown keys {sorted(unknown)}, missing keys "
                f"{sorted(missing)}; expected {sorted(known - {'local'})} and optionally "
                "local"
            )
        try:
            return cls(**data)
        except ArchitectureError as err:
            raise ArchitectureError(f"{where}: {err}") from None

    def fits(self, shape: tuple[int, ...], num_classes: int) -> bool:
        """Whether images of ``shape`` (C, H, W) and ``num_classes`` classes fit this space."""
        return (tuple(shape) == (self.in_chans, self.img_size, self.img_size)
                and num_classes <= self.num_classes)


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
            if not (_is_int(v) or (optional and v is None)):
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
            return cls(**{key: data.get(key) for key in keys})
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
        """Raise :class:`ArchitectureError` naming the first bad value; return self."""
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
        blocks = [
            BlockArch.from_dict(b, where=f"block {i}")
            for i, b in enumerate(data["blocks"])
        ]
        return cls(tuple(blocks), name=data.get("name"))

    @classmethod
    def from_json(cls, text: str) -> Arch:
        return cls.from_dict(_parse_json(text, "architecture"))


def _check(block: int, key: str, value: Any, allowed: tuple[int, ...]) -> None:
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


# -- presets -------------------------------------------------------------------
# tiny/small/base: the paper's spaces on DeiT-Tiny/Small/Base skeletons (d/N = 64,
# so d_k in {32, 64, 128} is e_v in {0.5, 1, 2}). digits: the same search on the
# 8x8 scikit-learn digits, sized so a CPU search takes minutes. Its 2x2 patches
# give a 4x4 grid (17 tokens); k in {3, 5, 9} mirrors {17, 31, 45} on 14x14:
# the smallest kernel sees only its row, the largest reaches the rows above and
# below (a raster-order neighbour one row away is 4 tokens off). cifar: 32x32 RGB
# in 4x4 patches (an 8x8 grid, 65 tokens) on DeiT-Tiny's width; k in {9, 17, 25}
# spans about 1, 2 and 3 rows of 8 tokens, as {17, 31, 45} do on 14 tokens a row.
_PAPER = dict(d_k=(32, 64, 128), d_z=(2, 4, 6), e=(1, 2, 4), k=(17, 31, 45))
SPACES: dict[str, SearchSpace] = {
    "tiny": SearchSpace("tiny", 224, 16, 3, 1000, 192, 12, 3, **_PAPER),
    "small": SearchSpace("small", 224, 16, 3, 1000, 384, 12, 6, **_PAPER),
    "base": SearchSpace("base", 224, 16, 3, 1000, 768, 12, 12, **_PAPER),
    "cifar": SearchSpace(
        "cifar", 32, 4, 3, 10, 192, 12, 3, d_k=(32, 64, 128), d_z=(2, 4, 6),
        e=(1, 2, 4), k=(9, 17, 25),
    ),
    "digits": SearchSpace(
        "digits", 8, 2, 1, 10, 48, 4, 3, d_k=(8, 16, 32), d_z=(1, 2, 4),
        e=(1, 2, 4), k=(3, 5, 9),
    ),
}


def get_space(name_or_space: str | SearchSpace | dict[str, Any]) -> SearchSpace:
    """A preset by name, a dict (from JSON), or a space passed through."""
    if isinstance(name_or_space, SearchSpace):
        return name_or_space
    if isinstance(name_or_space, dict):
        return SearchSpace.from_dict(name_or_space)
    if name_or_space not in SPACES:
        raise ArchitectureError(
            f"unknown search space {name_or_space!r}; choose one of {list(SPACES)} "
            "or give a space JSON file"
        )
    return SPACES[name_or_space]


def load_space(source: str | Path | SearchSpace | dict[str, Any]) -> SearchSpace:
    """A search space from a preset name, a dict, a space, or a JSON file (the one parser).

    A space JSON holds exactly the fields of :class:`SearchSpace`, e.g. for 64x64 RGB
    photos of 5 classes::

        {"name": "flowers", "img_size": 64, "patch_size": 8, "in_chans": 3,
         "num_classes": 5, "embed_dim": 96, "depth": 6, "num_heads": 3,
         "d_k": [16, 32, 64], "d_z": [2, 4, 6], "e": [1, 2, 4], "k": [5, 9, 13]}

    plus, optionally, ``"local": "window"`` or ``"conv2d"`` (absent: ``"conv1d"``).
    """
    if isinstance(source, (SearchSpace, dict)):
        return get_space(source)
    text = str(source)
    if text in SPACES:
        return SPACES[text]
    path = Path(text)
    if path.suffix != ".json" and not path.is_file():
        return get_space(text)  # an unknown preset name: the message lists the presets
    if not path.is_file():
        raise ArchitectureError(f"search space file {path} does not exist; give a preset "
                                f"({', '.join(SPACES)}) or an existing JSON file")
    return SearchSpace.from_dict(_read_json_file(path, "search space file"),
                                 where=f"search space file {path}")


def with_local(space: SearchSpace, kind: str, name: str | None = None) -> SearchSpace:
    """``space`` with local heads of ``kind``, named ``"<name>-<kind>"`` unless ``name`` is given.

    For ablations: the same skeleton and candidates, another notion of locality.
    """
    if kind not in LOCAL_KINDS:
        raise ArchitectureError(f"local={kind!r} is not a kind of local heads; choose one of "
                                f"{list(LOCAL_KINDS)}")
    if name is None:
        base = space.name.removesuffix(f"-{space.local}")
        name = base if kind == "conv1d" else f"{base}-{kind}"
    return replace(space, local=kind, name=name)


def spaces_that_fit(shape: tuple[int, ...], num_classes: int) -> list[str]:
    """The presets whose images and classes fit a dataset."""
    return [name for name, space in SPACES.items() if space.fits(shape, num_classes)]


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


def _all_global(space: SearchSpace, name: str) -> Arch:
    # DeiT: every head global, e_v = 1 (d_k = d/N), d_z = 4.
    block = BlockArch(g=space.num_heads, d_k=space.head_channels, d_z=4, e=None, k=None)
    return Arch((block,) * space.depth, name=name)


NAMED_ARCHS: dict[str, tuple[str, Arch]] = {
    "glit-tiny": ("tiny", _glit_tiny()),
    "deit-tiny": ("tiny", _all_global(SPACES["tiny"], "deit-tiny")),
    "deit-small": ("small", _all_global(SPACES["small"], "deit-small")),
    "deit-base": ("base", _all_global(SPACES["base"], "deit-base")),
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
    data = _read_json_file(path, "architecture file")
    try:
        arch = Arch.from_dict(data)
        if isinstance(data, dict) and "space" in data and space is None:
            space = get_space(data["space"])
    except ArchitectureError as err:
        raise ArchitectureError(f"architecture file {path}: {err}") from None
    if space is None:
        raise ArchitectureError(
            f"architecture file {path} names no search space; pass --space"
        )
    try:
        return space, arch.validate(space)
    except ArchitectureError as err:
        raise ArchitectureError(f"architecture file {path}: {err}") from None


def _read_json_file(path: Path, what: str) -> Any:
    """Parse a JSON file, naming the file and the fix when it is not JSON."""
    raw = path.read_bytes()
    if raw[:2] == b"PK" or raw[:1] == b"\x80":
        raise ArchitectureError(f"{what} {path} is a binary file (a checkpoint?), not JSON; "
                                "give the JSON file glit wrote (e.g. arch.json)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ArchitectureError(f"{what} {path} is not UTF-8 text (byte {err.start}); give a "
                                "JSON file") from None
    return _parse_json(text, f"{what} {path}")
