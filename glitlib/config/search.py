"""The whole search in one config, and the resolved run it stands for.

A :class:`SearchConfig` is what a user gives: a space (a preset, a file or a dict), the
data, one ``seed``, one ``max_macs`` (``None``: the all-global network's MACs), the
search's own settings and its three recipes. :meth:`SearchConfig.resolve` turns it into
a :class:`ResolvedConfig`, the run itself: validated, the space a full dict, the MACs
limit a number, warm-ups and the evolution's mix filled in. Code that runs a search
takes the resolved type, so nothing resolves twice and nothing resolves "just in case".

The ``config.json`` a run writes is its resolved config; running that file again
(``glit search --config``) repeats the run exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

from ..errors import ArchitectureError, ConfigError
from ..model.costs import default_max_macs
from ..model.space import SearchSpace, load_space
from .checks import COUNT, COUNT0, MACS, SEED, Check, fingerprint, from_dict, setting, validate
from .recipes import EvolutionConfig, SupernetConfig, TrainConfig

__all__ = ["SearchConfig", "ResolvedConfig", "CONFIG_FORMAT", "CONFIG_VERSION", "DATASETS",
           "upgrade_settings"]

CONFIG_FORMAT = "glitlib-search-config"
CONFIG_VERSION = 3
DATASETS = ("digits", "bands", "cifar10", "folder", "imagenet")


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search depends on; resolved, it is the run's ``config.json``."""

    space: str | dict[str, Any] = setting(
        "digits", "search space: a preset (digits, bands, cifar, tiny, small, base) or a JSON "
        "file (default: digits; bands for --dataset bands, cifar for --dataset cifar10); "
        "imagenet-tiny, imagenet-small, "
        "imagenet-base: the whole run at the paper's ImageNet settings (with --data)",
        flag="preset")
    dataset: str = setting("digits", "digits (bundled with scikit-learn), bands (striped "
                           "bands, generated: its right answer is known), cifar10, folder or "
                           "imagenet (an ImageNet-layout folder with train/ and val/, "
                           "streamed); cifar10, folder and imagenet need --data",
                           choices=DATASETS)
    data_dir: str | None = setting(None, "data folder for cifar10, folder and imagenet",
                                   flag="data")
    seed: int = setting(0, "seed of the data split, the supernets, the search and the "
                        "retraining", SEED)
    heldout_per_class: int | None = setting(
        None, "imagenet: training images per class held out to score the search (default: "
        "50, GLiT's 50,000)", Check(int, 1, 10**12, optional=True), flag="heldout-per-class")
    max_macs: int | None = setting(None, "MACs limit (default: the space's all-global "
                                   "network)", MACS)
    stages: int = setting(2, "2: GLiT's hierarchical search (distribution, then details); "
                          "1: one stage over the joint space (the single-stage baseline)",
                          choices=(1, 2))
    strategy: str = setting("evolution", "how candidates are proposed: evolution (SPOS) or "
                            "random search", choices=("evolution", "random"))
    sampling_prior: str = setting(
        "distinct", "how a block is drawn at random (supernet paths, random search, "
        "mutations): distinct = uniformly among its distinct choices; heads = the number of "
        "global heads uniformly first, then the rest. Matters in one stage only: each stage "
        "of the hierarchical search fixes one of the two", choices=("distinct", "heads"))
    retrain_candidates: int = setting(5, "best candidates per stage retrained from scratch",
                                      COUNT)
    rank_sample: int = setting(3, "candidates per stage drawn uniformly from the rest and "
                               "retrained too, only to measure how well the supernet ranks",
                               COUNT0)
    exhaustive_small: bool = setting(True, "score every feasible path instead of searching "
                                     "when the evaluation budget covers them all (stage 1 of "
                                     "digits)", flag="exhaustive-small")
    heldout_subset: int | None = setting(
        None, "score each candidate on this many held-out images, a fixed sample (SPOS: "
        "8,000); the retrained candidates on all of them (default: all)", MACS,
        flag="heldout-subset")
    bn_batches: int = setting(1, "BatchNorm recalibration batches per candidate", COUNT0)
    bn_batch_size: int = setting(128, "images per BatchNorm recalibration batch", COUNT)
    constrain_supernet: bool = setting(False, "train the supernets only on paths under the "
                                       "MACs limit (SPOS)")
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    retrain: TrainConfig = field(default_factory=TrainConfig)

    def search_space(self) -> SearchSpace:
        """The :class:`~glitlib.model.space.SearchSpace` this config names."""
        return load_space(self.space)

    def resolve(self) -> ResolvedConfig:
        """The whole run: validated, every default filled in."""
        validate(self)
        space = self.search_space()
        limit = default_max_macs(space) if self.max_macs is None else self.max_macs
        sup, ret, evo = self.supernet, self.retrain, self.evolution
        out = ResolvedConfig(**{
            **{f: getattr(self, f) for f in self.__dataclass_fields__},
            "space": space.to_dict(), "max_macs": limit,
            "supernet": replace(sup, warmup_steps=sup.warmup),
            "retrain": replace(ret, warmup_steps=ret.warmup),
            "evolution": replace(evo, mutations=evo.num_mutations,
                                 crossovers=evo.num_crossovers)})
        validate(out)
        return out

    def data(self) -> dict[str, Any]:
        """What fixes the three splits: recorded in every checkpoint of a run."""
        spec = {"dataset": self.dataset, "data_dir": self.data_dir, "seed": self.seed}
        if self.heldout_per_class is not None:
            spec["heldout_per_class"] = self.heldout_per_class
        return spec

    def to_dict(self) -> dict[str, Any]:
        return {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: Any, where: str = "search config") -> SearchConfig:
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
        cfg = from_dict(cls, d, where, complete=True)
        validate(cfg, where)
        return cfg

    def check(self, prefix: str = "") -> None:
        if self.dataset not in ("digits", "bands") and not self.data_dir:
            raise ConfigError(f"{prefix}dataset {self.dataset!r} needs a data folder "
                              "(--data DIR)")
        if not isinstance(self.space, (str, dict)):
            raise ConfigError(f"{prefix}space must be a preset name, a JSON file or an "
                              f"object, got {self.space!r}")
        try:
            load_space(self.space)
        except ArchitectureError as err:
            raise ConfigError(f"{prefix}{err}") from None
        low, high = self.supernet.min_macs, self.max_macs
        if low is not None and high is not None and low > high:
            raise ConfigError(f"{prefix}supernet min_macs={low:,} is above "
                              f"max_macs={high:,}")


@dataclass(frozen=True)
class ResolvedConfig(SearchConfig):
    """A :class:`SearchConfig` with every default filled in: the run itself.

    Made by :meth:`SearchConfig.resolve` only; its ``to_dict`` is ``config.json`` and
    its :meth:`fingerprint` stamps every file of the run.
    """

    def __post_init__(self) -> None:
        if not isinstance(self.space, dict) or not isinstance(self.max_macs, int):
            raise ConfigError("a ResolvedConfig comes from SearchConfig.resolve(); build a "
                              "SearchConfig and resolve it")

    @cached_property
    def space_obj(self) -> SearchSpace:
        return load_space(self.space)

    def search_space(self) -> SearchSpace:
        return self.space_obj

    def resolve(self) -> ResolvedConfig:
        return self

    def fingerprint(self) -> str:
        """A short hash of the whole run: which run a file belongs to."""
        return fingerprint(self.to_dict())

    def unresolved(self) -> SearchConfig:
        """The same settings as a plain :class:`SearchConfig`, e.g. to change one and
        resolve again (the filled-in defaults stay as they are)."""
        return SearchConfig(**{f: getattr(self, f) for f in self.__dataclass_fields__})


# Format 2 held copies (the seed and the MACs limit in every part) and fields a part
# never used (a retraining's MACs range, a supernet's EMA); format 3 keeps one home
# for each. Reading old settings for comparison needs only these moves: nothing a run
# computed depended on the copies.
_V2_COPIES = {("supernet", "seed"): "seed", ("retrain", "seed"): "seed",
              ("evolution", "seed"): "seed", ("evolution", "max_macs"): "max_macs"}
_V2_OFF = {("supernet", "model_ema_decay"): 0.0, ("supernet", "drop_path"): 0.0,
           ("supernet", "mixup"): 0.0, ("supernet", "cutmix"): 0.0,
           ("retrain", "macs_bins"): 1, ("retrain", "min_macs"): None,
           ("retrain", "max_macs"): None, ("supernet", "max_macs"): None}
_V3_NEW = ("heldout_per_class", "heldout_subset")


def upgrade_settings(d: dict[str, Any], where: str = "search config") -> dict[str, Any]:
    """Resolved settings written by format 2 (``config.json``, ``ablations.json``), in
    today's format: so shipped results can be checked against today's settings.

    Only reading: a format-2 run still cannot be resumed. A copy that disagrees with
    its top-level value, or a supernet option that was switched on, has no format-3
    form and is refused.
    """
    if d.get("version") == CONFIG_VERSION:
        return d
    if d.get("version") != 2:
        raise ConfigError(f"{where}: version {d.get('version')!r} cannot be upgraded; "
                          f"this glitlib reads versions 2 and {CONFIG_VERSION}")
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    out["version"] = CONFIG_VERSION
    out["exhaustive_small"] = out.pop("enumerate_small")
    for (part, key), top in _V2_COPIES.items():
        if out[part].pop(key) != out[top]:
            raise ConfigError(f"{where}: {part}.{key} differs from {top}; no format-"
                              f"{CONFIG_VERSION} form")
    for key in _V3_NEW:  # what format 2 could not set: off
        out.setdefault(key, None)
    for (part, key), off in _V2_OFF.items():
        if out[part].pop(key) != off:
            raise ConfigError(f"{where}: {part}.{key} is set; no format-"
                              f"{CONFIG_VERSION} form")
    return out

