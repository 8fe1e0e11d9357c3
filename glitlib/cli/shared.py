"""What the commands share: data and run flags, the runtime built once at start-up, the
output folder, and the data split a file was made on."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..config.checks import COUNT, COUNT0, THREADS, Check
from ..config.search import SearchConfig
from ..errors import ConfigError
from ..runtime.context import LoaderSettings, Runtime
from ..runtime.log import to_console
from .flags import add_fields, checked, explicit, group

__all__ = ["DATA", "BASE", "data_flags", "run_flags", "start", "open_out", "same_data",
           "pct"]

DATA = ("space", "dataset", "data_dir", "seed", "heldout_per_class")
BASE = SearchConfig()


def data_flags(p: argparse.ArgumentParser, preset: bool = True) -> None:
    """``--preset`` (unless ``preset`` is false), ``--dataset``, ``--data``, ``--seed``, ..."""
    add_fields(p, BASE, only=DATA if preset else DATA[1:], title="data")


def run_flags(p: argparse.ArgumentParser, out: bool = True) -> None:
    """Where and how the command runs (the :class:`~glitlib.runtime.context.Runtime`), and
    its output folder when it writes one."""
    data = group(p, "data")
    rt = group(p, "runtime (where and how it runs; never what it computes)")
    data.add_argument("--download", action="store_true",
                   help="download CIFAR-10 into --data if it is missing (opt-in)")
    rt.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps; "
                   "under torchrun, cuda gives rank i cuda:LOCAL_RANK (default: cpu)")
    rt.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: train and score under bf16 autocast (GPUs) (default: fp32)")
    rt.add_argument("--workers", type=checked(p, COUNT0, "--workers"), default=None,
                   metavar="N", help="imagenet: data-loading worker processes per rank "
                   "(default: on a GPU, the machine's CPUs per rank less one; else 0)")
    rt.add_argument("--prefetch-factor", type=checked(p, COUNT, "--prefetch-factor"),
                   default=2, metavar="N",
                   help="imagenet: batches each worker loads ahead (default: 2)")
    rt.add_argument("--cache-heldout", action="store_true",
                   help="imagenet: keep the held-out images decoded in memory after their "
                        "first pass instead of decoding them for every candidate (uint8: "
                        "7.5 GB per rank for 50,000 at 224 px)")
    rt.add_argument("--threads", type=checked(p, THREADS, "--threads"), default=None,
                   metavar="N", help="CPU threads for torch (default: torch's choice)")
    rt.add_argument("--quiet", action="store_true",
                   help="no progress bars (they show only on a terminal anyway)")
    rt.add_argument("--dist-timeout", type=checked(p, Check(float, 1, 86_400),
                                                  "--dist-timeout"), default=1800.0,
                   metavar="S", help="torchrun: seconds a rank waits for the others before "
                   "the run stops with one line (a rank stalled or died) (default: 1800)")
    rt.add_argument("--tensorboard", action="store_true",
                   help="also write the training metrics for TensorBoard, beside each "
                        "checkpoint (needs the tensorboard package)")
    if out:
        rt.add_argument("--compile", nargs="?", const="inductor", default=None,
                       metavar="BACKEND", help="retraining: run the standalone model through "
                       "torch.compile (backend: inductor unless named) (default: off)")
        output = group(p, "output")
        output.add_argument("--out", required=True, help="output folder")
        output.add_argument("--resume", action="store_true",
                            help="continue the run in --out (a new folder: start it)")
        output.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (deletes only files glit wrote there)")


def start(args: argparse.Namespace) -> Runtime:
    """The command's runtime, built once: device checked, threads set, torchrun joined.

    Under torchrun every rank runs the command: each gets its own GPU, and only
    rank 0 prints and writes.
    """
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device.startswith("cuda")
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # ranks sharing this machine
    default = max(1, (os.cpu_count() or 1) // per_node - 1) if gpu else 0
    workers = args.workers if args.workers is not None else default
    loader = LoaderSettings(workers=workers, pin_memory=gpu, persistent_workers=workers > 0,
                            prefetch_factor=args.prefetch_factor, cache=args.cache_heldout)
    rt = Runtime(args.device, args.precision, False if args.quiet else None,
                 getattr(args, "compile", None), loader, args.tensorboard,
                 args.dist_timeout).start()
    to_console(main=rt.is_main)
    if not rt.is_main:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    return rt


def open_out(args: argparse.Namespace, config: dict[str, Any], inputs: list[str]) -> Any:
    """The locked output folder with ``config.json`` checked (resume) and written."""
    from ..runtime.resume import save_settings
    from ..runtime.rundir import open_run

    run = open_run(args.out, args.resume, args.overwrite, tuple(inputs))
    try:
        save_settings(run.path, config, args.resume)
    except BaseException:
        run.close()
        raise
    return run


def same_data(args: argparse.Namespace, data: dict[str, Any] | None,
              source: str) -> dict[str, Any]:
    """The split a file was made on; a different one typed by the user is refused.

    Files written before glitlib recorded their data need the user to say it: the
    ``--seed`` (and ``--dataset``/``--data``) they were made with.
    """
    if not data:
        if not explicit(args, "seed"):
            raise ConfigError(f"{source} does not record the data split it was made on (an "
                              "older glitlib wrote it); pass the --seed (and --dataset/--data) "
                              "it was made with")
        return {k: getattr(args, k, getattr(BASE, k)) for k in DATA[1:]}
    for key, flag in (("seed", "--seed"), ("dataset", "--dataset"), ("data_dir", "--data")):
        if explicit(args, key) and getattr(args, key) != data.get(key):
            raise ConfigError(
                f"{source} was made on dataset {data.get('dataset')!r} split with seed "
                f"{data.get('seed')}; {flag} {getattr(args, key)} would score it on other "
                f"images (its training images among them): drop {flag}")
    return data


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def out_file(args: argparse.Namespace, name: str) -> Path:
    return Path(args.out) / name
