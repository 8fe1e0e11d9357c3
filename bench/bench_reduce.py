"""Averaging a path's gradients over ranks: three ways, timed side by side.

Under torch.distributed every rank trains the same supernet path on its own
shard of the batch, and the path's gradients are averaged before AdamW's step.
Off-path parameters have no gradient (``grad is None``) on every rank. Three
ways to average, each on its own copy of the same supernet:

* ``per_param``: one ``all_reduce`` per parameter that has a gradient;
* ``bucketed``: the path's gradients flattened into one buffer, one
  ``all_reduce``, copied back;
* ``ddp``: ``DistributedDataParallel(find_unused_parameters=True)`` around the
  supernet (its forward takes the path), which buckets and overlaps the
  reduction with the backward pass.

Two gloo ranks on the CPU (one thread each) run the same paths and batches
(:func:`glitlib.data.source.batch_at` shards each global batch; BatchNorm sees its
rank's shard), so after the run the three copies must hold the same weights
(``allclose``), on both ranks. Rounds
alternate between the three; each figure is the median over rounds of wall
seconds per step on rank 0 (the ranks wait for each other in the reduction, so
CPU time would leave that out). ``averaging_ms`` is the time of the reduction
alone (not separable for DDP).

    python bench/bench_reduce.py [--rounds 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from bench_model import report
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
from torch.nn.parallel import DistributedDataParallel

import glitlib as gl
from glitlib.config.recipes import TrainConfig
from glitlib.data.memory import load_digits
from glitlib.data.source import TensorData, batch_at
from glitlib.train.loop import configure_optimizer

STRATEGIES = ("per_param", "bucketed", "ddp")


def setups(tiny_blocks: int, tiny_batch: int) -> dict[str, tuple[gl.PathSpace, int]]:
    """Supernet path spaces and global batch sizes: the digits search and a cut-down tiny."""
    tiny = gl.SPACES["tiny"]
    tiny = dataclasses.replace(tiny, name=f"tiny-{tiny_blocks}-blocks", depth=tiny_blocks)
    return {"digits_stage1": (gl.stage1(gl.SPACES["digits"]), 128),
            f"tiny_{tiny_blocks}_blocks_stage1": (gl.stage1(tiny), tiny_batch)}


def _data(space: gl.SearchSpace, name: str) -> TensorData:
    if name.startswith("digits"):
        return load_digits(0).train
    g = torch.Generator().manual_seed(0)
    n = 64
    return TensorData(torch.randn(n, space.in_chans, space.img_size, space.img_size, generator=g),
                      torch.randint(0, space.num_classes, (n,), generator=g))


def average_per_param(model: nn.Module) -> None:
    """One all_reduce per parameter of the path (off-path ones have no gradient)."""
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def average_bucketed(model: nn.Module) -> None:
    """One all_reduce over the path's gradients flattened into one buffer."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, avg in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(avg)


class Contender:
    """One copy of the supernet, its optimizer, and how it averages gradients."""

    def __init__(self, net: gl.Supernet, strategy: str, data: TensorData, batch: int):
        self.net, self.data, self.batch = net, data, batch
        self.opt = configure_optimizer(net, TrainConfig())
        self.forward: nn.Module = net
        self.average: Callable[[nn.Module], None] = lambda m: None
        if strategy == "ddp":
            self.forward = DistributedDataParallel(net, find_unused_parameters=True)
        else:
            self.average = average_per_param if strategy == "per_param" else average_bucketed
        self.step_no, self.averaging_s, self.grad_tensors = 0, 0.0, 0

    def step(self) -> None:
        """The training step of ``step_no``: its path and batch are the same on every rank."""
        arch = self.net.paths.sample(random.Random(self.step_no))
        b = batch_at(self.data, self.batch, 0, self.step_no)
        loss = F.cross_entropy(self.forward(b.x, arch), b.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.grad_tensors += sum(p.grad is not None for p in self.net.parameters())
        start = time.perf_counter()
        self.average(self.net)
        self.averaging_s += time.perf_counter() - start
        self.opt.step()
        self.step_no += 1


def _flat_params(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def bench_setup(paths: gl.PathSpace, batch: int, data: TensorData, rounds: int,
                iters: int) -> dict:
    torch.manual_seed(0)
    base = gl.Supernet(paths)
    runs = {s: Contender(copy.deepcopy(base), s, data, batch) for s in STRATEGIES}
    for c in runs.values():  # warm-up (also DDP's first, bucket-building step)
        c.step()
        c.averaging_s, c.grad_tensors = 0.0, 0
    times: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    for r in range(rounds):
        for s in STRATEGIES if r % 2 == 0 else reversed(STRATEGIES):
            dist.barrier()
            start = time.perf_counter()
            for _ in range(iters):
                runs[s].step()
            times[s].append((time.perf_counter() - start) / iters)
    flat = {s: _flat_params(c.net) for s, c in runs.items()}
    ref = flat["per_param"]
    rank0 = ref.clone()
    dist.broadcast(rank0, 0)
    steps = 1 + rounds * iters
    med = {s: statistics.median(t) for s, t in times.items()}
    return {
        "global_batch": batch, "steps_per_contender": steps,
        "supernet_params": ref.numel(),
        "path_grad_tensors_per_step": runs["per_param"].grad_tensors / (steps - 1),
        "step_ms": {s: 1e3 * v for s, v in med.items()},
        "averaging_ms": {s: 1e3 * runs[s].averaging_s / (steps - 1)
                         for s in ("per_param", "bucketed")},
        "step_ratio_over_per_param": {s: med[s] / med["per_param"] for s in STRATEGIES},
        "max_abs_weight_diff_vs_per_param": {
            s: (flat[s] - ref).abs().max().item() for s in ("bucketed", "ddp")},
        "same_weights": all(torch.allclose(flat[s], ref, rtol=1e-5, atol=1e-6)
                            for s in STRATEGIES),
        "same_weights_on_both_ranks": torch.equal(rank0, ref),
    }


def worker(rank: int, world: int, init: str, args: argparse.Namespace, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        result = {}
        for name, (paths, batch) in setups(args.tiny_blocks, args.tiny_batch).items():
            iters = args.iters if name.startswith("digits") else max(1, args.iters // 4)
            result[name] = bench_setup(paths, batch, _data(paths.space, name), args.rounds,
                                       iters)
            # every rank must agree on every check; rank 0 reports
            checks = ("same_weights", "same_weights_on_both_ranks")
            ok = torch.tensor([result[name][c] for c in checks], dtype=torch.int32)
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
            result[name] |= {c: bool(v) for c, v in zip(checks, ok.tolist())}
        if rank == 0:
            with open(out, "w") as f:
                json.dump(result, f)
    finally:
        dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--iters", type=int, default=12,
                   help="steps per round on digits (a quarter of it on tiny)")
    p.add_argument("--tiny-blocks", type=int, default=4)
    p.add_argument("--tiny-batch", type=int, default=8, help="global batch on tiny")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(1)
    world = 2
    with tempfile.TemporaryDirectory() as tmp:
        init, out = f"file://{os.path.join(tmp, 'rendezvous')}", os.path.join(tmp, "out.json")
        mp.spawn(worker, args=(world, init, args, out), nprocs=world, join=True)
        with open(out) as f:
            measured = json.load(f)
    args.device, args.batch, args.dtype = "cpu", "see each setup", "float32"
    report(args, {"ranks": world, "backend": "gloo", "threads_per_rank": 1,
                  "clock": "wall, rank 0", **measured})
    for name, r in measured.items():
        print(f"{name}: ms per step " + ", ".join(
            f"{s} {r['step_ms'][s]:.1f} (x{r['step_ratio_over_per_param'][s]:.3f})"
            for s in STRATEGIES) + f"; same weights: {r['same_weights']}")


if __name__ == "__main__":
    main()
