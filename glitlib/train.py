"""Training loops: the SPOS supernet and a standalone model, with exact resume.

One loop serves both. Per step it (1) seeds torch/numpy from ``(seed, step)``,
(2) takes the batch of ``step`` from its :class:`~glitlib.data.BatchSource`
(in memory or streamed from disk, a function of ``(seed, step)``), (3) sets the
learning rate of ``step`` (timm's ``CosineLRScheduler``, warm-up then cosine),
(4) runs ``forward(x, step)`` -- for the supernet, the path
:class:`~glitlib.sampling.MacsSampler` draws for ``step`` -- and (5) takes one
AdamW step. Everything is a function of ``(seed, step)`` plus the weights and
optimizer state in the checkpoint, so a run killed at any point and resumed
ends bit-for-bit where an uninterrupted run ends.

Under torch.distributed (:mod:`glitlib.distributed`) every rank draws the same
path and takes its own shard of the global batch; BatchNorm normalises over the
whole global batch; the supernet's path gradients are averaged in one bucketed
all-reduce, the standalone model's by ``DistributedDataParallel``; rank 0 writes
the checkpoints. ``precision="bf16"`` runs forward and loss under autocast.

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
from .data import BatchSource, rank_and_world
from .distributed import average_path_gradients, synced_batchnorm
from .io import load_checkpoint, save_checkpoint
from .model import GLiT
from .paths import PathSpace
from .sampling import MacsSampler
from .supernet import Supernet

__all__ = ["TrainConfig", "configure_optimizer", "fit", "train_supernet", "train_model",
           "load_supernet", "load_model", "autocast", "check_shards", "PRECISIONS"]

PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device | str, precision: str = "fp32"):
    """bf16 autocast on ``device`` when ``precision`` is ``bf16``; a no-op context for fp32."""
    if precision not in PRECISIONS:
        from .errors import ConfigError
        raise ConfigError(f"precision {precision!r} is not one of {list(PRECISIONS)}")
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16")


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


def fit(model: nn.Module, forward: Callable[[Tensor, int], Tensor], data: BatchSource,
        cfg: TrainConfig, ckpt: str | Path | None, state: dict[str, Any],
        resume: bool = False, desc: str = "train", progress: bool | None = None,
        ema: nn.Module | None = None, precision: str = "fp32",
        reduce: Callable[[nn.Module], None] | None = average_path_gradients) -> int:
    """Train ``model`` for ``cfg.steps`` steps; checkpoint to ``ckpt`` every ``ckpt_every``.

    ``state`` holds what identifies the run in the checkpoint (``kind``, ``space``,
    ``run``, anything needed to rebuild the model). With ``resume`` and an existing
    ``ckpt`` of the same run, training continues from the saved step. Returns the
    first step run. ``progress=None`` shows a bar only on a terminal. ``reduce``
    averages gradients over ranks after the backward pass (``None`` when the forward
    is a ``DistributedDataParallel`` module, which does it itself).
    """
    from timm.scheduler import CosineLRScheduler

    cfg = cfg.resolve()
    check_shards(cfg)
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
    rank, world = rank_and_world()
    device = next(model.parameters()).device
    model.train()
    bar = tqdm(range(start, cfg.steps), desc=desc, disable=_no_bar(progress), leave=False,
               initial=start, total=cfg.steps)
    batches = data.batches(cfg.batch_size, cfg.seed, start, cfg.steps)
    with synced_batchnorm(model, world > 1):
        for step, (x, y) in zip(bar, batches):
            loss = _step(model, forward, opt, sched, mixup, x.to(device, non_blocking=True),
                         y.to(device, non_blocking=True), step, cfg, precision, reduce)
            if ema is not None:
                ema.update(model, step=step)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
            done = step + 1
            if ckpt is not None and rank == 0 and (done % cfg.ckpt_every == 0
                                                    or done == cfg.steps):
                save_checkpoint(ckpt, {
                    **state, "step": done, "config": asdict(cfg), "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    **({"ema": ema.state_dict()} if ema is not None else {})})
    return start


def check_shards(cfg: TrainConfig) -> None:
    """Every rank must get an equal slice of the global batch (an even one for mixup):
    averaging the ranks' gradients is then the gradient of the whole batch."""
    from .errors import ConfigError

    _, world = rank_and_world()
    per_rank, left = divmod(cfg.batch_size, world)
    if left:
        raise ConfigError(f"batch size {cfg.batch_size} does not split evenly over {world} "
                          f"ranks; use a multiple of {world}")
    if (cfg.mixup > 0 or cfg.cutmix > 0) and per_rank % 2:
        raise ConfigError(f"mixup/cutmix pair the images of each rank's batch, but each rank "
                          f"gets {per_rank}; use an even number of images per rank")


def _step(model: nn.Module, forward: Callable[[Tensor, int], Tensor],
          opt: torch.optim.Optimizer, sched: Any, mixup: Any, x: Tensor, y: Tensor,
          step: int, cfg: TrainConfig, precision: str,
          reduce: Callable[[nn.Module], None] | None) -> Tensor:
    """One optimisation step; every random draw in it is seeded by ``(seed, step)``."""
    _seed_step(cfg.seed, step)
    sched.step_update(step)
    if mixup is not None:
        x, y = mixup(x, y)
    with autocast(x.device, precision):
        loss = _loss(forward(x, step), y, cfg)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if reduce is not None:
        reduce(model)
    if cfg.clip_grad > 0:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
    opt.step()
    return loss


def _no_bar(progress: bool | None) -> bool | None:
    # tqdm's disable=None: a bar on a terminal, nothing in a log file.
    return None if progress is None else not progress


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
def train_supernet(paths: PathSpace, data: BatchSource, cfg: TrainConfig,
                   ckpt: str | Path | None = None, resume: bool = False,
                   device: str = "cpu", progress: bool | None = None,
                   desc: str = "supernet", meta: dict[str, Any] | None = None,
                   precision: str = "fp32") -> Supernet:
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
        resume, desc, progress, precision=precision)
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
def train_model(space: SearchSpace, arch: Arch, data: BatchSource, cfg: TrainConfig,
                ckpt: str | Path | None = None, resume: bool = False,
                device: str = "cpu", progress: bool | None = None, desc: str = "retrain",
                meta: dict[str, Any] | None = None, precision: str = "fp32",
                compile: str | None = None) -> nn.Module:
    """Train ``arch`` from scratch; returns the model (its EMA copy if ``model_ema_decay``).

    Under torch.distributed the model trains inside ``DistributedDataParallel``.
    ``compile`` names a ``torch.compile`` backend (``"inductor"``) to run it with:
    one fixed graph, worth compiling for a long retraining on a GPU. The supernet,
    whose graph changes with every path, is never compiled.
    """
    cfg = cfg.resolve()
    torch.manual_seed(cfg.seed)
    model = GLiT(space, arch, drop_path_rate=cfg.drop_path).to(device)
    ema = None
    if cfg.model_ema_decay > 0:
        from timm.utils import ModelEmaV3
        ema = ModelEmaV3(model, decay=cfg.model_ema_decay)
    state = {**(meta or {}), "kind": "model", "space": space.to_dict(),
             "arch": arch.to_dict()}
    run = _wrapped(model, compile)
    fit(model, lambda x, step: run(x), data, cfg, ckpt, state, resume, desc, progress, ema,
        precision, reduce=None)  # one rank: nothing to average; many: DDP averages
    return (ema.module if ema is not None else model).eval()


def _wrapped(model: nn.Module, compile: str | None) -> nn.Module:
    """The module a training step calls: DDP around ``model`` on many ranks, compiled if asked."""
    run = model
    if rank_and_world()[1] > 1:
        from .distributed import data_parallel

        run = data_parallel(model)
    return torch.compile(run, backend=compile) if compile else run


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
