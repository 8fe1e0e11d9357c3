"""Training loops: the SPOS supernet and a standalone model, with exact resume.

One loop serves both. Per step it (1) seeds torch/numpy from ``(seed, step)``,
(2) takes the batch of ``step`` (:func:`~glitlib.data.batch_at`), (3) sets the
learning rate of ``step`` (timm's ``CosineLRScheduler``, warm-up then cosine),
(4) runs ``forward(x, step)`` -- for the supernet, the path
:class:`~glitlib.sampling.MacsSampler` draws for ``step`` -- and (5) takes one
AdamW step. Everything is a function of ``(seed, step)`` plus the weights and
optimizer state in the checkpoint, so a run killed at any point and resumed
ends bit-for-bit where an uninterrupted run ends.

Under torch.distributed every rank draws the same path, takes its own shard of
the global batch and gradients are averaged over ranks before the step; rank 0
writes the checkpoints.

Off-path modules of the supernet get no gradient (``grad is None``); with
``zero_grad(set_to_none=True)`` AdamW skips them entirely: no weight decay and
no momentum drift on choices that were not sampled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .arch import Arch, SearchSpace, get_space
from .config import TrainConfig
from .costs import CostModel
from .data import TensorData, batch_at, rank_and_world
from .io import load_checkpoint, save_checkpoint
from .model import GLiT
from .paths import PathSpace
from .sampling import MacsSampler
from .supernet import Supernet

__all__ = ["TrainConfig", "configure_optimizer", "fit", "train_supernet", "train_model",
           "load_supernet", "load_model"]


def configure_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """timm's AdamW: no weight decay on biases, norms and ``model.no_weight_decay()``."""
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model, opt="adamw", lr=cfg.lr, weight_decay=cfg.weight_decay,
                               filter_bias_and_bn=True)


def _seed_step(seed: int, step: int) -> None:
    # Dropout, drop path and mixup draw from the global generators: reseed per step.
    s = (seed * 1_000_003 + step) % 2**32
    torch.manual_seed(s)
    np.random.seed(s)


def fit(model: nn.Module, forward: Callable[[Tensor, int], Tensor], data: TensorData,
        cfg: TrainConfig, ckpt: str | Path | None, state: dict[str, Any],
        resume: bool = False, desc: str = "train", progress: bool | None = None,
        ema: nn.Module | None = None) -> int:
    """Train ``model`` for ``cfg.steps`` steps; checkpoint to ``ckpt`` every ``ckpt_every``.

    ``state`` holds what identifies the run in the checkpoint (``kind``, ``space``,
    ``run``, anything needed to rebuild the model). With ``resume`` and an existing
    ``ckpt`` of the same run, training continues from the saved step. Returns the
    first step run. ``progress=None`` shows a bar only on a terminal.
    """
    from timm.scheduler import CosineLRScheduler

    cfg = cfg.resolve()
    opt = configure_optimizer(model, cfg)
    sched = CosineLRScheduler(opt, t_initial=max(2, cfg.steps), lr_min=cfg.min_lr,
                              warmup_t=cfg.warmup_steps, warmup_lr_init=cfg.lr / 100,
                              t_in_epochs=False)
    start = 0
    if resume and ckpt is not None and Path(ckpt).exists():
        saved = load_checkpoint(ckpt, state["space"], state["kind"], state.get("run"))
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        if ema is not None and "ema" in saved:
            ema.load_state_dict(saved["ema"])
        start = saved["step"]
    mixup = _mixup(cfg, model)
    rank, _ = rank_and_world()
    model.train()
    bar = tqdm(range(start, cfg.steps), desc=desc, disable=_no_bar(progress), leave=False,
               initial=start, total=cfg.steps)
    for step in bar:
        _seed_step(cfg.seed, step)
        batch = batch_at(data, cfg.batch_size, cfg.seed, step)
        x, y = batch.x, batch.y
        sched.step_update(step)
        if mixup is not None:
            x, y = mixup(x, y)
        loss = _loss(forward(x, step), y, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _average_gradients(model)
        if cfg.clip_grad > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        opt.step()
        if ema is not None:
            ema.update(model, step=step)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        done = step + 1
        if ckpt is not None and rank == 0 and (done % cfg.ckpt_every == 0
                                                or done == cfg.steps):
            save_checkpoint(ckpt, {**state, "step": done, "config": asdict(cfg),
                                   "model": model.state_dict(), "optimizer": opt.state_dict(),
                                   **({"ema": ema.state_dict()} if ema is not None else {})})
    return start


def _no_bar(progress: bool | None) -> bool | None:
    # tqdm's disable=None: a bar on a terminal, nothing in a log file.
    return None if progress is None else not progress


def _average_gradients(model: nn.Module) -> None:
    """Under torch.distributed, average gradients over ranks (each saw its shard).

    Every rank trains the same path (it is drawn from ``(seed, step)``), so the
    same parameters have gradients everywhere; off-path ones stay ``None``.
    """
    _, world = rank_and_world()
    if world == 1:
        return
    import torch.distributed as dist

    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def _mixup(cfg: TrainConfig, model: nn.Module):
    if cfg.mixup <= 0 and cfg.cutmix <= 0:
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix,
                 label_smoothing=cfg.smoothing, num_classes=model.space.num_classes)


def _loss(logits: Tensor, y: Tensor, cfg: TrainConfig) -> Tensor:
    if y.ndim == 2:  # soft targets from mixup/cutmix (smoothing already in them)
        from timm.loss import SoftTargetCrossEntropy

        return SoftTargetCrossEntropy()(logits, y)
    return F.cross_entropy(logits, y, label_smoothing=cfg.smoothing)


# -- supernet ------------------------------------------------------------------
def train_supernet(paths: PathSpace, data: TensorData, cfg: TrainConfig,
                   ckpt: str | Path | None = None, resume: bool = False,
                   device: str = "cpu", progress: bool | None = None,
                   desc: str = "supernet", meta: dict[str, Any] | None = None) -> Supernet:
    """SPOS: every step trains the one path drawn for ``(seed, step)``.

    ``meta`` (the run fingerprint, the data it trained on) is stored in the checkpoint.
    """
    cfg = cfg.resolve()
    torch.manual_seed(cfg.seed)
    net = Supernet(paths).to(device)
    sampler = MacsSampler(paths, CostModel(paths.space), cfg.min_macs, cfg.max_macs,
                          cfg.macs_bins)
    state = {**(meta or {}), "kind": "supernet", "space": paths.space.to_dict(),
             "paths": paths.to_list(), "prior": paths.prior}
    fit(net, lambda x, step: net(x, sampler(cfg.seed, step)), data, cfg, ckpt, state,
        resume, desc, progress)
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


# -- standalone ----------------------------------------------------------------
def train_model(space: SearchSpace, arch: Arch, data: TensorData, cfg: TrainConfig,
                ckpt: str | Path | None = None, resume: bool = False,
                device: str = "cpu", progress: bool | None = None, desc: str = "retrain",
                meta: dict[str, Any] | None = None) -> nn.Module:
    """Train ``arch`` from scratch; returns the model (its EMA copy if ``model_ema_decay``)."""
    cfg = cfg.resolve()
    torch.manual_seed(cfg.seed)
    model = GLiT(space, arch, drop_path_rate=cfg.drop_path).to(device)
    ema = None
    if cfg.model_ema_decay > 0:
        from timm.utils import ModelEmaV3
        ema = ModelEmaV3(model, decay=cfg.model_ema_decay)
    state = {**(meta or {}), "kind": "model", "space": space.to_dict(),
             "arch": arch.to_dict()}
    fit(model, lambda x, step: model(x), data, cfg, ckpt, state, resume, desc, progress, ema)
    return (ema.module if ema is not None else model).eval()


def load_model(ckpt: str | Path, device: str = "cpu") -> tuple[GLiT, dict[str, Any]]:
    """A retrained standalone model (the EMA weights if it kept them)."""
    state = load_checkpoint(ckpt, kind="model")
    space = get_space(state["space"])
    model = GLiT(space, Arch.from_dict(state["arch"]).validate(space))
    if "ema" in state:
        model.load_state_dict({k.removeprefix("module."): v for k, v in state["ema"].items()})
    else:
        model.load_state_dict(state["model"])
    return model.to(device).eval(), state
