"""What training and scoring read: the batch-source interface, in-memory tensors, three splits.

Three disjoint, stratified, seeded splits, as GLiT does on ImageNet:

* ``train`` -- trains the supernet and the retrained candidates;
* ``val``   -- held out from the training data; the search scores candidates on it
  (GLiT holds 50k ImageNet training images out for this);
* ``test``  -- touched only for the final number of the chosen architecture.

Batches are a pure function of
``(seed, step)``, so a resumed run sees exactly the batches an uninterrupted one
would, and every rank of a distributed run can take its own shard of the same
permutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError
from ..runtime.ranks import rank_and_world
from ..runtime.seeds import epoch_seed

__all__ = ["BatchSource", "TensorData", "Splits", "split_indices", "batch_at", "iterate",
           "MIN_PER_CLASS"]

# Each class needs an image in each of the three splits, and a few to train on.
MIN_PER_CLASS = 5


@runtime_checkable
class BatchSource(Protocol):
    """What training and scoring read, whether the images sit in memory or stream from disk.

    ``batches`` yields the global batches of steps ``start`` to ``stop - 1``; each is a
    pure function of ``(seed, step)`` (augmentations included), so a resumed run reads
    exactly the batches an uninterrupted one would. With ``shard`` (training) each rank
    of a distributed run gets its own slice of the global batch; without it (BatchNorm
    recalibration) every rank gets the whole batch, so a candidate's score does not
    depend on the number of ranks. ``in_order`` yields the images once, in a fixed
    order, unaugmented (evaluation). Tensors may come on the CPU: the reader moves them.
    """

    def __len__(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def num_classes(self) -> int: ...

    def batches(self, batch_size: int, seed: int, start: int, stop: int,
                shard: bool = True) -> Iterator[tuple[Tensor, Tensor]]: ...

    def in_order(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]: ...

    def prepare(self, x: Tensor) -> Tensor:
        """A batch, on its device, as the model reads it (streamed ``uint8`` images are
        normalised here, on the GPU; in-memory images are ready)."""
        ...

    def subset(self, indices: list[int]) -> BatchSource:
        """The images at ``indices`` (in that order), as a source of the same kind."""
        ...

    def to(self, device: str | torch.device) -> BatchSource: ...


@dataclass
class TensorData:
    """Images ``x`` (B, C, H, W) float and labels ``y`` (B,) long, on one device.

    The in-memory :class:`BatchSource`: small datasets (digits, CIFAR-10, small folders).
    ``pad_crop_flip`` (CIFAR-10's training split): every training batch is padded by that
    many pixels, randomly cropped back and randomly flipped left-right, each image under
    its own draw from ``(seed, step)``; evaluation (``in_order``) sees the plain images.
    """

    x: Tensor
    y: Tensor
    pad_crop_flip: int = 0

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0

    def to(self, device: str | torch.device) -> TensorData:
        return TensorData(self.x.to(device), self.y.to(device), self.pad_crop_flip)

    def batches(self, batch_size: int, seed: int, start: int, stop: int,
                shard: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
        for step in range(start, stop):
            b = batch_at(self, batch_size, seed, step, shard)
            x = b.x
            if self.pad_crop_flip:
                x = _pad_crop_flip(x, self.pad_crop_flip, seed, step, shard)
            yield x, b.y

    def in_order(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        return iterate(self, batch_size)

    def prepare(self, x: Tensor) -> Tensor:
        return x

    def subset(self, indices: list[int]) -> TensorData:
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.y.device)
        return TensorData(self.x[idx], self.y[idx], self.pad_crop_flip)


@dataclass
class Splits:
    train: BatchSource
    val: BatchSource
    test: BatchSource
    name: str
    indices: dict[str, list[int]]  # source indices of every split, to check disjointness

    def to(self, device: str | torch.device) -> Splits:
        return Splits(self.train.to(device), self.val.to(device), self.test.to(device),
                      self.name, self.indices)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape)

    @property
    def num_classes(self) -> int:
        return max(self.train.num_classes, self.val.num_classes, self.test.num_classes)


def channel_stats(x: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and (unbiased) std of float images ``(N, C, H, W)`` in [0, 1]:
    the statistics a dataset held in memory, or streamed from a folder, is standardised
    with (its training split's only)."""
    return (x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist())


def split_indices(labels: np.ndarray, val_frac: float, test_frac: float,
                  seed: int) -> dict[str, np.ndarray]:
    """Stratified train/val/test indices: every class keeps its share in every split."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels)
    present = counts[counts > 0]
    if len(present) < 2:
        raise DataError(f"the dataset has {len(present)} class(es); a classifier needs at "
                        "least 2")
    if present.min() < MIN_PER_CLASS:
        small = int(np.flatnonzero((counts > 0) & (counts < MIN_PER_CLASS))[0])
        raise DataError(f"class {small} has {counts[small]} images; every class needs at "
                        f"least {MIN_PER_CLASS} to be split into train, held-out and test: "
                        "add images or drop the class")
    idx = np.arange(len(labels))
    parts: dict[str, np.ndarray] = {}
    rest = idx
    if test_frac > 0:
        rest, parts["test"] = train_test_split(
            idx, test_size=test_frac, stratify=labels, random_state=seed)
    else:
        parts["test"] = idx[:0]
    val_share = val_frac / (1 - test_frac)
    parts["train"], parts["val"] = train_test_split(
        rest, test_size=val_share, stratify=labels[rest], random_state=seed + 1)
    return {k: np.sort(v) for k, v in parts.items()}


def _permutation(n: int, seed: int, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=g)


def batch_at(data: TensorData, batch_size: int, seed: int, step: int,
             shard: bool = True) -> TensorData:
    """The batch of ``step``: a pure function of ``(seed, step)``.

    Epoch ``e`` is a seeded permutation of the data cut into full batches (the last
    partial batch is dropped). Under torch.distributed every rank takes its own
    slice of the same global batch (what ``DistributedSampler`` does), so
    ``batch_size`` is the global batch; ``shard=False`` gives every rank all of it.
    """
    n = len(data)
    per_epoch = max(1, n // batch_size)
    epoch, i = divmod(step, per_epoch)
    idx = _permutation(n, seed, epoch)[i * batch_size:(i + 1) * batch_size]
    if shard:
        rank, world = rank_and_world()
        idx = idx[rank::world]
    idx = idx.to(data.y.device)
    return TensorData(data.x[idx], data.y[idx])


def _pad_crop_flip(x: Tensor, pad: int, seed: int, step: int, shard: bool) -> Tensor:
    """The standard CIFAR augmentation: zero-pad, random crop, random horizontal flip.

    The draws are those of the whole global batch of ``(seed, step)``; a rank keeps its
    slice, so N ranks augment as one process would.
    """
    import torch.nn.functional as F

    rank, world = rank_and_world() if shard else (0, 1)
    n, (h, w) = len(x), x.shape[-2:]
    g = torch.Generator().manual_seed(epoch_seed(seed, 10**9 + step))
    glob = n * world
    dy = torch.randint(0, 2 * pad + 1, (glob,), generator=g)[rank::world]
    dx = torch.randint(0, 2 * pad + 1, (glob,), generator=g)[rank::world]
    flip = (torch.rand(glob, generator=g) < 0.5)[rank::world]
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)  # (n, h)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)  # (n, w)
    cols = torch.where(flip[:, None].to(x.device), cols.flip(1), cols)
    out = padded[torch.arange(n, device=x.device)[:, None, None, None],
                 torch.arange(x.shape[1], device=x.device)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    return out


def iterate(data: TensorData, batch_size: int):
    """Consecutive batches in order (for evaluation)."""
    for i in range(0, len(data), batch_size):
        yield data.x[i:i + batch_size], data.y[i:i + batch_size]
