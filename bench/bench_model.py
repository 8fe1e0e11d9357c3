"""Model speed, side by side in one run: ratios, not absolute timings, are the result.

1. glitlib's ``deit-tiny`` vs ``timm.create_model("deit_tiny_patch16_224")``:
   inference and training-step throughput (target: ratio >= 0.95).
2. Supernet path vs the extracted standalone GLiT-Tiny: training-step time
   (target: overhead <= 1.10x).
3. The analytic cost counter: architectures per second (target: >= 100,000).

Rounds alternate between the two contenders so that load on the machine hits
both alike; each figure is the median over rounds.

    python bench/bench_model.py [--device cuda] [--dtype bfloat16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable

import timm
import torch
from torch import nn

import glitlib as gl


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(
    step: Callable[[], None], iters: int, device: str,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    _sync(device)
    start = clock()
    for _ in range(iters):
        step()
    _sync(device)
    return (clock() - start) / iters


def side_by_side(
    steps: dict[str, Callable[[], None]], rounds: int, iters: int, device: str,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per step of each contender, alternating every round.

    ``clock=time.thread_time`` counts only the CPU time of this thread: on a
    shared host, time spent waiting for a core is left out (one torch thread).
    """
    for step in steps.values():  # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(rounds):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))
        for name in order:
            times[name].append(_timed(steps[name], iters, device, clock))
    return {name: statistics.median(t) for name, t in times.items()}


def _infer(model: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> Callable[[], None]:
    def step() -> None:
        with torch.no_grad(), torch.autocast(x.device.type, dtype, enabled=dtype != torch.float32):
            model(x)
    return step


def _train(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Callable[[], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    forward = forward or model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype, enabled=dtype != torch.float32):
            loss = nn.functional.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
    return step


def bench_deit(args: argparse.Namespace, dtype: torch.dtype) -> dict:
    torch.manual_seed(0)
    timm_deit = timm.create_model("deit_tiny_patch16_224", pretrained=False).to(args.device)
    ours = gl.from_deit(timm_deit.state_dict()).to(args.device)
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    y = torch.randint(0, 1000, (args.batch,), device=args.device)
    timm_deit.eval(), ours.eval()
    infer = side_by_side(
        {"timm": _infer(timm_deit, x, dtype), "glitlib": _infer(ours, x, dtype)},
        args.rounds, args.iters, args.device)
    timm_deit.train(), ours.train()
    train = side_by_side(
        {"timm": _train(timm_deit, x, y, dtype), "glitlib": _train(ours, x, y, dtype)},
        args.rounds, args.iters, args.device)
    return {
        "inference_img_per_s": {k: args.batch / v for k, v in infer.items()},
        "train_img_per_s": {k: args.batch / v for k, v in train.items()},
        "inference_ratio_glitlib_over_timm": infer["timm"] / infer["glitlib"],
        "train_ratio_glitlib_over_timm": train["timm"] / train["glitlib"],
    }


def bench_supernet(args: argparse.Namespace, dtype: torch.dtype) -> dict:
    torch.manual_seed(0)
    space, arch = gl.get_arch("glit-tiny")
    # The stage-2 supernet around GLiT-Tiny's distribution: every low-level choice.
    supernet = gl.Supernet(gl.stage2(space, arch.distribution)).to(args.device).train()
    standalone = supernet.extract(arch).to(args.device).train()
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    y = torch.randint(0, 1000, (args.batch,), device=args.device)
    times = side_by_side({
        "standalone": _train(standalone, x, y, dtype),
        "supernet_path": _train(supernet, x, y, dtype, forward=lambda t: supernet(t, arch)),
    }, args.rounds, args.iters, args.device)
    return {
        "train_step_s": times,
        "supernet_params": sum(p.numel() for p in supernet.parameters()),
        "standalone_params": sum(p.numel() for p in standalone.parameters()),
        "overhead_supernet_over_standalone": times["supernet_path"] / times["standalone"],
    }


def bench_counter(n: int = 200_000) -> dict:
    space = gl.SPACES["tiny"]
    rng = random.Random(0)
    archs = [gl.joint(space).sample(rng) for _ in range(n)]
    model = gl.CostModel(space)
    start = time.perf_counter()
    for a in archs:
        model.macs(a)
    cached = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for a in archs[:2000]:
        gl.count(space, a)
    uncached = 2000 / (time.perf_counter() - start)
    return {"cost_model_arch_per_s": cached, "count_uncached_arch_per_s": uncached}


def common_flags(p: argparse.ArgumentParser, batch: int, threads: bool = False) -> None:
    """The flags every side-by-side benchmark takes: device, dtype, batch, rounds, output."""
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    if threads:
        p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the results here")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_flags(p, batch=16)
    args = p.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.backends.cuda.matmul.allow_tf32 = True
    report(args, {
        "deit_tiny": bench_deit(args, dtype),
        "supernet_vs_standalone": bench_supernet(args, dtype),
        "counter": bench_counter(),
    })


def context(args: argparse.Namespace) -> dict:
    """The device and versions every benchmark result records."""
    return {"device": torch.cuda.get_device_name() if args.device.startswith("cuda")
            else f"CPU ({platform.processor() or platform.machine()}, "
                 f"{torch.get_num_threads()} threads)",
            "torch": torch.__version__, "timm": timm.__version__,
            "batch": args.batch, "dtype": args.dtype}


def report(args: argparse.Namespace, measured: dict) -> None:
    """Print the result as JSON (and write it to ``--json``), with its context first."""
    text = json.dumps({**context(args), **measured}, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
