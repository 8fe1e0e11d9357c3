"""A tiny stand-in for ImageNet, laid out exactly like it: to try every command without the
150 GB of the real thing (and to test the streaming path in its real file formats)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..runtime.files import atomic_write_bytes

__all__ = ["WNIDS", "write_standin"]

# The first ImageNet-1k classes (tench, goldfish, great white shark, ...): the
# stand-in's folders carry real class names; more classes get made-up ones.
WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331",
         "n01498041", "n01514668", "n01514859", "n01518878")

def _wnid(k: int) -> str:
    return WNIDS[k] if k < len(WNIDS) else f"n{99_000_000 + k:08d}"


def _photo(rng: np.random.Generator, label: int, size: int) -> bytes:
    """A JPEG of about ``size`` pixels a side: a class colour, a bright square, noise."""
    w, h = (int(v) for v in size + rng.integers(-size // 5, size // 5 + 1, 2))
    colour = np.array([(label * 97) % 256, (label * 57 + 80) % 256, (label * 31 + 160) % 256])
    img = colour + rng.normal(0, 40, (h, w, 3))
    s = max(2, min(w, h) // 3)
    top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    img[top:top + s, left:left + s] = 255 - colour
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img.clip(0, 255).astype(np.uint8), "RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_standin(root: str | Path, classes: int = 3, train_per_class: int = 12,
                  val_per_class: int = 3, size: int = 40, seed: int = 0) -> Path:
    """Write a tiny dataset laid out exactly like ImageNet; returns ``root``.

    ``train/<wnid>/<wnid>_<n>.JPEG`` and ``val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG``
    (the validation images sorted into class folders, as ImageNet's ``valprep.sh``
    leaves them). Photos are seeded RGB JPEGs of about ``size`` pixels, not all square.
    """
    if classes < 2 or train_per_class < 1 or val_per_class < 1 or size < 8:
        raise ConfigError("a stand-in needs at least 2 classes, 1 train and 1 val image "
                          "per class, and size >= 8")
    root = Path(root)
    rng = np.random.default_rng(seed)
    val_numbers = rng.permutation(classes * val_per_class) + 1
    for label in range(classes):
        wnid = _wnid(label)
        numbers = np.sort(rng.choice(20_000, train_per_class, replace=False)) + 1
        for n in numbers:
            atomic_write_bytes(root / "train" / wnid / f"{wnid}_{n}.JPEG",
                               _photo(rng, label, size))
        for n in val_numbers[label * val_per_class:(label + 1) * val_per_class]:
            atomic_write_bytes(root / "val" / wnid / f"ILSVRC2012_val_{n:08d}.JPEG",
                               _photo(rng, label, size))
    return root
