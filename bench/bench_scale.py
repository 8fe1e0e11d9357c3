"""The search at ImageNet scale: what its three kinds of work cost, against DeiT-Tiny.

GLiT's search does three kinds of work, each at 224 px on the ``tiny`` space:

a) supernet training: one SPOS step (forward, backward, AdamW) of the path
   drawn at random for that step, in stage 1 (``stage1``: the number of global
   heads per block free) and stage 2 (``stage2`` around GLiT-Tiny's
   distribution: ``d_k, d_z, e, k`` free);
b) candidate evaluation: BatchNorm recalibration of a path (one batch of
   ``--batch`` images through :class:`glitlib.nas.evaluator.Evaluator`) then its
   accuracy on ``--held-out`` images; DeiT-Tiny runs inference on as many
   images (recalibration batch + held-out). The default held-out count is twice
   the batch, the mix of SPOS (200 x 128 recalibration images against 50,000
   held-out);
c) retraining: a training step of the standalone GLiT-Tiny.

Every contender runs under the same settings (batch, AdamW, float32 on the CPU;
``--device cuda --dtype bfloat16`` runs torch.autocast bf16) and is timed side
by side with DeiT-Tiny (timm) in one run: rounds alternate, each figure is the
median over rounds (``bench_model.side_by_side``). Results are images per
second, their ratio over DeiT-Tiny's and the ratio of MACs per second (MACs per
image from :class:`glitlib.CostModel`, the mean over the paths timed).

The throughputs then give the cost of each stage at the paper's settings, in
GPU-hours (:func:`gpu_hours`). On the CPU the GPU throughput is an *estimate*:
DeiT-Tiny's GPU throughput (``--deit-gpu-img-s``, default the DeiT paper's
2,536 img/s inference on one V100; a training step taken as ``--train-factor``
= 3 inference steps) times the glitlib / DeiT ratio measured here. With
``--device cuda`` the measured throughputs are used. ``--from-json`` redoes the
table from a saved result without measuring.

    python bench/bench_scale.py [--threads 1] [--batch 8] [--rounds 7] [--clock cpu]
        [--device cuda --dtype bfloat16] [--json out.json]
    python bench/bench_scale.py --from-json out.json [--deit-gpu-img-s 2536]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator

import timm
import torch
from bench_model import _infer, _train, common_flags, context, report, side_by_side

import glitlib as gl
from glitlib.data.source import TensorData
from glitlib.nas.evaluator import Evaluator

DEIT_MACS = 1_253_683_200  # DeiT-Tiny, one 224 px image, attention matmuls included

# The paper's settings (SPOS for the supernet and the evaluation, DeiT for retraining).
IMAGENET_TRAIN = 1_281_167
HELD_OUT = 50_000  # taken from the training set for the search
SUPERNET_EPOCHS = 120
CANDIDATES = 1_000
BN_IMAGES = 200 * 128
RETRAINED = 5
RETRAIN_EPOCHS = 300


class PathCycle:
    """Paths drawn once from a seeded rng, handed out in turn (one per call)."""

    def __init__(self, paths: gl.PathSpace, n: int, seed: int):
        rng = random.Random(seed)
        self.paths = [paths.sample(rng) for _ in range(n)]
        self._next: Iterator[gl.Arch] = iter(self.paths * 1000)
        cost = gl.CostModel(paths.space)
        self.macs = statistics.mean(cost.macs(a) for a in self.paths)

    def __call__(self) -> gl.Arch:
        return next(self._next)


def _autocast(device: str, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    return torch.autocast(torch.device(device).type, dtype, enabled=dtype != torch.float32)


def supernets(device: str) -> dict[str, gl.Supernet]:
    """Stage 1's and stage 2's supernets of the ``tiny`` space."""
    space, arch = gl.get_arch("glit-tiny")
    torch.manual_seed(0)
    return {"supernet_stage1": gl.Supernet(gl.stage1(space)).to(device),
            "supernet_stage2": gl.Supernet(gl.stage2(space, arch.distribution)).to(device)}


def bench_training(args: argparse.Namespace, dtype: torch.dtype, nets: dict) -> dict:
    """(a) supernet steps and (c) GLiT-Tiny's retraining step, each beside DeiT-Tiny's."""
    torch.manual_seed(0)
    deit = timm.create_model("deit_tiny_patch16_224", pretrained=False).to(args.device)
    glit = gl.build("glit-tiny").to(args.device)
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    y = torch.randint(0, 1000, (args.batch,), device=args.device)
    n = 1 + args.rounds * args.iters  # warm-up + timed steps: every step its own path
    cycles = {name: PathCycle(net.paths, n, seed=i) for i, (name, net) in enumerate(nets.items())}
    steps = {"deit": _train(deit.train(), x, y, dtype),
             "glit_tiny": _train(glit.train(), x, y, dtype)}
    for name, net in nets.items():
        net.train()
        steps[name] = _train(net, x, y, dtype,
                             forward=lambda t, net=net, c=cycles[name]: net(t, c()))
    secs = side_by_side(steps, args.rounds, args.iters, args.device, args.clock)
    macs = {"deit": DEIT_MACS, "glit_tiny": gl.count(*gl.get_arch("glit-tiny")).macs}
    macs |= {name: c.macs for name, c in cycles.items()}
    return _rates(args.batch, secs, macs)


def bench_evaluation(args: argparse.Namespace, dtype: torch.dtype, nets: dict) -> dict:
    """(b) one candidate: BN recalibration + held-out accuracy, beside DeiT-Tiny inference."""
    torch.manual_seed(0)
    deit = timm.create_model("deit_tiny_patch16_224", pretrained=False).to(args.device).eval()
    held_out = args.held_out or 2 * args.batch
    train = TensorData(torch.randn(4 * args.batch, 3, 224, 224, device=args.device),
                       torch.randint(0, 1000, (4 * args.batch,), device=args.device))
    val = TensorData(torch.randn(held_out, 3, 224, 224, device=args.device),
                     torch.randint(0, 1000, (held_out,), device=args.device))
    bn_x = train.x[:args.batch]
    infer_bn, infer_val = _infer(deit, bn_x, dtype), _infer(deit, val.x, dtype)

    def deit_step() -> None:
        infer_bn()
        infer_val()

    n = 1 + args.rounds * args.iters
    steps: dict[str, Callable[[], None]] = {"deit": deit_step}
    cycles = {}
    for i, (name, net) in enumerate(nets.items()):
        ev = Evaluator(net, train, val, bn_batches=1, bn_batch_size=args.batch,
                       batch_size=held_out)
        cycle = cycles[name] = PathCycle(net.paths, n, seed=100 + i)

        def step(ev: Evaluator = ev, c: PathCycle = cycle) -> None:
            with _autocast(args.device, dtype):
                ev(c())
        steps[name] = step
    secs = side_by_side(steps, args.rounds, args.iters, args.device, args.clock)
    macs = {"deit": DEIT_MACS} | {name: c.macs for name, c in cycles.items()}
    result = _rates(args.batch + held_out, secs, macs)
    result["images_per_candidate"] = {"bn_recalibration": args.batch, "held_out": held_out}
    return result


def _rates(images: int, secs: dict[str, float], macs: dict[str, float]) -> dict:
    img_s = {name: images / s for name, s in secs.items()}
    return {
        "img_per_s": img_s,
        "macs_per_image": macs,
        "img_per_s_ratio_over_deit": {n: v / img_s["deit"] for n, v in img_s.items()
                                      if n != "deit"},
        "macs_per_s_ratio_over_deit": {n: v * macs[n] / (img_s["deit"] * DEIT_MACS)
                                       for n, v in img_s.items() if n != "deit"},
    }


# -- GPU-hours at the paper's settings ------------------------------------------
def stage_work() -> dict[str, tuple[str, int, str]]:
    """Images one stage processes per kind of work, and where the number comes from."""
    supernet = SUPERNET_EPOCHS * (IMAGENET_TRAIN - HELD_OUT)
    evaluation = CANDIDATES * (BN_IMAGES + HELD_OUT)
    retraining = RETRAINED * RETRAIN_EPOCHS * IMAGENET_TRAIN
    return {
        "supernet": ("train", supernet, f"{SUPERNET_EPOCHS} epochs x "
                     f"{IMAGENET_TRAIN - HELD_OUT:,} images (SPOS)"),
        "evaluation": ("infer", evaluation, f"{CANDIDATES:,} candidates x ({BN_IMAGES:,} "
                       f"BN recalibration + {HELD_OUT:,} held-out images)"),
        "retraining": ("train", retraining, f"{RETRAINED} candidates x {RETRAIN_EPOCHS} "
                       f"epochs x {IMAGENET_TRAIN:,} images (DeiT recipe)"),
    }


def gpu_hours(result: dict, deit_gpu_img_s: float, train_factor: float) -> dict:
    """Each stage's cost in GPU-hours: images processed / GPU throughput.

    Measured on a GPU, the throughputs are used as they are; measured on the
    CPU, the GPU throughput is estimated as DeiT-Tiny's (``deit_gpu_img_s`` for
    inference, divided by ``train_factor`` for a training step) times the
    glitlib / DeiT ratio measured on the CPU. Retraining in both stages runs at
    GLiT-Tiny's rate (stage 1 retrains networks of similar MACs).
    """
    measured = result.get("device_type") == "cuda"
    train, ev = result["training"], result["evaluation"]
    if measured:
        rate = {"train": train["img_per_s"], "infer": ev["img_per_s"]}
    else:
        deit = {"train": deit_gpu_img_s / train_factor, "infer": deit_gpu_img_s}
        rate = {kind: {n: deit[kind] * r for n, r in res["img_per_s_ratio_over_deit"].items()}
                | {"deit": deit[kind]} for kind, res in (("train", train), ("infer", ev))}
    rows, totals = [], {"stage 1": 0.0, "stage 2": 0.0}
    for work, (kind, images, why) in stage_work().items():
        row = {"work": work, "images_per_stage": images, "assumption": why}
        for stage in ("stage1", "stage2"):
            who = "glit_tiny" if work == "retraining" else f"supernet_{stage}"
            img_s = rate[kind][who]
            hours = images / img_s / 3600
            row[f"{stage}_img_per_s"], row[f"{stage}_gpu_hours"] = img_s, hours
            totals[f"stage {stage[-1]}"] += hours
        row["deit_gpu_hours"] = images / rate[kind]["deit"] / 3600
        rows.append(row)
    return {
        "kind": "measured on this GPU" if measured else (
            f"ESTIMATE: DeiT-Tiny's GPU throughput ({deit_gpu_img_s:,.0f} img/s inference, "
            f"training {train_factor:g}x slower) x the glitlib / DeiT ratio measured on "
            f"{result.get('device', 'the CPU')}"),
        "rows": rows,
        "total_gpu_hours": {**totals, "search": sum(totals.values())},
    }


def format_table(table: dict) -> str:
    """The GPU-hour table as Markdown, with its assumptions."""
    lines = [f"GPU-hours per stage ({table['kind']})", "",
             "| work | images per stage | stage 1: img/s | stage 1: GPU-h "
             "| stage 2: img/s | stage 2: GPU-h | DeiT-Tiny alike: GPU-h |",
             "|---|---|---|---|---|---|---|"]
    for r in table["rows"]:
        lines.append(f"| {r['work']} | {r['images_per_stage']:,} | {r['stage1_img_per_s']:,.0f} "
                     f"| {r['stage1_gpu_hours']:,.1f} | {r['stage2_img_per_s']:,.0f} "
                     f"| {r['stage2_gpu_hours']:,.1f} | {r['deit_gpu_hours']:,.1f} |")
    t = table["total_gpu_hours"]
    lines += [f"| **total** | | | {t['stage 1']:,.1f} | | {t['stage 2']:,.1f} | |", "",
              f"Both stages: {t['search']:,.0f} GPU-hours ({t['search'] / 24:,.1f} GPU-days)."]
    lines += ["", "Assumptions:"] + [f"* {r['work']}: {r['assumption']}" for r in table["rows"]]
    lines.append("* retraining of stage 1 and stage 2 at GLiT-Tiny's rate; the DeiT column is "
                 "the same work at DeiT-Tiny's rate")
    return "\n".join(lines)


def write_book_summary(saved: dict, args: argparse.Namespace) -> None:
    """The few figures chapter 13 turns into GPU-hours: glitlib / DeiT-Tiny ratios of
    images per second (supernet and evaluation: the mean of the two stages) and the
    assumed GPU throughput of DeiT-Tiny."""
    from glitlib.runtime.files import write_json

    def mean(d: dict, keys: tuple[str, ...]) -> float:
        return round(sum(d[k] for k in keys) / len(keys), 4)

    stages = ("supernet_stage1", "supernet_stage2")
    train = saved["training"]["img_per_s_ratio_over_deit"]
    evals = saved["evaluation"]["img_per_s_ratio_over_deit"]
    write_json(args.book_json, {
        "device": saved["device"], "clock": saved["clock"], "batch": saved["batch"],
        "command": f"python bench/bench_scale.py --from-json {args.from_json} --book-json "
                   f"{args.book_json}",
        "deit_tiny_gpu_img_per_s": {
            "inference": args.deit_gpu_img_s,
            "training": round(args.deit_gpu_img_s / args.train_factor, 1),
            "source": "DeiT paper (Touvron et al., 2021): DeiT-Ti inference on one V100; "
                      f"a training step taken as {args.train_factor:g} inference steps"},
        "ratios": {"supernet_step": mean(train, stages),
                   "candidate_evaluation": mean(evals, stages),
                   "retrain_step": round(train["glit_tiny"], 4)}})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_flags(p, batch=8, threads=True)
    p.add_argument("--held-out", type=int, default=0,
                   help="held-out images per candidate (default: twice the batch)")
    p.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                   help="cpu: this thread's CPU time (one thread, CPU only)")
    p.add_argument("--from-json", default=None,
                   help="no measurement: print the GPU-hour table of a saved result")
    p.add_argument("--deit-gpu-img-s", type=float, default=2536.0,
                   help="DeiT-Tiny inference img/s on the GPU the estimate is for "
                        "(default: the DeiT paper's 2,536 on one V100)")
    p.add_argument("--train-factor", type=float, default=3.0,
                   help="a training step costs this many inference steps (default 3)")
    p.add_argument("--book-json", default=None,
                   help="with --from-json: write the ratios the book's chapter 13 reads "
                        "(data/scale/throughput.json)")
    args = p.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        print(format_table(gpu_hours(saved, args.deit_gpu_img_s, args.train_factor)))
        if args.book_json:
            write_book_summary(saved, args)
        return
    if args.clock == "cpu" and (args.threads != 1 or args.device != "cpu"):
        p.error("--clock cpu measures one thread: use it with --threads 1 on the CPU")
    args.clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    nets = supernets(args.device)
    result = {
        **context(args),
        "clock": "thread CPU time" if args.clock is time.thread_time else "wall",
        "device_type": torch.device(args.device).type,
        "training": bench_training(args, dtype, nets),
        "evaluation": bench_evaluation(args, dtype, nets),
    }
    table = gpu_hours(result, args.deit_gpu_img_s, args.train_factor)
    report(args, {**result, "gpu_hours": table})
    print()
    print(format_table(table))


if __name__ == "__main__":
    main()
