"""An image folder too large for memory, streamed from disk at its images' own size.

:func:`~glitlib.data.memory.load_image_folder` reads a folder into memory as float
images; past :data:`MEMORY_LIMIT` bytes it hands the same three splits (the same
stratified, seeded indices) to :class:`OwnSizeSource` instead, which decodes the
files in ``DataLoader`` workers as the ImageNet path does. Nothing changes for the
model: the images keep their own size and mode (no resize, no augmentation, as in
memory) and are standardised with channel statistics of the training split, taken
from a seeded sample of at most :data:`STATS_SAMPLE` training images (all of them in
a folder that small, which gives exactly the in-memory numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..runtime.context import LoaderSettings
from ..runtime.seeds import rng
from .imagenet import StreamingSource, _Photos, normalize
from .source import Splits, channel_stats

__all__ = ["MEMORY_LIMIT", "STATS_SAMPLE", "OwnSizeSource", "stream_image_folder"]

#: Bytes of float images a folder may take in memory; past it, it is streamed.
MEMORY_LIMIT = 2 * 2**30
#: Training images the channel statistics of a streamed folder are taken from.
STATS_SAMPLE = 2_000


def _to_tensor(img: object) -> Tensor:
    from torchvision.transforms.functional import pil_to_tensor

    return pil_to_tensor(img)


class OwnSizeSource(StreamingSource):
    """A folder's images streamed as ``uint8`` at their own ``(height, width)`` and
    standardised on the device with ``stats`` (per-channel mean and std in [0, 1])."""

    def __init__(self, samples: Sequence[tuple[str, int]], classes: Sequence[str],
                 size: tuple[int, int], mode: str,
                 stats: tuple[list[float], list[float]] | None = None,
                 loader: LoaderSettings | None = None, root: str | Path | None = None):
        super().__init__(samples, classes, max(size), augment=False, repeats=0,
                         loader=loader or LoaderSettings(), root=root)
        self.size, self.mode, self.stats = size, mode, stats
        self._dataset = _Photos(self.samples, None, _to_tensor, mode)

    def __repr__(self) -> str:
        return (f"OwnSizeSource({len(self)} images, {self.num_classes} classes, "
                f"{self.size[0]}x{self.size[1]} {self.mode})")

    @property
    def shape(self) -> tuple[int, ...]:
        return (1 if self.mode == "L" else 3, *self.size)

    def subset(self, indices: list[int]) -> OwnSizeSource:
        return OwnSizeSource([self.samples[i] for i in indices], self.classes, self.size,
                             self.mode, self.stats, self.settings, self.root)

    def prepare(self, x: Tensor) -> Tensor:
        if self.stats is None:
            raise ValueError("OwnSizeSource needs channel statistics before it is read")
        return normalize(x, *self.stats)

    def channel_stats(self, seed: int, most: int = STATS_SAMPLE
                      ) -> tuple[list[float], list[float]]:
        """Mean and (unbiased) std per channel of at most ``most`` of these images,
        drawn with ``seed``: the in-memory path's statistics when all are drawn."""
        picked = range(len(self)) if len(self) <= most else sorted(
            rng("folder-stats", seed).sample(range(len(self)), most))
        part = self.subset(list(picked))
        return channel_stats(torch.cat([batch for batch, _ in part.in_order(256)]) / 255.0)


def stream_image_folder(samples: list[tuple[str, int]], classes: list[str],
                        size: tuple[int, int], mode: str, name: str,
                        parts: dict[str, np.ndarray], seed: int,
                        loader: LoaderSettings | None = None) -> Splits:
    """The folder's three splits (``parts``: the indices of
    :func:`~glitlib.data.source.split_indices`) as :class:`OwnSizeSource`; ``size`` is
    ``(H, W)``; ``seed`` draws the images the statistics are taken from."""
    whole = OwnSizeSource(samples, classes, size, mode, loader=loader)
    take = {k: whole.subset(v.tolist()) for k, v in parts.items()}
    stats = take["train"].channel_stats(seed)
    for part in take.values():
        part.stats = stats
    return Splits(take["train"], take["val"], take["test"], name,
                  {k: v.tolist() for k, v in parts.items()})
