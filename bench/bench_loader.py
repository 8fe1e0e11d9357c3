"""ImageNet's data path: images per second per loading process, training and evaluation.

On ImageNet the GPUs wait for the CPUs unless enough processes decode JPEGs:
every training image is decoded, cropped, RandAugmented and erased in a
``DataLoader`` worker, every held-out image decoded, resized and centre-cropped.
This measures how many images per second one such process delivers, so that
the cores a GPU needs follow from the rate the GPU consumes them at.

The images are an ImageNet-size stand-in written by glitlib's own writer
(:func:`glitlib.data.standin.write_standin`) into a temporary folder: real
JPEGs of about ``--size`` pixels a side (each side drawn within +-20 %; the
default 440 gives about ImageNet's typical 500 x 375 pixels per photo), read
through :class:`glitlib.data.imagenet.StreamingSource`, the class the search
streams ImageNet with, under its two transforms:

* ``train``: DeiT's augmentation (random resized crop, flip, RandAugment
  ``rand-m9-mstd0.5-inc1``, random erasing), seeded per image;
* ``eval``: resize 256, centre crop 224 (the held-out and test images).

for 0, 1 and 2 workers (0: the main process decodes), and two outputs:
``uint8``, what glitlib ships (normalised on the device), and ``float32``,
the same images normalised inside the worker, for comparison: four times the
bytes through the workers' shared memory. Rounds alternate between the
settings (a shared host's speed changes from minute to minute); each figure
is the median over rounds. ``per process`` is images/s divided by the
processes that decode (the workers, or the main process with 0 workers).

    python bench/bench_loader.py [--images 160] [--size 440] [--batch 32]
        [--rounds 3] [--workers 0 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import PIL
import timm
import torch
from torch import Tensor

from glitlib.data.imagenet import StreamingSource, normalize
from glitlib.data.standin import write_standin
from glitlib.runtime.context import LoaderSettings

CLASSES = 4
TRANSFORMS = ("train", "eval")
OUTPUTS = ("uint8", "float32")


class _Normalised(torch.utils.data.Dataset):
    """The source's own dataset, each image normalised to float inside the worker."""

    def __init__(self, inner: torch.utils.data.Dataset):
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, item: Any) -> Any:
        got = self.inner[item]
        if not isinstance(got, tuple):  # an unreadable file: passed on as it is
            return got
        x, y = got
        return normalize(x[None])[0], y


def write_photos(root: Path, images: int, size: int) -> tuple[list[tuple[str, int]], dict]:
    """A stand-in of ``images`` training photos; its samples and what the photos are like."""
    from PIL import Image

    write_standin(root, classes=CLASSES, train_per_class=images // CLASSES, val_per_class=1,
                  size=size, seed=0)
    files = sorted((root / "train").glob("*/*.JPEG"))
    wnids = sorted({f.parent.name for f in files})
    samples = [(str(f), wnids.index(f.parent.name)) for f in files]
    dims = []
    for f in files:
        with Image.open(f) as im:
            dims.append(im.size)
    return samples, {
        "images": len(files),
        "mean_width": round(statistics.mean(w for w, _ in dims)),
        "mean_height": round(statistics.mean(h for _, h in dims)),
        "mean_kib": round(statistics.mean(f.stat().st_size for f in files) / 1024, 1),
    }


def make_source(samples: list[tuple[str, int]], transform: str, workers: int,
                output: str) -> StreamingSource:
    """A source as the search builds it, with ``workers`` persistent loader workers."""
    src = StreamingSource(samples, [str(c) for c in range(CLASSES)], 224,
                          augment=transform == "train", repeats=0,
                          loader=LoaderSettings(workers=workers))
    if output == "float32":
        src._dataset = _Normalised(src._dataset)  # type: ignore[assignment]
    return src


def one_pass(src: StreamingSource, batch: int, round_: int) -> Callable[[], int]:
    """Reading every image once: the training batches of one epoch (new augmentations
    each round), or the evaluation pass in file order. Returns the images read."""
    steps = len(src) // batch

    def run() -> int:
        it: Iterator[tuple[Tensor, Tensor]]
        if src.augment:
            it = src.batches(batch, seed=0, start=round_ * steps, stop=(round_ + 1) * steps,
                             shard=False)
        else:
            it = src.in_order(batch)
        return sum(len(y) for _, y in it)
    return run


def measure(sources: dict[tuple[str, int, str], StreamingSource], batch: int,
            rounds: int) -> dict[tuple[str, int, str], float]:
    """Median images/s of each setting; one warm-up pass (workers start), then rounds
    that alternate the order of the settings."""
    for src in sources.values():
        one_pass(src, batch, 0)()
    rates: dict[tuple[str, int, str], list[float]] = {k: [] for k in sources}
    for r in range(rounds):
        order = list(sources) if r % 2 == 0 else list(reversed(sources))
        for key in order:
            clock = time.perf_counter()
            n = one_pass(sources[key], batch, r + 1)()
            rates[key].append(n / (time.perf_counter() - clock))
    return {k: statistics.median(v) for k, v in rates.items()}


def rows(rates: dict[tuple[str, int, str], float]) -> list[dict[str, Any]]:
    """One row per setting: images/s in all and per decoding process."""
    return [{"transform": t, "workers": w, "output": o, "img_per_s": round(v, 1),
             "img_per_s_per_process": round(v / max(1, w), 1)}
            for (t, w, o), v in rates.items()]


def table(result: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| transform | workers | output | img/s | img/s per process |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['transform']} | {r['workers']} | {r['output']} | {r['img_per_s']:.1f} "
              f"| {r['img_per_s_per_process']:.1f} |" for r in result]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=160, help="photos in the stand-in")
    p.add_argument("--size", type=int, default=440, help="about this many pixels a side")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the main process (workers always use one)")
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="glit-bench-loader-") as tmp:
        samples, photos = write_photos(Path(tmp), args.images, args.size)
        sources = {(t, w, o): make_source(samples, t, w, o)
                   for t in TRANSFORMS for w in args.workers for o in OUTPUTS}
        result = rows(measure(sources, args.batch, args.rounds))
    print(table(result))
    line = json.dumps({
        "bench": "loader", "device": f"CPU ({platform.processor() or platform.machine()})",
        "torch": torch.__version__, "timm": timm.__version__, "pillow": PIL.__version__,
        "batch": args.batch, "rounds": args.rounds, "photos": photos, "results": result})
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")


if __name__ == "__main__":
    main()
