"""Small datasets held in memory: scikit-learn's digits, image folders, CIFAR-10.

Each is read whole into tensors, split three ways (stratified, seeded; see
:func:`~glitlib.data.source.split_indices`) and standardised with the statistics of
its training split only. The default data are scikit-learn's bundled 8x8
handwritten digits (1,797 images, shipped with the package, nothing downloaded).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError
from ..runtime.context import LoaderSettings
from .source import Splits, TensorData, channel_stats, split_indices

__all__ = ["load_digits", "load_image_folder", "load_cifar10", "read_cifar_batch"]


def _standardise(x: Tensor, train_idx: np.ndarray) -> Tensor:
    # Per-channel mean/std of the training split only: val and test stay unseen.
    from torchvision.transforms.functional import normalize

    return normalize(x, *channel_stats(x[torch.as_tensor(train_idx)]))


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


def _image_header(path: str) -> tuple[str, tuple[int, int]]:
    """An image's mode and size, read from its header (the file is closed at once)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.mode, im.size


def _image_pixels(path: str, mode: str) -> Tensor:
    """An image's pixels as a ``(C, H, W)`` uint8 tensor (the file is closed at once)."""
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    with Image.open(path) as im:
        return pil_to_tensor(im.convert(mode))


def load_image_folder(root: str | Path, seed: int = 0, val_frac: float = 0.2,
                      test_frac: float = 0.2, loader: LoaderSettings | None = None,
                      memory_limit: int | None = None) -> Splits:
    """A folder with one subfolder per class (torchvision ``ImageFolder``), split three ways.

    Images keep their own size (nothing is shrunk behind the user's back: the search
    space must fit them). They are kept in memory as float images up to
    ``memory_limit`` bytes (default :data:`~glitlib.data.folder_stream.MEMORY_LIMIT`,
    2 GiB: some 170,000 colour images of 32x32); a larger folder is streamed from disk
    through ``loader``'s workers, split and standardised the same way
    (:mod:`glitlib.data.folder_stream`). Each file is opened and closed in turn, so a
    folder of any number of files reads under any limit on open files. Colour images
    give 3 channels; a folder of only greyscale images gives 1.
    """
    from PIL import Image
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    from .folder_stream import MEMORY_LIMIT, stream_image_folder

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; give a folder with one "
                        "subfolder of images per class")
    path = str(root)
    try:
        classes, to_index = find_classes(path)
        samples = make_dataset(path, to_index, extensions=IMG_EXTENSIONS)
        headers = [_image_header(p) for p, _ in samples]
        sizes = {size: p for (_, size), (p, _) in zip(headers, samples)}
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = list(sizes.items())[:2]
            raise DataError(f"images in {root} have different sizes ({s1[0]}x{s1[1]} in "
                            f"{p1}, {s2[0]}x{s2[1]} in {p2}); resize them to one size")
        if len(classes) < 2:
            raise DataError(f"data folder {root} has {len(classes)} class folder(s); an "
                            "image folder needs at least 2")
        mode = "L" if all(m in _GREY_MODES for m, _ in headers) else "RGB"
        (width, height), channels = next(iter(sizes), (0, 0)), 1 if mode == "L" else 3
        if len(samples) * channels * width * height * 4 > (memory_limit or MEMORY_LIMIT):
            parts = split_indices(np.array([label for _, label in samples]), val_frac,
                                  test_frac, seed)
            return stream_image_folder(samples, classes, (height, width), mode,
                                       f"folder:{root.name}", parts, seed, loader)
        x = torch.stack([_image_pixels(file, mode) for file, _ in samples]).float() / 255.0
    except Image.DecompressionBombError as err:
        raise DataError(f"data folder {root} holds an image too large to decode safely "
                        f"({str(err)[:120]}); remove it or shrink it") from None
    except (FileNotFoundError, OSError) as err:
        first = str(err).splitlines()[0][:160]
        raise DataError(f"data folder {root} is not a readable image folder ({first}); give a "
                        "folder with one subfolder of images per class") from None
    y = torch.tensor([label for _, label in samples], dtype=torch.long)
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
    if len(y) != len(x):
        raise DataError(f"CIFAR-10 file {path} has {len(x)} images but {len(y)} labels; it is "
                        "malformed: fetch it again (--download)")
    if len(y) and (y.min() < 0 or y.max() > 9):
        bad = int(y[(y < 0) | (y > 9)][0])
        raise DataError(f"CIFAR-10 file {path} has a label {bad}, outside CIFAR-10's classes "
                        "0-9; it is malformed: fetch it again (--download)")
    return torch.from_numpy(x.copy()).float() / 255.0, y


def load_cifar10(root: str | Path, seed: int = 0, val_frac: float = 0.1,
                 download: bool = False) -> Splits:
    """CIFAR-10 from ``root/cifar-10-batches-py``; its own test batch is the test split.

    The training split is augmented as usual for CIFAR: a random crop of the image
    padded by 4 pixels, and a random left-right flip (:class:`TensorData`). The other
    in-memory datasets are not: digits and bands depend on where their strokes and
    bands are.

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

    test = TensorData(normalize(tx, *channel_stats(x)), ty)
    splits = _make_splits(x, y, "cifar10", seed, val_frac, 0.0, test=test)
    train = splits.train
    assert isinstance(train, TensorData)
    splits.train = replace(train, pad_crop_flip=4)  # random crop (padding 4) and flip
    return splits
