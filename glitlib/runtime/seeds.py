"""Every seed a run derives from its one ``seed``: one home, one rule per purpose.

A run is a pure function of ``(seed, step)``: a path, a batch, an augmentation,
a generation of evolution each draw from a generator owned by their purpose and
their position, never from a shared stream. So a resumed run draws exactly what
an uninterrupted one draws, every rank of a distributed run draws the same path,
and scoring one candidate never changes the next one's score.

The purposes and their generators:

* :func:`rng` -- Python's ``random.Random`` for one ``(purpose, *numbers)``: supernet
  paths (``"path"``), a generation of evolution (``"evolution"``), the candidates
  retrained only to measure ranking, bootstrap resampling, check samples;
* :func:`seed_step` -- torch's and numpy's global generators at one training step
  (dropout, drop path, mixup);
* :func:`epoch_seed` -- the permutation of the training images in one epoch;
* :func:`numpy_rng` -- numpy generators for per-image augmentation and the
  held-out images of a class;
* :func:`seed_init` -- torch's generator before a network's weights are drawn.
"""

from __future__ import annotations

import random

__all__ = ["rng", "step_rng", "step_seed", "seed_step", "epoch_seed", "numpy_rng",
           "seed_init"]


def rng(purpose: str, *numbers: int) -> random.Random:
    """A generator owned by ``purpose`` and ``numbers`` (string seeds hash stably)."""
    return random.Random(":".join([purpose, *(str(n) for n in numbers)]))


def step_rng(seed: int, step: int, purpose: str = "path") -> random.Random:
    """The generator of one ``(purpose, seed, step)``: a path, a generation."""
    return rng(purpose, seed, step)


def step_seed(seed: int, step: int) -> int:
    """The integer that seeds torch and numpy at a training step."""
    return (seed * 1_000_003 + step) % 2**32


def seed_step(seed: int, step: int, rank: int = 0) -> None:
    """Seed torch's and numpy's global generators for one training step.

    Dropout, drop path and mixup draw from the global generators, so each step
    reseeds them: a resumed run draws what an uninterrupted one did. Under many ranks
    torch's generator also depends on the rank, so each rank's slice of the batch gets
    its own drop-path and dropout masks (as one process would give different images
    different masks); numpy's does not, so mixup draws one mixing weight for the whole
    global batch, as timm's batch mode does in one process. Rank 0 draws what a single
    process draws.
    """
    import numpy as np
    import torch

    s = step_seed(seed, step)
    torch.manual_seed(s if rank == 0 else (s + rank * 0x9E3779B97F4A7C15) % 2**63)
    np.random.seed(s)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of the permutation of the training images in ``epoch``."""
    return (seed * 100_003 + epoch) % 2**63


def numpy_rng(seed: int, *keys: int):
    """A numpy ``Generator`` owned by ``(seed, *keys)`` (a step, a class)."""
    import numpy as np

    return np.random.default_rng([seed % 2**64, *keys])


def seed_init(seed: int) -> None:
    """Seed torch before a network's initial weights are drawn."""
    import torch

    torch.manual_seed(seed)
