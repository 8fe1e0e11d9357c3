"""What torch.compile costs and gains: the supernet (a new graph per path) vs one model.

A SPOS step trains the path drawn for it; to dynamo each path is another graph,
so a compiled supernet recompiles on (almost) every step until it reaches
dynamo's recompile limit and falls back to eager. A standalone model compiles
once. This measures, side by side in one run, on the digits space:

* supernet: seconds for the first ``--steps`` training steps, eager vs compiled,
  and how many distinct paths (graphs) they drew;
* standalone model: the one-off compile time and the steady per-step time,
  eager vs compiled.

    OMP_NUM_THREADS=1 python bench/bench_compile.py --steps 12 --backend inductor
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from glitlib import SPACES, Arch, stage2
from glitlib.data.memory import load_digits
from glitlib.data.source import batch_at
from glitlib.model.costs import CostModel
from glitlib.model.glit import GLiT
from glitlib.nas.sampling import MacsSampler
from glitlib.nas.supernet import Supernet

ARCH = {"blocks": [{"g": 1, "d_k": 8, "d_z": 2, "e": 2, "k": 5}] * 4}


def _step(model, forward, opt, x, y) -> None:
    loss = F.cross_entropy(forward(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def supernet_steps(compiled: bool, steps: int, backend: str) -> tuple[float, int]:
    """Seconds for ``steps`` SPOS steps (compile time included) and distinct paths drawn."""
    torch.manual_seed(0)
    space = SPACES["digits"]
    paths = stage2(space, [1, 2, 2, 3])
    net = Supernet(paths)
    run = torch.compile(net, backend=backend) if compiled else net
    sampler = MacsSampler(paths, CostModel(space), None, None, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    data = load_digits(0).train
    drawn = set()
    start = time.perf_counter()
    for step in range(steps):
        arch = sampler(0, step)
        drawn.add(arch)
        b = batch_at(data, 128, 0, step)
        _step(net, lambda x, a=arch: run(x, a), opt, b.x, b.y)
    return time.perf_counter() - start, len(drawn)


def model_steps(compiled: bool, steps: int, backend: str) -> tuple[float, float]:
    """(seconds of the first step, median seconds of the following steps)."""
    torch.manual_seed(0)
    model = GLiT(SPACES["digits"], Arch.from_dict(ARCH))
    run = torch.compile(model, backend=backend) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = load_digits(0).train
    times = []
    for step in range(steps):
        b = batch_at(data, 128, 0, step)
        t = time.perf_counter()
        _step(model, run, opt, b.x, b.y)
        times.append(time.perf_counter() - t)
    rest = sorted(times[1:])
    return times[0], rest[len(rest) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--backend", default="inductor")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    e_sup, paths = supernet_steps(False, args.steps, args.backend)
    c_sup, _ = supernet_steps(True, args.steps, args.backend)
    e_first, e_step = model_steps(False, args.steps, args.backend)
    c_first, c_step = model_steps(True, args.steps, args.backend)
    print(f"torch {torch.__version__}, backend {args.backend}, {args.threads} thread(s), "
          f"digits, batch 128")
    print(f"supernet, {args.steps} steps over {paths} distinct paths: eager {e_sup:.2f} s, "
          f"compiled {c_sup:.2f} s (x{c_sup / e_sup:.1f})")
    print(f"standalone model: first step eager {e_first:.2f} s, compiled {c_first:.2f} s; "
          f"then per step eager {1e3 * e_step:.1f} ms, compiled {1e3 * c_step:.1f} ms "
          f"(x{c_step / e_step:.2f})")


if __name__ == "__main__":
    main()
