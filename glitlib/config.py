"""Every setting of a run, its range, and how it resolves: one home for run semantics.

Three recipes nest in one :class:`SearchConfig`: the supernet's
:class:`TrainConfig`, the :class:`EvolutionConfig` and the retraining's
:class:`TrainConfig`. :meth:`SearchConfig.resolve` turns what a user gave into
the whole run: the space as a full dict, the MACs limit, the seed handed to
every part, warm-up and the evolution's mix filled in. The CLI, the book and
the tests all build a config, resolve it and call :func:`glitlib.search.run_search`;
the ``config.json`` a run writes is its resolved config, so running that file
again repeats the run exactly.

Each field carries its range (``metadata["check"]``); :func:`validate` checks a
whole config in one pass and raises :class:`~glitlib.errors.ConfigError` naming
the field, the bad value and the allowed values, before anything runs. The CLI
builds its flags from the same fields (named as timm's ``train.py`` names them
where they overlap), so a flag and a field cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

from .arch import ArchitectureError, SearchSpace, load_space
from .errors import ConfigError

__all__ = ["Check", "TrainConfig", "EvolutionConfig", "SearchConfig", "validate",
           "fingerprint", "CONFIG_FORMAT", "CONFIG_VERSION", "DATASETS", "RUN_PRESETS",
           "imagenet_preset"]

CONFIG_FORMAT = "glitlib-search-config"
CONFIG_VERSION = 2
DATASETS = ("digits", "cifar10", "folder", "imagenet")
# Settings added after CONFIG_VERSION 2 came out; left out of config.json while unset
# (None), so every run made before them keeps its settings and fingerprint.
_LATER_FIELDS = ("heldout_per_class",)


@dataclass(frozen=True)
class Check:
    """The values a numeric setting may take: a type and an interval."""

    kind: type = int
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False  # None allowed (means: resolve to a default)

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None and self.hi < BIG:
            rng = (f" in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}"
                   f"{')' if self.hi_open else ']'}")
        elif self.lo is not None and (self.hi is None or self.hi >= BIG):
            rng = f" {'>' if self.lo_open else '>='} {self.lo:g}"
        else:
            rng = ""
        return what + rng

    def ok(self, v: Any) -> bool:
        if v is None:
            return self.optional
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if self.kind is int and not isinstance(v, int):
            return False
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return self.hi is None or (v < self.hi or (not self.hi_open and v == self.hi))


def _num(default: Any, help: str, check: Check, flag: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "check": check, "flag": flag})


BIG = 10**12  # an upper bound only to refuse absurd values (and inf) with a message
COUNT = Check(int, 1, BIG)
COUNT0 = Check(int, 0, BIG)
RATE = Check(float, 0, 10, lo_open=True)
NONNEG = Check(float, 0, 1e6)
FRACTION = Check(float, 0, 1, hi_open=True)
PROB = Check(float, 0, 1)
SEED = Check(int, 0, 2**31 - 1)
MACS = Check(int, 1, BIG, optional=True)


@dataclass
class TrainConfig:
    """One training recipe (supernet and retraining alike), DeiT's pieces from timm."""

    steps: int = _num(1200, "training steps", COUNT)
    batch_size: int = _num(128, "global batch size", COUNT)
    lr: float = _num(2e-3, "peak learning rate (AdamW)", RATE)
    min_lr: float = _num(1e-5, "learning rate at the end of the cosine", NONNEG)
    warmup_steps: int | None = _num(None, "linear warm-up steps (default: steps // 10)",
                                    Check(int, 0, BIG, optional=True))
    weight_decay: float = _num(0.05, "AdamW weight decay (not on norms, biases, "
                               "position embedding, class token)", NONNEG)
    smoothing: float = _num(0.1, "label smoothing", FRACTION)
    clip_grad: float = _num(1.0, "clip the gradient norm to this (0: off)", NONNEG)
    model_ema_decay: float = _num(0.0, "keep an EMA of the weights with this decay "
                                  "(0: off)", FRACTION)
    mixup: float = _num(0.0, "mixup alpha (0: off)", NONNEG)
    cutmix: float = _num(0.0, "cutmix alpha (0: off)", NONNEG)
    drop_path: float = _num(0.0, "stochastic depth rate of the last block", FRACTION)
    ckpt_every: int = _num(200, "steps between checkpoints", COUNT)
    seed: int = _num(0, "seed of batches, paths and initial weights", SEED)
    # supernet only: SPOS's MACs-constrained sampling of paths (None = unconstrained)
    min_macs: int | None = _num(None, "train only paths with at least these MACs", MACS)
    max_macs: int | None = _num(None, "train only paths with at most these MACs", MACS)
    macs_bins: int = _num(1, "pick one of this many MACs bins uniformly, then a path in it",
                          COUNT)

    def resolve(self) -> TrainConfig:
        warmup = self.steps // 10 if self.warmup_steps is None else self.warmup_steps
        return replace(self, warmup_steps=warmup)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "training recipe") -> TrainConfig:
        return _from_dict(cls, d, where)


@dataclass
class EvolutionConfig:
    """SPOS's evolutionary search; defaults: 50 x 20 = 1,000 candidates."""

    population: int = _num(50, "candidates per generation", COUNT)
    generations: int = _num(20, "generations", COUNT)
    parents: int = _num(10, "best candidates so far that breed the next generation", COUNT)
    mutations: int | None = _num(None, "mutated children per generation (default: half "
                                 "the population)", Check(int, 0, BIG, optional=True))
    crossovers: int | None = _num(None, "crossover children per generation (default: "
                                  "half the population)", Check(int, 0, BIG, optional=True))
    mutate_prob: float = _num(0.1, "probability that a mutation changes a block", PROB)
    max_macs: int | None = _num(None, "MACs limit of every candidate", MACS)
    seed: int = _num(0, "seed of the search", SEED)
    max_tries: int = _num(200, "rejected children in a row before a generation stops "
                          "growing", COUNT)

    def resolve(self) -> EvolutionConfig:
        half = self.population // 2
        return replace(self, mutations=half if self.mutations is None else self.mutations,
                       crossovers=half if self.crossovers is None else self.crossovers)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "evolution settings") -> EvolutionConfig:
        return _from_dict(cls, d, where)


def _supernet_defaults() -> TrainConfig:
    return TrainConfig(steps=500, batch_size=128, lr=2e-3)


def _retrain_defaults() -> TrainConfig:
    # Long enough to rank accuracy, not speed of convergence: on digits the found
    # network's held-out accuracy no longer rises with twice the steps (chapter 11).
    return TrainConfig(steps=300, batch_size=128, lr=4e-3, ckpt_every=100)


@dataclass
class SearchConfig:
    """Everything a search depends on; resolved, it is the run's ``config.json``."""

    space: str | dict[str, Any] = field(default="digits", metadata={
        "help": "search space: a preset (digits, cifar, tiny, small, base) or a JSON file "
                "(default: digits, or cifar for --dataset cifar10); imagenet-tiny, "
                "imagenet-small, imagenet-base: the whole run at the paper's ImageNet "
                "settings (with --data)", "flag": "preset"})
    dataset: str = field(default="digits", metadata={
        "help": "digits (bundled with scikit-learn), cifar10, folder or imagenet (an "
                "ImageNet-layout folder with train/ and val/, streamed); all but digits "
                "need --data", "choices": DATASETS})
    data_dir: str | None = field(default=None, metadata={
        "help": "data folder for cifar10, folder and imagenet", "flag": "data"})
    seed: int = _num(0, "seed of the data split, the supernets, the search and the "
                     "retraining", SEED)
    heldout_per_class: int | None = _num(
        None, "imagenet: training images per class held out to score the search (default: "
        "50, GLiT's 50,000)", Check(int, 1, BIG, optional=True), flag="heldout-per-class")
    max_macs: int | None = _num(None, "MACs limit (default: the space's all-global network)",
                                MACS)
    stages: int = field(default=2, metadata={
        "help": "2: GLiT's hierarchical search (distribution, then details); 1: one stage "
                "over the joint space (the single-stage baseline)", "choices": (1, 2)})
    strategy: str = field(default="evolution", metadata={
        "help": "how candidates are proposed: evolution (SPOS) or random search",
        "choices": ("evolution", "random")})
    sampling_prior: str = field(default="distinct", metadata={
        "help": "how a block is drawn at random (supernet paths, random search, mutations): "
                "distinct = uniformly among its distinct choices; heads = the number of "
                "global heads uniformly first, then the rest. Matters in one stage only: "
                "each stage of the hierarchical search fixes one of the two",
        "choices": ("distinct", "heads")})
    retrain_candidates: int = _num(5, "best candidates per stage retrained from scratch",
                                   COUNT)
    rank_sample: int = _num(3, "candidates per stage drawn uniformly from the rest and "
                            "retrained too, only to measure how well the supernet ranks",
                            COUNT0)
    enumerate_small: bool = field(default=True, metadata={
        "help": "score every feasible path instead of searching when the evaluation budget "
                "covers them all (stage 1 of digits)", "flag": "enumerate-small"})
    bn_batches: int = _num(1, "BatchNorm recalibration batches per candidate", COUNT0)
    bn_batch_size: int = _num(128, "images per BatchNorm recalibration batch", COUNT)
    constrain_supernet: bool = field(default=False, metadata={
        "help": "train the supernets only on paths under the MACs limit (SPOS)"})
    supernet: TrainConfig = field(default_factory=_supernet_defaults)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    retrain: TrainConfig = field(default_factory=_retrain_defaults)

    def resolve(self) -> SearchConfig:
        """The whole run: validated, every default filled, the seed handed down."""
        validate(self)
        space = load_space(self.space)
        from .budget import resolve_max_macs

        limit = resolve_max_macs(space, self.max_macs)
        sup = replace(self.supernet, seed=self.seed,
                      max_macs=limit if self.constrain_supernet else self.supernet.max_macs)
        out = replace(self, space=space.to_dict(), max_macs=limit,
                      supernet=sup.resolve(),
                      evolution=replace(self.evolution, seed=self.seed,
                                        max_macs=limit).resolve(),
                      retrain=replace(self.retrain, seed=self.seed).resolve())
        validate(out)
        return out

    def search_space(self) -> SearchSpace:
        """The :class:`~glitlib.arch.SearchSpace` this config names (preset, file or dict)."""
        return load_space(self.space)

    def to_dict(self) -> dict[str, Any]:
        d = {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **asdict(self)}
        for key in _LATER_FIELDS:
            if d[key] is None:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "search config") -> SearchConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(d).__name__}")
        d = dict(d)
        fmt, version = d.pop("format", CONFIG_FORMAT), d.pop("version", None)
        if fmt != CONFIG_FORMAT:
            raise ConfigError(f"{where}: format {fmt!r} is not {CONFIG_FORMAT!r}; give the "
                              "config.json that glit search wrote")
        if version != CONFIG_VERSION:
            raise ConfigError(f"{where}: version {version!r}, this glitlib reads version "
                              f"{CONFIG_VERSION}; rerun the search with this version (old "
                              "runs keep their results, they cannot be resumed)")
        for key, sub in (("supernet", TrainConfig), ("evolution", EvolutionConfig),
                         ("retrain", TrainConfig)):
            if key in d:
                d[key] = sub.from_dict(d[key], f"{where}: {key}")
        cfg = _from_dict(cls, d, where)
        validate(cfg, where)
        return cfg

    def fingerprint(self) -> str:
        return fingerprint(self.to_dict())


def _from_dict(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected an object, got {type(d).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}; known settings are "
                          f"{sorted(known)}")
    return cls(**d)


def validate(cfg: Any, where: str = "") -> None:
    """Check every field of a config (nested ones too).

    Raises one :class:`~glitlib.errors.ConfigError` naming the field, value and range.
    """
    prefix = f"{where}: " if where else ""
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if is_dataclass(v):
            validate(v, f"{where}{': ' if where else ''}{f.name}" if where else f.name)
            continue
        check, choices = f.metadata.get("check"), f.metadata.get("choices")
        if check is not None and not check.ok(v):
            raise ConfigError(f"{prefix}{f.name} must be {check.describe()}, got {v!r}")
        if choices is not None and v not in choices:
            raise ConfigError(f"{prefix}{f.name} must be one of {list(choices)}, got {v!r}")
    _cross_checks(cfg, prefix)


def _cross_checks(cfg: Any, prefix: str) -> None:
    if isinstance(cfg, TrainConfig):
        if cfg.warmup_steps is not None and cfg.warmup_steps >= cfg.steps:
            raise ConfigError(f"{prefix}warmup_steps={cfg.warmup_steps} must be below "
                              f"steps={cfg.steps}")
        if (cfg.mixup > 0 or cfg.cutmix > 0) and cfg.batch_size % 2:
            raise ConfigError(f"{prefix}mixup/cutmix pair the images of a batch: batch_size "
                              f"must be even, got {cfg.batch_size}")
        if (cfg.min_macs is not None and cfg.max_macs is not None
                and cfg.min_macs > cfg.max_macs):
            raise ConfigError(f"{prefix}min_macs={cfg.min_macs:,} is above "
                              f"max_macs={cfg.max_macs:,}")
    if isinstance(cfg, EvolutionConfig) and cfg.parents > cfg.population * 1000:
        raise ConfigError(f"{prefix}parents={cfg.parents} is far above the population")
    if isinstance(cfg, SearchConfig):
        if cfg.supernet.model_ema_decay or cfg.supernet.drop_path:
            raise ConfigError(f"{prefix}the supernet is trained without EMA and drop path; "
                              "set them for the retraining only")
        if cfg.dataset != "digits" and not cfg.data_dir:
            raise ConfigError(f"{prefix}dataset {cfg.dataset!r} needs a data folder "
                              "(--data DIR)")
        if not isinstance(cfg.space, (str, dict)):
            raise ConfigError(f"{prefix}space must be a preset name, a JSON file or an "
                              f"object, got {cfg.space!r}")
        try:
            load_space(cfg.space)
        except ArchitectureError as err:
            raise ConfigError(f"{prefix}{err}") from None


def fingerprint(obj: Any) -> str:
    """A short stable hash of JSON-able settings: which run a file belongs to."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- the paper's settings on ImageNet ---------------------------------------------
IMAGENET_TRAIN = 1_281_167  # ImageNet-1k training images
HELD_OUT = 50_000  # 50 per class, the search's held-out split (GLiT)
RUN_PRESETS = ("imagenet-tiny", "imagenet-small", "imagenet-base")


def _epochs(epochs: int, batch: int, images: int = IMAGENET_TRAIN - HELD_OUT) -> int:
    return epochs * (images // batch)


def imagenet_preset(name: str, data_dir: str | None = None, supernet_batch: int = 1024,
                    retrain_batch: int = 1024) -> SearchConfig:
    """The whole search at the paper's settings: ``imagenet-tiny``, ``-small`` or ``-base``.

    Space: DeiT-Tiny/Small/Base's width, 12 blocks, patch 16 at 224 px, the paper's
    candidates. Data: ImageNet, 50 images per class held out of train to score the
    search. Supernet: SPOS's 120 epochs at batch 1024 (GLiT does not publish its
    supernet schedule), sampled under the MACs limit, AdamW at DeiT's learning
    rate. Scoring: BatchNorm recalibrated on 200 x 128 training images (SPOS).
    Evolution: population 50, 20 generations (1,000 candidates). Retraining: the
    best 5 per stage, DeiT's recipe (300 epochs, batch 1024, lr 5e-4 x 1024/512,
    5 warm-up epochs, weight decay 0.05, drop path 0.1, label smoothing 0.1,
    Mixup 0.8, CutMix 1.0, EMA; gradient clipping 1.0 for Tiny, as GLiT-Tiny).
    Epochs are counted in steps on the 1,231,167 training images left; another
    (global) batch size keeps the epochs and scales the learning rate as DeiT does.
    """
    if name not in RUN_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {list(RUN_PRESETS)}")
    size = name.removeprefix("imagenet-")
    sb, rb = supernet_batch, retrain_batch
    supernet = TrainConfig(steps=_epochs(120, sb), batch_size=sb, lr=5e-4 * sb / 512,
                           warmup_steps=_epochs(5, sb), ckpt_every=1000)
    retrain = TrainConfig(steps=_epochs(300, rb), batch_size=rb, lr=5e-4 * rb / 512,
                          warmup_steps=_epochs(5, rb), drop_path=0.1, mixup=0.8,
                          cutmix=1.0, model_ema_decay=0.99996,
                          clip_grad=1.0 if size == "tiny" else 0.0, ckpt_every=1000)
    return SearchConfig(space=size, dataset="imagenet", data_dir=data_dir, rank_sample=0,
                        bn_batches=200, bn_batch_size=128, constrain_supernet=True,
                        supernet=supernet, retrain=retrain)
