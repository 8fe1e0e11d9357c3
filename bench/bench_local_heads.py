"""GLiT-Tiny against DeiT-Tiny, side by side in one run: MACs per second.

GLiT-Tiny does more work than DeiT-Tiny (its MACs, from :func:`glitlib.count`,
are 1.17x DeiT's), so images per second alone would understate it. The
figure of merit is the ratio of MACs per second,

    (glit_img_per_s * glit_macs) / (deit_img_per_s * deit_macs),

for inference and for a training step (forward, backward, AdamW). Target:
>= 0.9. A third contender, ``glit_conv1d``, is GLiT-Tiny with its local heads
run as the released code runs them (``Conv1d`` modules on ``(B, C, T)``,
BatchNorm1d, transposes): the same weights and outputs, for a before/after in
the same run. Rounds alternate between the contenders (see
``bench_model.py``); each figure is the median over rounds.

A second part times one local-heads module alone, forward and backward, at
GLiT-Tiny's largest shape and at the digits shape: the default path, the
``Conv1d`` formulation and, for the short digits sequence, the banded matmul
(``banded_max_tokens``).
``--profile`` adds both models' operator time by kind of work (matmul,
attention, convolution, copies, other).

    python bench/bench_local_heads.py [--threads 1] [--batch 8] [--rounds 7]
        [--clock wall|cpu] [--device cuda --dtype bfloat16] [--json out.json] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import time
import types
from collections.abc import Callable

import timm
import torch
import torch.nn.functional as F
from bench_model import _infer, _train, common_flags, report, side_by_side
from torch import Tensor, nn

import glitlib as gl


def conv1d_forward(self: gl.LocalHeads, x: Tensor) -> Tensor:
    """The local heads as the released code computes them: Conv1d modules on (B, C, T)."""
    h = F.glu(self.pointwise1(x.transpose(1, 2)), dim=1)
    h = F.silu(self.norm(self.depthwise(h)))
    return self.pointwise2(h).transpose(1, 2)


def with_conv1d_local_heads(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose local heads run :func:`conv1d_forward`."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, gl.LocalHeads):
            m.forward = types.MethodType(conv1d_forward, m)
    return model


def macs_per_image() -> dict[str, int]:
    """The analytic MACs of one 224 px image, as the counter gives them."""
    return {name: gl.count(*gl.get_arch(f"{name}-tiny")).macs for name in ("glit", "deit")}


def bench_models(args: argparse.Namespace, dtype: torch.dtype) -> dict:
    torch.manual_seed(0)
    glit = gl.build("glit-tiny").to(args.device)
    models = {
        "glit": glit,
        "glit_conv1d": with_conv1d_local_heads(glit),
        "deit": timm.create_model("deit_tiny_patch16_224", pretrained=False).to(args.device),
    }
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    y = torch.randint(0, 1000, (args.batch,), device=args.device)
    macs = macs_per_image()
    macs["glit_conv1d"] = macs["glit"]
    result: dict = {"macs_per_image": macs}
    for mode in ("inference", "train"):
        for m in models.values():
            m.train(mode == "train")
        steps = {
            name: _infer(m, x, dtype) if mode == "inference" else _train(m, x, y, dtype)
            for name, m in models.items()
        }
        secs = side_by_side(steps, args.rounds, args.iters, args.device, args.clock)
        img_s = {name: args.batch / s for name, s in secs.items()}
        deit_rate = img_s["deit"] * macs["deit"]
        result[mode] = {
            "img_per_s": img_s,
            "macs_per_s_ratio_over_deit": {
                name: img_s[name] * macs[name] / deit_rate for name in ("glit", "glit_conv1d")
            },
        }
    return result


def _fwd_bwd(head: nn.Module, x: Tensor, forward: Callable[[Tensor], Tensor]) -> Callable:
    grad = torch.randn_like(x)
    params = [x, *head.parameters()]

    def step() -> None:
        torch.autograd.grad(forward(x), params, grad)
    return step


def bench_local_heads(args: argparse.Namespace) -> dict:
    """One local-heads module, forward + backward, in milliseconds per call."""
    shapes = {  # (batch, tokens, channels, E, K)
        "glit_tiny_block_4": (args.batch, 197, 192, 4, 45),
        "digits": (128, 17, 16, 4, 9),
    }
    result = {}
    for name, (b, t, c, e, k) in shapes.items():
        torch.manual_seed(0)
        head = gl.LocalHeads(c, e, k).to(args.device).train()
        x = torch.randn(b, t, c, device=args.device, requires_grad=True)
        steps = {
            "default": _fwd_bwd(head, x, head),
            "conv1d": _fwd_bwd(head, x, lambda v, h=head: conv1d_forward(h, v)),
        }
        if t <= 64:  # the band is (C, T, T): only for short sequences
            banded = copy.deepcopy(head)
            banded.banded_max_tokens = t
            steps["banded"] = _fwd_bwd(banded, x, banded)
        secs = side_by_side(steps, args.rounds, args.iters * 5, args.device, args.clock)
        result[name] = {"shape_B_T_C_E_K": [b, t, c, e, k],
                        "fwd_bwd_ms": {n: 1e3 * s for n, s in secs.items()}}
    return result


_KINDS = {  # operator name prefix -> kind of work, for the profile
    "aten::mm": "matmul", "aten::addmm": "matmul", "aten::bmm": "matmul",
    "aten::_scaled_dot_product": "attention", "aten::mkldnn_convolution": "convolution",
    "aten::convolution_backward": "convolution", "aten::copy_": "copies",
    "aten::clone": "copies", "aten::cat": "copies", "aten::fill_": "copies",
}


def _kind(op: str) -> str:
    return next((kind for prefix, kind in _KINDS.items() if op.startswith(prefix)), "other")


def profile_models(args: argparse.Namespace, dtype: torch.dtype, repeats: int = 3) -> dict:
    """Operator self time by kind of work, GLiT-Tiny and DeiT-Tiny, ms per step.

    Shows where GLiT-Tiny's extra time goes: its matmuls (Linear and pointwise
    layers, 1.26x DeiT's MACs in them) against everything else.
    """
    from torch.profiler import profile

    torch.manual_seed(0)
    models = {"glit": gl.build("glit-tiny").to(args.device),
              "deit": timm.create_model("deit_tiny_patch16_224").to(args.device)}
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    y = torch.randint(0, 1000, (args.batch,), device=args.device)
    result: dict = {"linear_macs_per_image": {  # Linear and pointwise layers: the matmuls
        name: sum(r.macs for r in gl.layer_costs(*gl.get_arch(f"{name}-tiny"))
                  if "@" not in r.name and "depthwise" not in r.name and "patch" not in r.name)
        for name in models}}
    for mode in ("inference", "train"):
        for name, model in models.items():
            model.train(mode == "train")
            step = _infer(model, x, dtype) if mode == "inference" else _train(model, x, y, dtype)
            step()
            with profile() as prof:
                for _ in range(repeats):
                    step()
            ms: dict[str, float] = {}
            for e in prof.key_averages():
                kind = _kind(e.key)
                ms[kind] = ms.get(kind, 0.0) + e.self_cpu_time_total / 1e3 / repeats
            result[f"{name}_{mode}_ms"] = {k: round(v, 1) for k, v in sorted(ms.items())}
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_flags(p, batch=8, threads=True)
    p.add_argument("--profile", action="store_true",
                   help="also profile both models: time by kind of operator")
    p.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                   help="cpu: this thread's CPU time (one thread, CPU only), which leaves "
                        "out waits for a core on a shared host")
    args = p.parse_args()
    if args.clock == "cpu" and (args.threads != 1 or args.device != "cpu"):
        p.error("--clock cpu measures one thread: use it with --threads 1 on the CPU")
    args.clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    result = {
        "clock": "thread CPU time" if args.clock is time.thread_time else "wall",
        "glit_tiny_vs_deit_tiny": bench_models(args, dtype),
        "local_heads_alone": bench_local_heads(args),
    }
    if args.profile:
        result["profile"] = profile_models(args, dtype)
    report(args, result)


if __name__ == "__main__":
    main()
