"""The Python half of ``bench/gpu_check.sh``: refuse without a GPU, measure peak memory,
check NCCL under torchrun, and gather every step's result into one JSON report.

The shell script runs each step under a time limit and leaves its output in a work
folder; this file reads them back, so a step that failed or ran out of time is
reported as such instead of stopping the rest.

    python bench/gpu_check.py preflight
    python bench/gpu_check.py memory --json WORK/memory.json
    torchrun --standalone --nproc_per_node=1 bench/gpu_check.py nccl --json WORK/nccl.json
    python bench/gpu_check.py report --work WORK --out gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

STEPS = ("local_heads", "scale", "memory", "search", "search_bf16", "torchrun", "nccl", "loader")


def preflight() -> int:
    """Exit 1 with one line where there is no CUDA GPU: every later step needs one, and a
    run on the CPU would report CPU figures as GPU ones."""
    import torch

    if not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU here (torch {torch.__version__}, built for CUDA "
              f"{torch.version.cuda or 'none'}); run it on a machine with one", file=sys.stderr)
        return 1
    print(f"gpu_check: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}")
    return 0


def _peak_gib(model: Any, batch: int, dtype: Any) -> float:
    """Peak GPU memory of one training step (forward, backward, AdamW) of ``model``."""
    import torch
    import torch.nn.functional as F

    model = model.cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 224, 224, device="cuda")
    y = torch.randint(0, 1000, (batch,), device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.autocast("cuda", dtype, enabled=dtype != torch.float32):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**30
    del model, opt, x, y, loss
    torch.cuda.empty_cache()
    return round(peak, 3)


def memory(out: Path, batch: int) -> int:
    """Peak memory of a GLiT-Tiny and a DeiT-Tiny training step, fp32 and bf16: what
    bounds the batch per GPU."""
    import timm
    import torch

    import glitlib as gl

    result: dict[str, Any] = {"batch": batch, "peak_gib": {}}
    for name in ("float32", "bfloat16"):
        dtype = getattr(torch, name)
        result["peak_gib"][name] = {
            "glit_tiny": _peak_gib(gl.build("glit-tiny"), batch, dtype),
            "deit_tiny": _peak_gib(timm.create_model("deit_tiny_patch16_224"), batch, dtype)}
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def nccl(out: Path) -> int:
    """One NCCL all-reduce and barrier on this GPU under torchrun: the backend a
    many-GPU run uses, which a one-process ``glit`` run never starts."""
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}")
    torch.cuda.set_device(device)
    dist.init_process_group("nccl", device_id=device)
    t = torch.ones(4, device=device)
    dist.all_reduce(t)
    dist.barrier()
    world = dist.get_world_size()
    ok = bool(torch.all(t == world))
    if dist.get_rank() == 0:
        out.write_text(json.dumps({"world": world, "all_reduce_ok": ok,
                                   "nccl": ".".join(map(str, torch.cuda.nccl.version()))}) + "\n")
    dist.destroy_process_group()
    return 0 if ok else 1


# -- the report ----------------------------------------------------------------------
def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _last_lines(path: Path, n: int = 3) -> list[str]:
    try:
        return path.read_text(errors="replace").strip().splitlines()[-n:]
    except OSError:
        return []


def _device() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                            "cudnn": torch.backends.cudnn.version(),
                            "gpu": None, "bf16_supported": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory
                                       / 2**30, 1)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info


def _search(run: Path) -> dict[str, Any] | None:
    """A search run's summary, in short, and the last line of its supernet metrics."""
    summary = _read(run / "summary.json")
    if summary is None:
        return None
    keys = ("macs", "params", "val_accuracy", "test_accuracy")
    found: dict[str, Any] = {k: summary.get(k) for k in keys}
    metrics = sorted(run.glob("*/supernet_metrics.jsonl"))
    if metrics:
        last = _last_lines(metrics[-1], 1)
        found["last_supernet_metrics"] = json.loads(last[0]) if last else None
    found["glit_log_lines"] = len(_last_lines(run / "glit.log", 10**6))
    found["tensorboard"] = any(run.glob("*/tensorboard"))
    return found


def _local_heads(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """GLiT-Tiny against DeiT-Tiny: images/s and the ratio of MACs per second."""
    if result is None:
        return None
    models = result["glit_tiny_vs_deit_tiny"]
    return {"dtype": result.get("dtype"), "batch": result.get("batch"),
            **{mode: {"img_per_s": models[mode]["img_per_s"],
                      "macs_per_s_ratio_over_deit": models[mode]["macs_per_s_ratio_over_deit"],
                      "img_per_s_ratio_glit_over_deit":
                          models[mode]["img_per_s"]["glit"] / models[mode]["img_per_s"]["deit"]}
               for mode in ("inference", "train")}}


def report(work: Path, out: Path) -> int:
    """Every step's status and figures in one JSON file; exit 1 if a step failed."""
    steps = {}
    for name in STEPS:
        status = _read(work / f"{name}.step.json")
        if status is not None and status.get("rc") != 0:
            status["stderr_tail"] = _last_lines(work / f"{name}.err")
        steps[name] = status or {"rc": None, "note": "not run"}
    result = {
        "device": _device(), "steps": steps,
        "glit_tiny_vs_deit_tiny": _local_heads(_read(work / "local_heads.json")),
        "scale": _read(work / "scale.json"),
        "peak_memory": _read(work / "memory.json"),
        "search_digits_fp32": _search(work / "search"),
        "search_digits_bf16": _search(work / "search_bf16"),
        "torchrun_search": _search(work / "torchrun"),
        "nccl": _read(work / "nccl.json"),
        "loader": _read(work / "loader.json"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    failed = [n for n, s in steps.items() if s.get("rc") != 0]
    if failed:
        print(f"gpu_check: {len(failed)} step(s) failed or did not run: {', '.join(failed)}; "
              f"see {out}", file=sys.stderr)
        return 1
    print(f"gpu_check: every step passed; wrote {out}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    sub.add_parser("preflight")
    m = sub.add_parser("memory")
    m.add_argument("--json", type=Path, required=True)
    m.add_argument("--batch", type=int, default=128)
    sub.add_parser("nccl").add_argument("--json", type=Path, required=True)
    r = sub.add_parser("report")
    r.add_argument("--work", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    if args.what == "preflight":
        return preflight()
    if args.what == "memory":
        return memory(args.json, args.batch)
    if args.what == "nccl":
        return nccl(args.json)
    return report(args.work, args.out)


if __name__ == "__main__":
    sys.exit(main())
