"""Datasets as in-memory tensors, split three ways, batched without a DataLoader.

Three disjoint, stratified, seeded splits, as GLiT does on ImageNet:

* ``train`` -- trains the supernet and the retrained candidates;
* ``val``   -- held out from the training data; the search scores candidates on it
  (GLiT holds 50k ImageNet training images out for this);
* ``test``  -- touched only for the final number of the chosen architecture.

The default data are scikit-learn's bundled 8x8 handwritten digits (1,797 images,
shipped with the package, nothing downloaded). Batches are a pure function of
``(seed, step)``, so a resumed run sees exactly the batches an uninterrupted one
would, and every rank of a distributed run can take its own shard of the same
permutation.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from .errors import DataError

__all__ = ["BatchSource", "TensorData", "Splits", "split_indices", "load_digits",
           "load_image_folder", "load_cifar10", "load_dataset", "batch_at", "iterate",
           "rank_and_world", "read_cifar_batch", "MIN_PER_CLASS"]

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

    def to(self, device: str | torch.device) -> BatchSource: ...


@dataclass
class TensorData:
    """Images ``x`` (B, C, H, W) float and labels ``y`` (B,) long, on one device.

    The in-memory :class:`BatchSource`: small datasets (digits, CIFAR-10, small folders).
    """

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0

    def to(self, device: str | torch.device) -> TensorData:
        return TensorData(self.x.to(device), self.y.to(device))

    def batches(self, batch_size: int, seed: int, start: int, stop: int,
                shard: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
        for step in range(start, stop):
            b = batch_at(self, batch_size, seed, step, shard)
            yield b.x, b.y

    def in_order(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        return iterate(self, batch_size)


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


def _channel_stats(x: Tensor) -> tuple[list[float], list[float]]:
    return (x.mean(dim=(0, 2, 3)).tolist(),
            x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist())


def _standardise(x: Tensor, train_idx: np.ndarray) -> Tensor:
    # Per-channel mean/std of the training split only: val and test stay unseen.
    from torchvision.transforms.functional import normalize

    return normalize(x, *_channel_stats(x[torch.as_tensor(train_idx)]))


def _make_splits(x: Tensor, y: Tensor, name: str, seed: int, val_frac: float,
                 test_frac: float, test: TensorData | None = None) -> Splits:
    parts = split_indices(y.numpy(), val_frac, 0.0 if test is not None else test_frac, seed)
    x = _standardise(x, parts["train"])
    take = {k: TensorData(x[torch.as_tensor(v)], y[torch.as_tensor(v)])
            for k, v in parts.items()}
    return Splits(take["train"], take["val"], test or take["test"], name,
                  {k: v.tolist() for k, v in parts.items()})


def load_digits(seed: int = 0, val_frac: float = 0.2, test_frac: float = 0.2) -> Splits:
    """scikit-learn's digits: 1,797 8x8 grey images, 10 classes, bundled on disk."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    return _make_splits(x, y, "digits", seed, val_frac, test_frac)


_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def load_image_folder(root: str | Path, seed: int = 0, val_frac: float = 0.2,
                      test_frac: float = 0.2) -> Splits:
    """A folder with one subfolder per class (torchvision ``ImageFolder``), split three ways.

    Images keep their own size (nothing is shrunk behind the user's back: the search
    space must fit them) and are kept in memory, which suits folders of up to a few
    hundred thousand small images. Colour images give 3 channels; a folder of only
    greyscale images gives 1.
    """
    from PIL import Image
    from torchvision import datasets
    from torchvision.transforms.functional import pil_to_tensor

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; give a folder with one "
                        "subfolder of images per class")
    try:
        ds = datasets.ImageFolder(str(root), loader=Image.open)
        images = [(Image.open(path), label) for path, label in ds.samples]
        grey = all(im.mode in _GREY_MODES for im, _ in images)
        sizes = {im.size: path for (im, _), (path, _) in zip(images, ds.samples)}
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = list(sizes.items())[:2]
            raise DataError(f"images in {root} have different sizes ({s1[0]}x{s1[1]} in "
                            f"{p1}, {s2[0]}x{s2[1]} in {p2}); resize them to one size")
        x = torch.stack([pil_to_tensor(im.convert("L" if grey else "RGB"))
                         for im, _ in images]).float() / 255.0
    except (FileNotFoundError, OSError) as err:
        first = str(err).splitlines()[0][:160]
        raise DataError(f"data folder {root} is not a readable image folder ({first}); give a "
                        "folder with one subfolder of images per class") from None
    if len(ds.classes) < 2:
        raise DataError(f"data folder {root} has {len(ds.classes)} class folder(s); an image "
                        "folder needs at least 2")
    y = torch.tensor([label for _, label in images], dtype=torch.long)
    return _make_splits(x, y, f"folder:{root.name}", seed, val_frac, test_frac)


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what CIFAR-10's python batches hold: dicts, lists, str, bytes, ints
    and numpy arrays. Any other global (``os.system``, ...) is refused, so a crafted
    file cannot run code; torchvision's reader calls plain ``pickle.load``."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                             "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[Tensor, Tensor]:
    """One CIFAR-10 python batch: images (N, 3, 32, 32) in [0, 1] and labels."""
    try:
        d = _CifarUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = torch.tensor(np.asarray(d[b"labels"], dtype=np.int64))
    except (pickle.UnpicklingError, KeyError, ValueError, TypeError, EOFError,
            IndexError, AttributeError) as err:
        raise DataError(f"CIFAR-10 file {path} is malformed ({str(err)[:100]}); delete the "
                        "folder and pass --download, or point --data to a good copy") from None
    if len(y) != len(x) or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise DataError(f"CIFAR-10 file {path} has {len(x)} images but {len(y)} labels in "
                        "0-9; it is malformed: fetch it again (--download)")
    return torch.from_numpy(x.copy()).float() / 255.0, y


def load_cifar10(root: str | Path, seed: int = 0, val_frac: float = 0.1,
                 download: bool = False) -> Splits:
    """CIFAR-10 from ``root/cifar-10-batches-py``; its own test batch is the test split.

    Downloads (through torchvision) only when ``download`` is true; reads the
    files with a restricted unpickler (:func:`read_cifar_batch`).
    """
    root = Path(root)
    base = root / "cifar-10-batches-py"
    if download and not base.is_dir():
        from torchvision.datasets import CIFAR10
        CIFAR10(str(root), download=True)
    names = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [n for n in [*names, "test_batch"] if not (base / n).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 not found in {base} (missing {missing[0]}); pass "
                        "--download to fetch it, or --data to the folder holding it")
    parts = [read_cifar_batch(base / n) for n in names]
    tx, ty = read_cifar_batch(base / "test_batch")
    x, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    from torchvision.transforms.functional import normalize

    test = TensorData(normalize(tx, *_channel_stats(x)), ty)
    return _make_splits(x, y, "cifar10", seed, val_frac, 0.0, test=test)


def load_dataset(name: str, seed: int = 0, data_dir: str | None = None,
                 download: bool = False, img_size: int = 224,
                 heldout_per_class: int | None = None, loader: Any = None) -> Splits:
    """``digits`` (bundled), ``cifar10``, ``folder`` or ``imagenet`` (``data_dir``).

    ``imagenet`` streams from its folder at ``img_size`` (the others are read into
    memory at their own size), holds ``heldout_per_class`` images per class out of
    train (default: GLiT's 50) and reads with ``loader``
    (:class:`glitlib.imagenet.LoaderSettings`).
    """
    if name == "digits":
        return load_digits(seed)
    if data_dir is None:
        raise DataError(f"dataset {name!r} needs a data folder: pass --data DIR")
    if name == "cifar10":
        return load_cifar10(data_dir, seed, download=download)
    if name == "folder":
        return load_image_folder(data_dir, seed)
    if name == "imagenet":
        from .imagenet import load_imagenet

        extra = {"loader": loader} if loader is not None else {}
        if heldout_per_class is not None:
            extra["heldout_per_class"] = heldout_per_class
        return load_imagenet(data_dir, seed, img_size, **extra)
    raise DataError(f"unknown dataset {name!r}; choose digits, cifar10, folder or imagenet")


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size (0, 1 without torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _permutation(n: int, seed: int, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
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


def iterate(data: TensorData, batch_size: int):
    """Consecutive batches in order (for evaluation)."""
    for i in range(0, len(data), batch_size):
        yield data.x[i:i + batch_size], data.y[i:i + batch_size]
