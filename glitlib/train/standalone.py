"""One network on its own: train it from scratch, load it back, measure its accuracy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..config.recipes import TrainConfig
from ..data.source import BatchSource
from ..model.arch import Arch
from ..model.glit import GLiT
from ..model.space import SearchSpace, get_space
from ..runtime.context import Runtime
from ..runtime.device import autocast
from ..runtime.files import load_checkpoint
from ..runtime.ranks import rank_and_world
from ..runtime.seeds import seed_init
from .loop import Checkpoint, Trainer, mixup_for

__all__ = ["train_model", "load_model", "accuracy"]


def train_model(space: SearchSpace, arch: Arch, data: BatchSource, recipe: TrainConfig,
                seed: int = 0, rt: Runtime | None = None, ckpt: Checkpoint | None = None,
                desc: str = "retrain") -> GLiT:
    """Train ``arch`` from scratch; returns the model (its EMA copy if ``model_ema_decay``).

    ``seed`` draws the initial weights and every step's randomness. Under
    torch.distributed the model trains inside ``DistributedDataParallel``;
    ``rt.compile`` names a ``torch.compile`` backend to run it with: one fixed graph,
    worth compiling for a long retraining on a GPU.
    """
    rt = rt or Runtime()
    seed_init(seed)
    model = GLiT(space, arch, drop_path_rate=recipe.drop_path).to(rt.device)
    ema = None
    if recipe.model_ema_decay > 0:
        from timm.utils import ModelEmaV3
        ema = ModelEmaV3(model, decay=recipe.model_ema_decay)
    if ckpt is not None:
        ckpt = Checkpoint(ckpt.path, {**ckpt.header, "kind": "model",
                                      "space": space.to_dict(), "arch": arch.to_dict()},
                          ckpt.resume)
    run = _wrapped(model, rt.compile)
    trainer = Trainer(model, recipe, seed, rt, ckpt, ema, mixup_for(recipe, space.num_classes),
                      reduce=None)  # one rank: nothing to average; many: DDP averages
    trainer.fit(lambda x, step: run(x), data, desc)
    return (ema.module if ema is not None else model).eval()


def _wrapped(model: nn.Module, compile: str | None) -> Callable[[Tensor], Tensor]:
    """The module a training step calls: DDP around ``model`` on many ranks, compiled if asked."""
    run: Callable[[Tensor], Tensor] = model
    if rank_and_world()[1] > 1:
        from .parallel import data_parallel

        run = data_parallel(model)
    return torch.compile(run, backend=compile) if compile else run


def load_model(ckpt: str | Path, device: str = "cpu", run: str | None = None,
               resume: bool = False) -> tuple[GLiT, dict[str, Any]]:
    """A retrained standalone model (the EMA weights if it kept them) and its checkpoint.

    ``run``/``resume``: as for :func:`~glitlib.runtime.files.load_checkpoint` (a run's own
    checkpoint must carry its fingerprint).
    """
    state = load_checkpoint(ckpt, kind="model", run=run, resume=resume)
    space = get_space(state["space"])
    model = GLiT(space, Arch.from_dict(state["arch"]).validate(space))
    if "ema" in state:
        model.load_state_dict({k.removeprefix("module."): v for k, v in state["ema"].items()})
    else:
        model.load_state_dict(state["model"])
    return model.to(device).eval(), state


@torch.no_grad()
def accuracy(forward: Callable[[Tensor], Tensor], data: BatchSource,
             batch_size: int = 1024, precision: str = "fp32",
             device: torch.device | None = None) -> float:
    """Top-1 accuracy in [0, 1]; the caller puts the model in eval mode.

    Batches go to ``device`` (default: that of ``forward`` when it is a module;
    streamed data arrive on the CPU); ``precision="bf16"`` runs it under autocast.
    """
    device = device if device is not None else device_of(forward)
    correct = 0
    for x, y in data.in_order(batch_size):
        x, y = data.prepare(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)
        with autocast(device, precision):
            correct += int((forward(x).argmax(dim=-1) == y).sum().item())
    return correct / max(1, len(data))


def device_of(forward: Callable[[Tensor], Tensor]) -> torch.device:
    """The device of a module's parameters (the CPU for a plain function)."""
    p = next(forward.parameters(), None) if isinstance(forward, nn.Module) else None
    return p.device if p is not None else torch.device("cpu")
