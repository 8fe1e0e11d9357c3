"""Search speed on the digits preset: where a laptop search spends its minutes.

1. Candidate evaluations per second, BatchNorm recalibration included (and
   without it, to show its share).
2. Supernet training steps vs training the extracted standalone model of the
   same path, side by side in one run (rounds alternate; medians; the ratio).
3. A cProfile of a short supernet training run and of candidate evaluation.
4. With ``--search``: wall time of ``glit search --preset digits`` and of
   each stage step (read back from its ``summary.json``).

    python bench/bench_search.py [--search] [--device cpu]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from glitlib import SPACES, stage1
from glitlib.config.recipes import SupernetConfig
from glitlib.config.search import SearchConfig
from glitlib.data.memory import load_digits
from glitlib.data.source import batch_at
from glitlib.nas.evaluator import Evaluator
from glitlib.nas.training import train_supernet
from glitlib.runtime.context import Runtime
from glitlib.runtime.files import read_json
from glitlib.train.loop import configure_optimizer


def eval_rate(net, splits, n: int, bn_batches: int) -> float:
    """Candidates scored per second (BN recalibration + held-out accuracy)."""
    ev = Evaluator(net, splits.train, splits.val, bn_batches=bn_batches,
                   bn_batch_size=SearchConfig().bn_batch_size)
    archs = [net.paths.sample(random.Random(i)) for i in range(n)]
    ev(archs[0])  # warm-up
    start = time.perf_counter()
    for a in archs:
        ev(a)
    return n / (time.perf_counter() - start)


def step_times(net, splits, rounds: int, steps: int) -> tuple[float, float]:
    """Median ms per training step: supernet path vs its extracted standalone model."""
    arch = net.paths.sample(random.Random(0))
    model = net.extract(arch).train()
    net.train()
    cfg = SupernetConfig()
    opts = {"supernet": configure_optimizer(net, cfg), "standalone": configure_optimizer(
        model, cfg)}
    runs = {"supernet": lambda x: net(x, arch), "standalone": model}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(rounds):
        for name, fwd in runs.items():
            start = time.perf_counter()
            for s in range(steps):
                b = batch_at(splits.train, 128, 0, r * steps + s)
                loss = F.cross_entropy(fwd(b.x), b.y)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
            times[name].append(1000 * (time.perf_counter() - start) / steps)
    return statistics.median(times["supernet"]), statistics.median(times["standalone"])


def profile(fn, top: int = 12) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
    return "\n".join(lines[start:start + top + 1])


def search_wall(device: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "glitlib", "search", "--preset", "digits",
                        "--out", str(out), "--device", device, "--quiet"], check=True)
        wall = time.perf_counter() - start
        s = read_json(out / "summary.json")
        timings = {k: read_json(out / k / "timings.json") for k in s["stages"]}
    return {"wall_s": round(wall, 1), "stages": timings,
            "evaluated": {k: v["evaluated"] for k, v in s["stages"].items()},
            "arch": s["arch"], "val": s["val_accuracy"], "test": s["test_accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--search", action="store_true", help="also time glit search")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"device {args.device}")
    splits = load_digits(0).to(args.device)
    space = SPACES["digits"]
    quiet = Runtime(args.device, progress=False)
    net = train_supernet(stage1(space), splits.train, SupernetConfig(steps=100), 0, quiet)
    bn = SearchConfig().bn_batches  # what glit search uses
    size = SearchConfig().bn_batch_size
    print(f"evaluations/s, {bn} BN batch(es) of {size}: {eval_rate(net, splits, 100, bn):.1f}")
    print(f"evaluations/s, no BN recalibration: {eval_rate(net, splits, 100, 0):.1f}")
    sup, alone = step_times(net, splits, rounds=5, steps=20)
    print(f"train step (batch 128): supernet {sup:.2f} ms, standalone {alone:.2f} ms, "
          f"ratio {sup / alone:.3f}")
    print("\nprofile: 100 supernet training steps (tottime)")
    print(profile(lambda: train_supernet(stage1(space), splits.train,
                                         SupernetConfig(steps=100), 0, quiet)))
    print("\nprofile: 100 candidate evaluations (tottime)")
    print(profile(lambda: eval_rate(net, splits, 100, bn)))
    if args.search:
        print("\nglit search --preset digits:", search_wall(args.device))


if __name__ == "__main__":
    main()
