"""Striped bands: a task whose right head distribution is known in advance.

Each 16 x 16 grey image is an 8 x 8 grid of 2 x 2-pixel patches: a checkerboard, with
two bands two patch rows tall, an upper one (patch rows 1-2) and a lower one (rows 5-6),
each striped horizontally or vertically, independently. **The label is the stripe
direction of the lower band** (0 vertical, 1 horizontal). Every texture switches whole
patches on or off, half of them on, at a random phase, and pixel noise (SD 0.5) lies on
top. ::

    label 1 (lower band horizontal)     label 0 (lower band vertical)
     . # . # . # . #  background          # . # . # . # .
     # # # # # # # #  upper band: a       . # . # . # . #  upper band:
     . . . . . . . .  decoy               . # . # . # . #  a decoy
     # . # . # . # .  background          . # . # . # . #
     . # . # . # . #  background          # . # . # . # .
     . . . . . . . .  lower band:         # . # . # . # .  lower band:
     # # # # # # # #  the label           # . # . # . # .  the label
     # . # . # . # .  background          . # . # . # . #

Why it needs both kinds of heads:

* **local structure** -- one patch is on or off with probability 1/2 in every texture,
  and every image has 32 of its 64 patches on, so one token says nothing about the label;
  only a neighbourhood does (horizontal neighbours equal: horizontal stripes);
* **long range** -- the lower band starts at token 41 of the raster sequence, and the
  classifier reads the class token, token 0. Local heads reach about ``(k - 1) / 2``
  tokens per block, so a network without global heads sees only the upper band, an
  independent decoy: it is at chance, however long it trains. A network without local
  heads has to learn locality through attention alone, and on this budget does not.

What it is not: a relation between two motifs. The label is a texture read far from
the class token; a model that pools 3 x 3-patch windows without positions also solves
it (it sees which band has two background rows above it). GLiT's classifier reads the
class token, not a pool of tokens, so whatever solves the task here must carry the
lower band's texture across the image.

Images are drawn in blocks of 1,024 from generators keyed by ``(seed, part, block)``,
so image ``i`` of a split is the same whatever the split's size. Nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import torch

from .source import Splits, TensorData

__all__ = ["make_bands", "load_bands", "GRID", "PATCH", "SIZES"]

GRID = 8  # patches per side
PATCH = 2  # pixels per patch side
UPPER_ROWS = (1, 3)  # patch rows [start, stop) of the decoy band
LOWER_ROWS = (5, 7)  # patch rows [start, stop) of the band that sets the label
NOISE = 0.5  # standard deviation of the pixel noise; patches are 0 or 1
SIZES = {"train": 20_000, "val": 5_000, "test": 10_000}  # test: one SE <= 0.3 points at 90 %
_PARTS = {"train": 0, "val": 1, "test": 2}
_BLOCK = 1024  # images per generator


def _stripes(gen: np.random.Generator, m: int, rows: int,
             horizontal: np.ndarray) -> np.ndarray:
    """``m`` bands of ``rows`` x GRID patches, horizontal or vertical stripes, random phase."""
    r = np.arange(rows)[None, :, None] + gen.integers(0, 2, m)[:, None, None]
    c = np.arange(GRID)[None, None, :] + gen.integers(0, 2, m)[:, None, None]
    return np.where(horizontal[:, None, None], r % 2, c % 2)


def _block(seed: int, part: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``index``-th block of 1,024 images of split ``part``."""
    gen = np.random.default_rng([seed % 2**64, part, index])
    m = _BLOCK
    label, decoy = gen.integers(0, 2, m), gen.integers(0, 2, m)
    r = np.arange(GRID)[None, :, None] + gen.integers(0, 2, m)[:, None, None]
    grid = ((r + np.arange(GRID)[None, None, :]) % 2).astype(np.float32)  # checkerboard
    for (lo, hi), horizontal in ((UPPER_ROWS, decoy == 1), (LOWER_ROWS, label == 1)):
        grid[:, lo:hi] = _stripes(gen, m, hi - lo, horizontal)
    img = np.repeat(np.repeat(grid, PATCH, axis=1), PATCH, axis=2)
    img += NOISE * gen.standard_normal(img.shape, dtype=np.float32)
    return img[:, None], label.astype(np.int64)


def make_bands(seed: int, n: int, part: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``(n, 1, 16, 16)`` float32 and labels ``(n,)`` int64 of split ``part``."""
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    blocks = [_block(seed, part, i) for i in range(-(-n // _BLOCK))]
    if not blocks:
        side = GRID * PATCH
        return np.zeros((0, 1, side, side), np.float32), np.zeros(0, np.int64)
    return (np.concatenate([b[0] for b in blocks])[:n],
            np.concatenate([b[1] for b in blocks])[:n])


def load_bands(seed: int = 0) -> Splits:
    """The striped-bands task split three ways (independent draws), standardised with the
    training split's mean and standard deviation."""
    parts = {name: make_bands(seed, SIZES[name], _PARTS[name]) for name in SIZES}
    mean, std = float(parts["train"][0].mean()), float(parts["train"][0].std())
    data = {name: TensorData(torch.from_numpy((x - mean) / std), torch.from_numpy(y))
            for name, (x, y) in parts.items()}
    offsets = np.cumsum([0] + [SIZES[k] for k in SIZES])
    indices = {k: list(range(int(offsets[j]), int(offsets[j + 1])))
               for j, k in enumerate(SIZES)}
    return Splits(data["train"], data["val"], data["test"], "bands", indices)
