"""Watching a training run: per-step metrics on disk, a log line at a sensible cadence.

A :class:`Monitor` is fed every step by the :class:`~glitlib.train.loop.Trainer` and

* appends one JSON object per step to ``<checkpoint>_metrics.jsonl`` (``step``, ``loss``,
  ``lr``, ``images_per_s``, ``data_wait`` -- the share of the step spent waiting for the
  batch -- and the GPU memory where there is a GPU), written at each checkpoint, so the
  file always ends where the checkpoint does: a resumed run drops any line of a step it
  redoes and appends, without duplicates;
* logs a line through the ``glitlib`` logger on its first step, every fifth of the run
  and at least every five minutes: step, loss, learning rate, images per second, data
  wait, time left;
* writes the same scalars to TensorBoard when the runtime asks for it (``--tensorboard``,
  an optional extra).

Losses are kept as tensors until a line is written, so watching adds no host sync per
step on a GPU.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..runtime.files import append_lines, atomic_write_bytes, register_log
from ..runtime.log import log
from ..runtime.ranks import is_main

__all__ = ["Monitor", "metrics_path"]

_EVERY_S = 300.0  # at most this long between log lines


def metrics_path(checkpoint: Path) -> Path:
    """Where the metrics of the run checkpointed at ``checkpoint`` go."""
    return checkpoint.with_name(f"{checkpoint.stem}_metrics.jsonl")


class Monitor:
    """Metrics and log lines of one training run (rank 0 writes; the others only count)."""

    def __init__(self, desc: str, steps: int, start: int, metrics: Path | None,
                 tensorboard: Path | None = None):
        self.desc, self.steps, self.start = desc, steps, start
        self.metrics = metrics
        self.pending: list[tuple[int, Tensor, dict[str, Any]]] = []  # steps to write
        self.clock = self.last_log = time.perf_counter()
        self.images, self.next_log = 0, start
        self.writer = _tensorboard(tensorboard) if tensorboard is not None else None
        if metrics is not None and start > 0:
            _drop_from(metrics, start)

    def step(self, step: int, loss: Tensor, lr: float, images: int, wait: float,
             took: float) -> None:
        """Record step ``step``: ``images`` trained in ``took`` seconds, ``wait`` of them
        waiting for the batch."""
        self.images += images
        row: dict[str, Any] = {"step": step, "lr": lr,
                               "images_per_s": round(images / max(took, 1e-9), 1),
                               "data_wait": round(wait / max(took, 1e-9), 4)}
        if torch.cuda.is_available() and loss.is_cuda:
            row["gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        self.pending.append((step, loss.detach(), row))
        now = time.perf_counter()
        if step >= self.next_log or now - self.last_log > _EVERY_S or step + 1 == self.steps:
            self._log(step, now)

    def _log(self, step: int, now: float) -> None:
        loss = float(self.pending[-1][1])
        row = self.pending[-1][2]
        done = step + 1 - self.start
        rate = self.images / max(now - self.clock, 1e-9)
        left = (self.steps - step - 1) * (now - self.clock) / max(done, 1)
        mem = f", GPU memory {row['gpu_mem_gb']:.2f} GB" if "gpu_mem_gb" in row else ""
        log.info("%s: step %d/%d, loss %.4f, lr %.2e, %.0f images/s, data wait %.0f%%, "
                 "%s left%s", self.desc, step + 1, self.steps, loss, row["lr"], rate,
                 100 * row["data_wait"], timedelta(seconds=round(left)), mem)
        self.last_log = now
        self.next_log = step + max(1, self.steps // 5)

    def flush(self) -> None:
        """Write the pending steps (at a checkpoint, and at the end)."""
        if not self.pending:
            return
        losses = torch.stack([loss.float() for _, loss, _ in self.pending]).tolist()
        rows = [{"step": s, "loss": round(v, 6), **{k: r[k] for k in r if k != "step"}}
                for (s, _, r), v in zip(self.pending, losses)]
        self.pending = []
        if self.metrics is not None:
            append_lines(self.metrics, [json.dumps(r) for r in rows])
        if self.writer is not None and is_main():
            for r in rows:
                for key in ("loss", "lr", "images_per_s", "data_wait"):
                    self.writer.add_scalar(f"{self.desc}/{key}", r[key], r["step"])
            self.writer.flush()

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()


def _drop_from(path: Path, start: int) -> None:
    """Keep the lines of steps before ``start`` (a resumed run redoes the others)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] < start:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill
    atomic_write_bytes(path, "".join(f"{line}\n" for line in kept).encode())
    register_log(path)


def _tensorboard(folder: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    if not is_main():
        return None
    writer = SummaryWriter(str(folder))
    register_log(folder)
    return writer
