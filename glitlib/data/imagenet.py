"""ImageNet for the search and retraining: streamed from disk, split as GLiT does.

GLiT searches on ImageNet but never scores candidates on the official validation
set: it holds 50,000 training images out (50 per class) as the search's held-out
set and keeps ``val/`` for the final numbers. :func:`load_imagenet` does the same:

* ``train`` -- ``train/`` minus the held-out images, with DeiT's augmentation
  (RandAugment, random erasing, repeated augmentation), from timm;
* ``val``   -- the held-out training images, resized and centre-cropped;
* ``test``  -- ``val/``, resized and centre-cropped.

1.28 million photos do not fit in memory, so each split is a
:class:`StreamingSource` that decodes JPEGs in ``DataLoader`` workers. It keeps the
promise of every :class:`~glitlib.data.source.BatchSource`: the batch of a step is a pure
function of ``(seed, step)``. The images of a step come from the epoch order of
timm's ``RepeatAugSampler``, seeded by ``(seed, epoch)``, and each image of the
global batch is augmented under its own seed, drawn from ``(seed, step, position)``.
So a run killed and resumed reads exactly the pixels it would have read, whatever
the number of workers or ranks.

The held-out images are chosen in :mod:`glitlib.data.heldout`; a tiny stand-in in
ImageNet's layout is written by :func:`glitlib.data.standin.write_standin`.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..runtime.context import LoaderSettings
from ..runtime.ranks import differing_ranks, rank_and_world
from ..runtime.seeds import epoch_seed, numpy_rng
from .heldout import heldout_indices
from .source import Splits

__all__ = ["make_transforms", "StreamingSource", "load_imagenet", "imagenet_val"]

_DEFAULT_LOADER = LoaderSettings()


_HINT = ("it needs train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (glitlib.data.standin."
         "write_standin writes a small stand-in)")


def _posterize(img: Any, bits_to_keep: int, **_: Any) -> Any:
    """RandAugment's posterize, keeping 0 bits as a black image.

    At magnitude 10 (m9 plus its random spread reaches it now and then) timm asks to
    keep 0 bits; Pillow 13 refuses that, where the Pillow DeiT trained with, like
    TensorFlow's RandAugment, gave a black image.
    """
    from PIL import ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return img.point(lambda _: 0)
    return ImageOps.posterize(img, bits_to_keep)


MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as timm's
ERASE_PROB = 0.25  # DeiT's random erasing: one box, per-pixel noise


def make_transforms(img_size: int) -> tuple[Callable, Callable]:
    """DeiT's training augmentation and its evaluation resize + centre crop (timm), both
    ending in ``uint8`` tensors: normalising happens on the device
    (:meth:`StreamingSource.prepare`), as timm's prefetching loader does, so a worker
    ships a quarter of the bytes."""
    from timm.data import create_transform

    train = create_transform(img_size, is_training=True, auto_augment="rand-m9-mstd0.5-inc1",
                             interpolation="bicubic", color_jitter=0.3, use_prefetcher=True)
    evaluate = create_transform(img_size, is_training=False, crop_pct=0.875,
                                interpolation="bicubic", use_prefetcher=True)
    for step in train.transforms:
        for op in getattr(step, "ops", ()):
            if op.name == "PosterizeIncreasing":
                op.aug_fn = _posterize
    return train, evaluate


def erase(x: Tensor, rng: random.Random, prob: float = ERASE_PROB) -> Tensor:
    """DeiT's random erasing on a ``uint8`` image ``(C, H, W)``: with probability ``prob``
    one box of 2 % to 1/3 of the image, aspect 0.3 to 3.3, filled with per-pixel noise.

    timm draws the noise as N(0, 1) in normalised space; here it is the same noise mapped
    back to pixels (``(n * std + mean) * 255``, clipped to 0-255), so the image can stay
    ``uint8`` until it reaches the device. ``rng`` is the image's own generator.
    """
    if rng.random() > prob:
        return x
    _, h, w = x.shape
    for _ in range(10):
        area = rng.uniform(0.02, 1 / 3) * h * w
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(1 / 0.3)))
        eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if ew < w and eh < h:
            top, left = rng.randint(0, h - eh), rng.randint(0, w - ew)
            g = torch.Generator().manual_seed(rng.getrandbits(63))
            noise = torch.randn((x.shape[0], eh, ew), generator=g)
            mean = torch.tensor(MEAN).view(-1, 1, 1)
            std = torch.tensor(STD).view(-1, 1, 1)
            pixels = ((noise * std + mean) * 255).round().clamp_(0, 255).to(torch.uint8)
            x = x.clone()
            x[:, top:top + eh, left:left + ew] = pixels
            return x
    return x


def normalize(x: Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> Tensor:
    """``uint8`` images on any device to the float, normalised images a model reads (in
    place on a fresh float tensor); ``mean``/``std`` per channel in [0, 1], ImageNet's by
    default."""
    shape = (1, -1, 1, 1)
    m = torch.tensor(mean, device=x.device).view(shape) * 255
    s = torch.tensor(std, device=x.device).view(shape) * 255
    return x.float().sub_(m).div_(s)


@dataclass(frozen=True)
class _Unreadable:
    """Stands for a batch holding a file PIL cannot decode (raised in the main process,
    so the error stays one line whether or not a worker read it)."""

    path: str
    why: str


class _Photos(torch.utils.data.Dataset):
    """Decodes ``samples[i]`` and transforms it under the item's own seed.

    An item is ``(index, sample_seed)``; ``sample_seed`` None means the evaluation
    transform. The transform's randomness (``random``, ``numpy``, ``torch``) is seeded
    from ``sample_seed`` and the caller's random states are put back afterwards.
    """

    def __init__(self, samples: Sequence[tuple[str, int]], augment: Callable | None,
                 evaluate: Callable, mode: str = "RGB") -> None:
        self.samples, self.augment, self.evaluate = list(samples), augment, evaluate
        self.mode = mode  # PIL's: "RGB", or "L" for a folder of grey images

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: tuple[int, int | None]) -> tuple[Tensor, int] | _Unreadable:
        from PIL import Image

        index, sample_seed = item
        path, label = self.samples[index]
        try:
            with Image.open(path) as im:
                img = im.convert(self.mode)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            return _Unreadable(path, (str(err).splitlines() or [type(err).__name__])[0][:120])
        if sample_seed is None or self.augment is None:
            return self.evaluate(img), label
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                random.seed(sample_seed)
                np.random.seed(sample_seed % 2**32)
                torch.manual_seed(sample_seed)
                x = self.augment(img)
            return erase(x, random.Random(sample_seed ^ 0x5EED)), label
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _collate(items: list[Any]) -> tuple[Tensor, Tensor] | _Unreadable:
    for item in items:
        if isinstance(item, _Unreadable):
            return item
    return (torch.stack([x for x, _ in items]),
            torch.tensor([y for _, y in items], dtype=torch.long))


def _readable(batch: tuple[Tensor, Tensor] | _Unreadable) -> tuple[Tensor, Tensor]:
    """The batch, or one line naming the file that could not be decoded."""
    if isinstance(batch, _Unreadable):
        raise DataError(f"image {batch.path} cannot be read ({batch.why}); replace or "
                        "delete that file")
    return batch


class _Plan:
    """A batch sampler whose batches are set before each pass over the loader.

    One ``DataLoader`` (and its persistent workers) then serves every call: the
    plan is a function yielding lists of ``(index, sample_seed)``, read lazily.
    """

    def __init__(self) -> None:
        self.make: Callable[[], Iterator[list[tuple[int, int | None]]]] = lambda: iter(())
        self.count = 0

    def set(self, make: Callable[[], Iterator[list[tuple[int, int | None]]]],
            count: int) -> None:
        self.make, self.count = make, count

    def __iter__(self) -> Iterator[list[tuple[int, int | None]]]:
        return self.make()

    def __len__(self) -> int:
        return self.count


class StreamingSource:
    """Images on disk as a :class:`~glitlib.data.source.BatchSource`, read by a ``DataLoader``.

    ``samples``: ``(path, label)`` pairs; ``classes``: the class names (all of them,
    so ``num_classes`` holds even for a subset). ``augment``: DeiT's training
    augmentation in :meth:`batches` (the train split), or the evaluation transform
    (held-out and test). ``repeats``: repeated augmentation as in DeiT (timm's
    ``RepeatAugSampler``); 0 or 1 gives a plain seeded permutation. ``root``: the
    folder the paths are relative to (for ``heldout_record``).
    """

    def __init__(self, samples: Sequence[tuple[str, int]], classes: Sequence[str],
                 img_size: int = 224, augment: bool = False, repeats: int = 3,
                 loader: LoaderSettings = _DEFAULT_LOADER,
                 root: str | Path | None = None) -> None:
        if img_size < 1 or repeats < 0:
            raise ConfigError(f"image size must be >= 1 and repeats >= 0, got {img_size} "
                              f"and {repeats}")
        self.samples = list(samples)
        self.classes = list(classes)
        self.img_size, self.augment, self.repeats = img_size, augment, repeats
        self.settings, self.root = loader, Path(root) if root is not None else None
        self.heldout: dict[str, int] | None = None  # seed and per_class, on a held-out split
        train_tf, eval_tf = make_transforms(img_size)
        self._dataset = _Photos(self.samples, train_tf if augment else None, eval_tf)
        self._plan = _Plan()
        self._loader: torch.utils.data.DataLoader | None = None
        self._busy = False
        self._order: tuple[tuple[int, int], list[int]] | None = None
        self._sampler: Any = None
        self._pixels: tuple[Tensor, Tensor] | None = None  # the cache: uint8 images, labels

    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:
        return (f"StreamingSource({len(self)} images, {self.num_classes} classes, "
                f"{self.img_size}px, augment={self.augment}, repeats={self.repeats})")

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, self.img_size, self.img_size)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.samples]

    def subset(self, indices: list[int]) -> StreamingSource:
        """The images at ``indices``, read with the same transform and loader settings."""
        part = StreamingSource([self.samples[i] for i in indices], self.classes,
                               self.img_size, self.augment, self.repeats, self.settings,
                               self.root)
        part.heldout = self.heldout
        return part

    def to(self, device: str | torch.device) -> StreamingSource:
        return self  # batches come on the CPU (pinned if asked); the reader moves them

    # -- which images, in which order ----------------------------------------------
    def epoch_order(self, seed: int, epoch: int) -> list[int]:
        """The global order of an epoch: ``RepeatAugSampler`` on one replica (each
        image ``repeats`` times in a row, as many as there are images) or, with
        ``repeats`` 0 or 1, a seeded permutation."""
        if self._order is not None and self._order[0] == (seed, epoch):
            return self._order[1]
        if self.repeats <= 1:
            g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
            order = torch.randperm(len(self), generator=g).tolist()
        else:
            sampler = self._repeat_sampler()
            sampler.set_epoch(epoch_seed(seed, epoch))
            order = list(sampler)
        self._order = ((seed, epoch), order)
        return order

    def _repeat_sampler(self) -> Any:
        if self._sampler is None:
            from timm.data.distributed_sampler import RepeatAugSampler

            self._sampler = RepeatAugSampler(range(len(self)), num_replicas=1, rank=0,
                                             num_repeats=self.repeats)
        return self._sampler

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full global batches in an epoch (the last partial one is dropped).

        With repeated augmentation an epoch holds as many images as the split, rounded
        down to a multiple of 256 when it has at least 256 (timm's ``selected_round``).
        """
        per_epoch = len(self) if self.repeats <= 1 else len(self._repeat_sampler())
        return max(1, per_epoch // batch_size)

    def batch_items(self, batch_size: int, seed: int, step: int) -> list[tuple[int, int]]:
        """The global batch of ``step``: ``(index, sample_seed)`` per image."""
        epoch, i = divmod(step, self.steps_per_epoch(batch_size))
        idx = self.epoch_order(seed, epoch)[i * batch_size:(i + 1) * batch_size]
        seeds = numpy_rng(seed, step).integers(0, 2**63, len(idx))
        return list(zip(idx, (int(s) for s in seeds)))

    # -- reading --------------------------------------------------------------------
    def batches(self, batch_size: int, seed: int, start: int, stop: int,
                shard: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
        """Global batches of steps ``start`` .. ``stop - 1``; this rank's slice with
        ``shard`` (rank r of w takes ``global_batch[r::w]``, as
        :func:`~glitlib.data.source.batch_at` does)."""
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        rank, world = rank_and_world() if shard else (0, 1)
        if batch_size < world:
            raise ConfigError(f"batch size {batch_size} is smaller than the {world} ranks; "
                              "use a global batch of at least one image per rank")

        def plan() -> Iterator[list[tuple[int, int | None]]]:
            for step in range(start, stop):
                yield list(self.batch_items(batch_size, seed, step)[rank::world])
        return self._stream(plan, max(0, stop - start))

    def in_order(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Every image once, in file order, resized and centre-cropped."""
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        if self.settings.cache:
            return self._from_cache(batch_size)
        n = len(self)

        def plan() -> Iterator[list[tuple[int, int | None]]]:
            for i in range(0, n, batch_size):
                yield [(j, None) for j in range(i, min(n, i + batch_size))]
        return self._stream(plan, -(-n // batch_size))

    def _from_cache(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """``in_order`` from pixels decoded once; the same tensors the transform gives."""
        if self._pixels is None:
            self._pixels = self._decode_all()
        pixels, labels = self._pixels
        for i in range(0, len(self), batch_size):
            yield pixels[i:i + batch_size], labels[i:i + batch_size]

    def prepare(self, x: Tensor) -> Tensor:
        """A batch as the model reads it: ``uint8`` in, normalised float out, on the
        device the batch was moved to."""
        return normalize(x)

    def _decode_all(self) -> tuple[Tensor, Tensor]:
        uint8 = _Photos(self.samples, None, self._dataset.evaluate, self._dataset.mode)
        plan = _Plan()
        chunk = 256
        plan.set(lambda: ([(j, None) for j in range(i, min(len(self), i + chunk))]
                          for i in range(0, len(self), chunk)), -(-len(self) // chunk))
        pixels = torch.empty((len(self), *self.shape), dtype=torch.uint8)
        labels = torch.empty(len(self), dtype=torch.long)
        at = 0
        for batch in self._new_loader(plan, persistent=False, dataset=uint8):
            x, y = _readable(batch)
            pixels[at:at + len(y)], labels[at:at + len(y)] = x, y
            at += len(y)
        return pixels, labels

    def _new_loader(self, plan: _Plan, persistent: bool,
                    dataset: _Photos | None = None) -> torch.utils.data.DataLoader:
        s = self.settings
        extra: dict[str, Any] = {}
        if s.workers > 0:
            extra = {"persistent_workers": persistent and s.persistent_workers,
                     "prefetch_factor": s.prefetch_factor}
        # Its own generator: creating an iterator must not draw from the global RNG.
        return torch.utils.data.DataLoader(
            self._dataset if dataset is None else dataset, batch_sampler=plan,
            num_workers=s.workers, collate_fn=_collate,
            pin_memory=s.pin_memory and torch.cuda.is_available(),
            generator=torch.Generator(), **extra)

    def _stream(self, make: Callable[[], Iterator[list[tuple[int, int | None]]]],
                count: int) -> Iterator[tuple[Tensor, Tensor]]:
        if self._busy:  # another pass over this source is under way: a loader of its own
            plan = _Plan()
            loader = self._new_loader(plan, persistent=False)
        else:
            if self._loader is None:
                self._loader = self._new_loader(self._plan, persistent=True)
            plan, loader = self._plan, self._loader
            self._busy = True
        try:
            plan.set(make, count)
            for batch in loader:
                yield _readable(batch)
        finally:
            if loader is self._loader:
                self._busy = False


def _scan(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names and ``(path, label)`` pairs of an ImageFolder, nothing decoded."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    try:
        classes, class_to_idx = find_classes(folder)
    except FileNotFoundError:
        raise DataError(f"{folder} has no class folders; {_HINT}") from None
    samples = make_dataset(folder, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    counts = np.bincount([label for _, label in samples], minlength=len(classes))
    if (counts == 0).any():
        empty = classes[int(np.flatnonzero(counts == 0)[0])]
        raise DataError(f"class folder {folder / empty} holds no images; add images or "
                        "remove that folder (from train/ and val/)")
    return classes, samples


def _same_files_on_every_rank(root: Path, samples: list[tuple[str, int]]) -> None:
    """Every rank must see the same files: node-local copies that differ would train and
    score each rank on other images."""
    names = "\n".join(f"{Path(p).relative_to(root).as_posix()} {y}" for p, y in samples)
    digest = hashlib.sha256(names.encode()).hexdigest()
    differ = differing_ranks(digest)
    if differ:
        raise DataError(f"rank {differ[0]} sees other files in {root} than rank 0 "
                        f"({len(differ)} rank(s) differ); give every node the same copy of "
                        "ImageNet (the same train/ and val/ folders)")


def load_imagenet(root: str | Path, seed: int = 0, img_size: int = 224,
                  heldout_per_class: int = 50, repeats: int = 3,
                  loader: LoaderSettings = _DEFAULT_LOADER) -> Splits:
    """ImageNet (``root/train``, ``root/val``) split as GLiT does, streamed from disk.

    ``heldout_per_class`` training images per class (drawn with ``seed``) become the
    search's held-out split ``val``; ``root/val`` becomes ``test``. Only file names
    are read here. ``indices``: positions in ``root/train`` (train, val) and in
    ``root/val`` (test).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"ImageNet folder {root} does not exist; point --data to the folder "
                        f"holding train/ and val/: {_HINT}")
    for part in ("train", "val"):
        if not (root / part).is_dir():
            raise DataError(f"ImageNet folder {root} has no {part}/ folder; {_HINT}")
    classes, train_samples = _scan(root / "train")
    val_classes, val_samples = _scan(root / "val")
    if val_classes != classes:
        only_train = sorted(set(classes) - set(val_classes))
        only_val = sorted(set(val_classes) - set(classes))
        what = (f"{only_train[0]} only in train/" if only_train else
                f"{only_val[0]} only in val/")
        raise DataError(f"{root}/val and {root}/train have different class folders ({what}, "
                        f"{len(only_train) + len(only_val)} differing); give both the same "
                        "classes")
    _same_files_on_every_rank(root, train_samples + val_samples)
    held = heldout_indices([label for _, label in train_samples], heldout_per_class, seed,
                           classes)
    held_set = set(held)
    keep = [i for i in range(len(train_samples)) if i not in held_set]

    def source(samples: list[tuple[str, int]], augment: bool, folder: str) -> StreamingSource:
        return StreamingSource(samples, classes, img_size, augment, repeats if augment else 0,
                               loader, root / folder)

    train = source([train_samples[i] for i in keep], True, "train")
    val = source([train_samples[i] for i in held], False, "train")
    val.heldout = {"seed": seed, "per_class": heldout_per_class}
    test = source(val_samples, False, "val")
    test.settings = replace(loader, cache=False)  # read once: nothing to cache
    return Splits(train, val, test, "imagenet",
                  {"train": keep, "val": held, "test": list(range(len(val_samples)))})


def imagenet_val(root: str | Path, img_size: int = 224,
                 loader: LoaderSettings = _DEFAULT_LOADER) -> StreamingSource:
    """ImageNet's official validation images (``root/val``), for scoring a trained model.

    Only ``val/`` is read: no held-out split, nothing from ``train/``.
    """
    root = Path(root)
    if not (root / "val").is_dir():
        raise DataError(f"ImageNet folder {root} has no val/ folder; {_HINT}")
    classes, samples = _scan(root / "val")
    return StreamingSource(samples, classes, img_size, False, 0, loader, root / "val")
