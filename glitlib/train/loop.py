"""The training loop, one for the supernet and for a standalone network, with exact resume.

Per step a :class:`Trainer` (1) seeds torch/numpy from ``(seed, step)``, (2) takes the
batch of ``step`` from its :class:`~glitlib.data.source.BatchSource` (in memory or
streamed from disk, a function of ``(seed, step)``), (3) sets the learning rate of
``step`` (timm's ``CosineLRScheduler``, warm-up then cosine), (4) runs
``forward(x, step)`` -- for the supernet, the path drawn for ``step`` -- and (5) takes
one AdamW step. Everything is a function of ``(seed, step)`` plus the weights and
optimizer state in the checkpoint, so a run killed at any point and resumed ends
bit-for-bit where an uninterrupted run ends.

Under torch.distributed every rank takes its own shard of the global batch;
BatchNorm normalises over the whole global batch; gradients are averaged by the
trainer's ``reduce`` (the supernet's path gradients in one bucketed all-reduce) or by
``DistributedDataParallel`` (the standalone model); rank 0 writes the checkpoints.
Under ``precision="bf16"`` forward and loss run under autocast.

Off-path modules of the supernet get no gradient (``grad is None``); with
``zero_grad(set_to_none=True)`` AdamW skips them entirely: no weight decay and
no momentum drift on choices that were not sampled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config.recipes import Recipe, TrainConfig
from ..data.source import BatchSource
from ..errors import ConfigError
from ..runtime.context import Runtime
from ..runtime.device import autocast
from ..runtime.files import load_checkpoint, save_checkpoint
from ..runtime.progress import bar
from ..runtime.ranks import rank_and_world
from ..runtime.seeds import seed_step
from .monitor import Monitor, metrics_path
from .parallel import average_path_gradients, synced_batchnorm

__all__ = ["Checkpoint", "Trainer", "configure_optimizer", "check_shards", "mixup_for"]

Forward = Callable[[Tensor, int], Tensor]


@dataclass(frozen=True)
class Checkpoint:
    """Where a training run saves itself, what identifies it, and whether to resume.

    ``header`` holds what identifies the run in the file (``kind``, ``space``,
    ``run``, anything needed to rebuild the model); a resumed run continues only
    from a checkpoint of the same kind, space and run.
    """

    path: Path
    header: dict[str, Any] = field(default_factory=dict)
    resume: bool = False


def configure_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """timm's AdamW: no weight decay on biases, norms and ``model.no_weight_decay()``."""
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model, opt="adamw", lr=recipe.lr,
                               weight_decay=recipe.weight_decay, filter_bias_and_bn=True)


def check_shards(recipe: Recipe) -> None:
    """Every rank must get an equal slice of the global batch (an even one for mixup):
    averaging the ranks' gradients is then the gradient of the whole batch."""
    _, world = rank_and_world()
    per_rank, left = divmod(recipe.batch_size, world)
    if left:
        raise ConfigError(f"batch size {recipe.batch_size} does not split evenly over "
                          f"{world} ranks; use a multiple of {world}")
    if isinstance(recipe, TrainConfig) and recipe.mixes and per_rank % 2:
        raise ConfigError(f"mixup/cutmix pair the images of each rank's batch, but each rank "
                          f"gets {per_rank}; use an even number of images per rank")


def mixup_for(recipe: Recipe, num_classes: int) -> Any:
    """timm's ``Mixup`` for a recipe that mixes batches, else ``None``."""
    if not isinstance(recipe, TrainConfig) or not recipe.mixes:
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix,
                 label_smoothing=recipe.smoothing, num_classes=num_classes)


def _loss(logits: Tensor, y: Tensor, smoothing: float) -> Tensor:
    if y.ndim == 2:  # soft targets from mixup/cutmix (smoothing already in them)
        from timm.loss import SoftTargetCrossEntropy

        return SoftTargetCrossEntropy()(logits, y)
    return F.cross_entropy(logits, y, label_smoothing=smoothing)


class Trainer:
    """One training run: a model, its AdamW and cosine schedule, its checkpoint.

    ``reduce`` averages gradients over ranks after the backward pass
    (:func:`~glitlib.train.parallel.average_path_gradients` for the supernet; ``None``
    when the forward is a ``DistributedDataParallel`` module, which does it itself).
    ``ema`` is updated after every step; ``mixup`` mixes every batch.
    """

    def __init__(self, model: nn.Module, recipe: Recipe, seed: int, rt: Runtime,
                 ckpt: Checkpoint | None = None, ema: Any = None,
                 mixup: Any = None,
                 reduce: Callable[[nn.Module], None] | None = average_path_gradients):
        from timm.scheduler import CosineLRScheduler

        check_shards(recipe)
        self.model, self.recipe, self.seed, self.rt = model, recipe, seed, rt
        self.ckpt, self.ema, self.mixup, self.reduce = ckpt, ema, mixup, reduce
        self.monitor: Monitor | None = None
        self.opt = configure_optimizer(model, recipe)
        self.sched = CosineLRScheduler(self.opt, t_initial=max(2, recipe.steps),
                                       lr_min=recipe.min_lr, warmup_t=recipe.warmup,
                                       warmup_lr_init=recipe.lr / 100, t_in_epochs=False)

    def restore(self) -> int:
        """The step to start from: the saved one when resuming from this run's checkpoint."""
        ck = self.ckpt
        if ck is None or not ck.resume or not Path(ck.path).exists():
            return 0
        saved = load_checkpoint(ck.path, ck.header["space"], ck.header["kind"],
                                ck.header.get("run"), resume=True)
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["optimizer"])
        if self.ema is not None and "ema" in saved:
            self.ema.load_state_dict(saved["ema"])
        return saved["step"]

    def fit(self, forward: Forward, data: BatchSource, desc: str = "train") -> int:
        """Train for the recipe's steps (from the saved step when resuming); returns the
        first step run. With a checkpoint the run is watched (:mod:`glitlib.train.monitor`):
        metrics per step beside the checkpoint and a log line now and then."""
        start, steps = self.restore(), self.recipe.steps
        device = next(self.model.parameters()).device
        self.model.train()
        progress = bar(steps, desc, self.rt.progress, initial=start)
        self.monitor = self._monitor(desc, start)
        batches = iter(data.batches(self.recipe.batch_size, self.seed, start, steps))
        with synced_batchnorm(self.model, rank_and_world()[1] > 1), progress:
            for step in range(start, steps):
                clock = time.perf_counter()
                x, y = next(batches)
                wait = time.perf_counter() - clock
                x = data.prepare(x.to(device, non_blocking=True))
                loss = self.step(forward, x, y.to(device, non_blocking=True), step)
                if step % 20 == 0:
                    progress.set_postfix(loss=f"{loss.item():.3f}")
                progress.update()
                if self.monitor is not None:
                    self.monitor.step(step, loss, self.opt.param_groups[0]["lr"], len(y),
                                      wait, time.perf_counter() - clock)
                self._save(step + 1)
        if self.monitor is not None:
            self.monitor.close()
        return start

    def _monitor(self, desc: str, start: int) -> Monitor | None:
        """Watch the run when it has a checkpoint (a run folder to write metrics into)."""
        if self.ckpt is None:
            return None
        board = self.ckpt.path.parent / "tensorboard" if self.rt.tensorboard else None
        return Monitor(desc, self.recipe.steps, start, metrics_path(Path(self.ckpt.path)),
                       board)

    def step(self, forward: Forward, x: Tensor, y: Tensor, step: int) -> Tensor:
        """One optimisation step; every random draw in it is seeded by ``(seed, step)``."""
        seed_step(self.seed, step, rank_and_world()[0])
        self.sched.step_update(step)
        if self.mixup is not None:
            x, y = self.mixup(x, y)
        with autocast(x.device, self.rt.precision):
            loss = _loss(forward(x, step), y, self.recipe.smoothing)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.reduce is not None:
            self.reduce(self.model)
        if self.recipe.clip_grad > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.clip_grad)
        self.opt.step()
        if self.ema is not None:
            self.ema.update(self.model, step=step)
        return loss

    def _save(self, done: int) -> None:
        """Checkpoint every ``ckpt_every`` steps and at the end (rank 0 writes)."""
        ck, recipe = self.ckpt, self.recipe
        if ck is None or (done % recipe.ckpt_every and done != recipe.steps):
            return
        if self.monitor is not None:
            self.monitor.flush()  # the metrics end where the checkpoint does
        save_checkpoint(ck.path, {
            **ck.header, "step": done, "config": asdict(recipe),
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {})})
