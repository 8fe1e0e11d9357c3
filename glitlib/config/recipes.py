"""The recipes of a search: training a supernet, training one network, evolving candidates.

Each holds only its own fields, with its own defaults, so passing one field never
changes another (``SupernetConfig(lr=1e-3)`` still trains 500 steps). What the
recipes share, AdamW with a cosine schedule and DeiT's regularisers from timm, is
:class:`Recipe`. Seeds and the MACs limit are not here: a search has one of each
(:class:`~glitlib.config.search.SearchConfig`), handed to the code that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .checks import COUNT, FRACTION, MACS, NONNEG, PROB, RATE, Check, setting

__all__ = ["Recipe", "SupernetConfig", "TrainConfig", "EvolutionConfig"]

_STEPS, _LR = "training steps", "peak learning rate (AdamW)"
_CKPT = "steps between checkpoints"


@dataclass(frozen=True)
class Recipe:
    """What every training run takes: AdamW, warm-up then cosine, smoothing, clipping."""

    steps: int = setting(1000, _STEPS, COUNT)
    batch_size: int = setting(128, "global batch size", COUNT)
    lr: float = setting(1e-3, _LR, RATE)
    min_lr: float = setting(1e-5, "learning rate at the end of the cosine", NONNEG)
    warmup_steps: int | None = setting(None, "linear warm-up steps (default: steps // 10)",
                                       Check(int, 0, 10**12, optional=True))
    weight_decay: float = setting(0.05, "AdamW weight decay (not on norms, biases, "
                                  "position embedding, class token)", NONNEG)
    smoothing: float = setting(0.1, "label smoothing", FRACTION)
    clip_grad: float = setting(1.0, "clip the gradient norm to this (0: off)", NONNEG)
    ckpt_every: int = setting(200, _CKPT, COUNT)

    @property
    def warmup(self) -> int:
        """The warm-up steps, as given or else a tenth of the steps."""
        return self.steps // 10 if self.warmup_steps is None else self.warmup_steps

    def check(self, prefix: str = "") -> None:
        if self.warmup_steps is not None and self.warmup_steps >= self.steps:
            raise ConfigError(f"{prefix}warmup_steps={self.warmup_steps} must be below "
                              f"steps={self.steps}")
        if self.min_lr > self.lr:
            raise ConfigError(f"{prefix}min_lr={self.min_lr:g} is above the peak lr="
                              f"{self.lr:g}: the cosine ends at min_lr; give a min_lr at "
                              "most lr")


@dataclass(frozen=True)
class SupernetConfig(Recipe):
    """Training a SPOS supernet: one path per step, optionally inside a MACs range."""

    steps: int = setting(500, _STEPS, COUNT)
    lr: float = setting(2e-3, _LR, RATE)
    min_macs: int | None = setting(None, "train only paths with at least these MACs", MACS)
    macs_bins: int = setting(1, "pick one of this many MACs bins uniformly, then a path in "
                             "it (SPOS)", COUNT)


@dataclass(frozen=True)
class TrainConfig(Recipe):
    """Training one network from scratch (the retraining of candidates): DeiT's recipe."""

    steps: int = setting(300, _STEPS, COUNT)
    lr: float = setting(4e-3, _LR, RATE)
    ckpt_every: int = setting(100, _CKPT, COUNT)
    model_ema_decay: float = setting(0.0, "keep an EMA of the weights with this decay "
                                     "(0: off)", FRACTION)
    mixup: float = setting(0.0, "mixup alpha (0: off)", NONNEG)
    cutmix: float = setting(0.0, "cutmix alpha (0: off)", NONNEG)
    drop_path: float = setting(0.0, "stochastic depth rate of the last block", FRACTION)

    @property
    def mixes(self) -> bool:
        """True when batches are mixed (mixup or cutmix), so images are paired."""
        return self.mixup > 0 or self.cutmix > 0

    def check(self, prefix: str = "") -> None:
        super().check(prefix)
        if self.mixes and self.batch_size % 2:
            raise ConfigError(f"{prefix}mixup/cutmix pair the images of a batch: batch_size "
                              f"must be even, got {self.batch_size}")


@dataclass(frozen=True)
class EvolutionConfig:
    """SPOS's evolutionary search; defaults: 50 x 20 = 1,000 candidates."""

    population: int = setting(50, "candidates per generation", COUNT)
    generations: int = setting(20, "generations", COUNT)
    parents: int = setting(10, "best candidates so far that breed the next generation",
                           COUNT)
    mutations: int | None = setting(None, "mutated children per generation (default: half "
                                    "the population)", Check(int, 0, 10**12, optional=True))
    crossovers: int | None = setting(None, "crossover children per generation (default: "
                                     "half the population)",
                                     Check(int, 0, 10**12, optional=True))
    mutate_prob: float = setting(0.1, "probability that a mutation changes a block", PROB)
    max_tries: int = setting(200, "rejected children in a row before a generation stops "
                             "growing", COUNT)

    @property
    def num_mutations(self) -> int:
        return self.population // 2 if self.mutations is None else self.mutations

    @property
    def num_crossovers(self) -> int:
        return self.population // 2 if self.crossovers is None else self.crossovers

    @property
    def budget(self) -> int:
        """The most candidates the search scores, population x generations."""
        return self.population * self.generations

    def check(self, prefix: str = "") -> None:
        if self.parents > self.population * 1000:
            raise ConfigError(f"{prefix}parents={self.parents} is far above the population")

