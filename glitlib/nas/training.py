"""Training a supernet with SPOS (one path per step), and loading one back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config.recipes import SupernetConfig
from ..data.source import BatchSource
from ..model.costs import CostModel
from ..model.space import SearchSpace, get_space
from ..runtime.context import Runtime
from ..runtime.files import load_checkpoint
from ..runtime.seeds import seed_init
from ..train.loop import Checkpoint, Trainer
from .paths import PathSpace
from .sampling import MacsSampler
from .supernet import Supernet

__all__ = ["train_supernet", "load_supernet"]


def train_supernet(paths: PathSpace, data: BatchSource, recipe: SupernetConfig,
                   seed: int = 0, rt: Runtime | None = None, ckpt: Checkpoint | None = None,
                   desc: str = "supernet", max_macs: int | None = None) -> Supernet:
    """SPOS: every step trains the one path drawn for ``(seed, step)``.

    ``max_macs`` (with the recipe's ``min_macs`` and ``macs_bins``) restricts the
    paths trained to a MACs range, as SPOS does; ``None`` trains every path.
    """
    rt = rt or Runtime()
    seed_init(seed)
    net = Supernet(paths).to(rt.device)
    sampler = MacsSampler(paths, CostModel(paths.space), recipe.min_macs, max_macs,
                          recipe.macs_bins)
    if ckpt is not None:
        ckpt = Checkpoint(ckpt.path, {**ckpt.header, "kind": "supernet",
                                      "space": paths.space.to_dict(),
                                      "paths": paths.to_list(), "prior": paths.prior,
                                      "max_macs": max_macs},
                          ckpt.resume)
    Trainer(net, recipe, seed, rt, ckpt).fit(lambda x, step: net(x, sampler(seed, step)),
                                             data, desc)
    return net


def load_supernet(ckpt: str | Path, space: SearchSpace | None = None,
                  device: str = "cpu") -> tuple[Supernet, dict[str, Any]]:
    """A trained supernet and its checkpoint (config, step, paths, data)."""
    state = load_checkpoint(ckpt, space.to_dict() if space else None, "supernet")
    paths = PathSpace.from_list(get_space(state["space"]), state["paths"],
                                state.get("prior", "distinct"))
    net = Supernet(paths)
    net.load_state_dict(state["model"])
    return net.to(device).eval(), state
