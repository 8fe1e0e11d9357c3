"""Search spaces as data: the fixed skeleton of a network and the candidates of every choice.

A :class:`SearchSpace` is a small frozen value that can be hashed, compared,
validated and written to JSON; architectures (:mod:`glitlib.model.arch`) and
models are built *from* it, never the other way round.

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

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ArchitectureError
from ..runtime.files import read_json

__all__ = ["LOCAL_KINDS", "SearchSpace", "SPACES", "get_space", "load_space",
           "spaces_that_fit", "with_local", "is_int"]


def is_int(v: Any) -> bool:
    """An ``int`` that is not a ``bool``."""
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
            if not is_int(v) or not 1 <= v <= 1_000_000:
                raise ArchitectureError(f"{where}: {key} must be an integer from 1 to "
                                        f"1000000, got {v!r}")
        for key in _CHOICES:
            values = getattr(self, key)
            if not isinstance(values, (list, tuple)) or not values or any(
                    not is_int(v) or not 1 <= v <= 1_000_000 for v in values):
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


# -- presets -------------------------------------------------------------------
# tiny/small/base: the paper's spaces on DeiT-Tiny/Small/Base skeletons (d/N = 64,
# so d_k in {32, 64, 128} is e_v in {0.5, 1, 2}). digits: the same search on the
# 8x8 scikit-learn digits, sized so a CPU search takes minutes. Its 2x2 patches
# give a 4x4 grid (17 tokens); k in {3, 5, 9} mirrors {17, 31, 45} on 14x14:
# the smallest kernel sees only its row, the largest reaches the rows above and
# below (a raster-order neighbour one row away is 4 tokens off). cifar: 32x32 RGB
# in 4x4 patches (an 8x8 grid, 65 tokens) on DeiT-Tiny's width; k in {9, 17, 25}
# spans about 1, 2 and 3 rows of 8 tokens, as {17, 31, 45} do on 14 tokens a row.
# bands: the striped-bands task (glitlib.data.synthetic), 16x16 grey in 2x2 patches,
# an 8x8 grid; k in {5, 9, 17} spans about half a row, one and two rows.
_PAPER: dict[str, Any] = dict(d_k=(32, 64, 128), d_z=(2, 4, 6), e=(1, 2, 4),
                              k=(17, 31, 45))
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
    "bands": SearchSpace(
        "bands", 16, 2, 1, 2, 48, 4, 3, d_k=(8, 16, 32), d_z=(1, 2, 4),
        e=(1, 2, 4), k=(5, 9, 17),
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
    data = read_json(path, "search space file", ArchitectureError, "fix the file")
    return SearchSpace.from_dict(data, where=f"search space file {path}")


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
