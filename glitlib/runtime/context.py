"""The runtime of a run: where and how it executes, built once where a command starts.

A :class:`Runtime` holds everything that changes *how* a run executes but never
*what* it computes: the device, the precision, progress bars, ``torch.compile``,
the data loader's workers. Settings that change the result live in the run's
config (``glitlib.config``); a runtime is passed down beside it, so no
function needs a loose ``device=..., progress=..., precision=...`` tail.
The rank and world size of a distributed run are read, not stored
(:mod:`glitlib.runtime.ranks`).
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field, replace

from ..errors import ConfigError
from . import ranks
from .device import check_device, check_precision

__all__ = ["LoaderSettings", "Runtime", "check_compile_backend"]


@dataclass(frozen=True)
class LoaderSettings:
    """How streamed images are read: ``DataLoader`` workers and their buffers.

    ``persistent_workers`` and ``prefetch_factor`` apply only with ``workers > 0``;
    ``pin_memory`` only where a CUDA GPU is present. ``cache`` keeps the held-out
    images decoded, resized and cropped (uint8) in memory after their first pass:
    the search scores every candidate on all of them, and decoding 50,000 JPEGs per
    candidate can take longer than the GPU takes to score them; it costs 7.5 GB per
    rank at 224 px. None of them changes a pixel.
    """

    workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = True
    prefetch_factor: int = 2
    cache: bool = False

    def __post_init__(self) -> None:
        if self.workers < 0 or self.prefetch_factor < 1:
            raise ConfigError(f"loader workers must be >= 0 and prefetch factor >= 1, got "
                              f"{self.workers} and {self.prefetch_factor}")


@dataclass(frozen=True)
class Runtime:
    """Where and how a run executes; the same run gives the same results under any runtime
    of the same device kind and thread count.

    ``progress=None`` shows bars on a terminal only. ``precision="bf16"`` trains and
    scores under bf16 autocast (GPUs). ``compile`` names a ``torch.compile`` backend
    for the retraining (the supernet never: its graph changes with every path).
    ``tensorboard`` also writes the training metrics for TensorBoard (an optional extra).
    """

    device: str = "cpu"
    precision: str = "fp32"
    progress: bool | None = None
    compile: str | None = None
    loader: LoaderSettings = field(default_factory=LoaderSettings)
    tensorboard: bool = False
    dist_timeout: float = 1800.0  # seconds a collective waits for every rank

    def __post_init__(self) -> None:
        check_precision(self.precision)

    @property
    def rank(self) -> int:
        return ranks.rank_and_world()[0]

    @property
    def world(self) -> int:
        return ranks.rank_and_world()[1]

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the rank that writes files and prints."""
        return self.rank == 0

    def check(self) -> Runtime:
        """Refuse, before any work, a device or ``torch.compile`` backend not usable here,
        or TensorBoard when its package is missing."""
        check_device(self.device)
        check_compile_backend(self.compile)
        if self.tensorboard:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise ConfigError("--tensorboard needs the tensorboard package: pip install "
                                  "tensorboard (or glitlib[tensorboard])")
        return self

    def quiet(self) -> Runtime:
        """The same runtime without progress bars (for inner loops of a larger study)."""
        return replace(self, progress=False)

    def start(self) -> Runtime:
        """Check the device and backend, join torchrun's process group; this rank's runtime.

        Under torchrun every rank runs the command: ``cuda`` becomes this rank's
        ``cuda:LOCAL_RANK``, and only rank 0 shows progress.
        """
        self.check()
        device = ranks.init_from_env(self.device, self.dist_timeout)
        if device.startswith("cuda"):
            import torch  # TF32 where fp32 remains: matmuls and convolutions on Ampere+

            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        atexit.register(ranks.shutdown)
        progress = self.progress if ranks.is_main() else False
        return replace(self, device=device, progress=progress)


def check_compile_backend(name: str | None) -> None:
    """``name`` must be a ``torch.compile`` backend here, checked before any training."""
    if name is None:
        return
    import torch

    known = torch.compiler.list_backends(exclude_tags=())
    if name not in known:
        raise ConfigError(f"--compile {name!r} is not a torch.compile backend here; use "
                          f"inductor (the default) or one of {', '.join(sorted(known)[:6])}, ...")
