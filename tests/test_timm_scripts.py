"""timm's own train.py and validate.py on a searched GLiT (``--model-kwargs arch=PATH``).

The scripts ship in neither timm's wheel nor its sdist: they sit at the root of
timm's repository (huggingface/pytorch-image-models). The test finds them in the
folder ``TIMM_SCRIPTS`` names, or at the root of a timm checkout installed in
place; without them it is skipped. Nothing is downloaded.

timm's scripts have no plugin hook, so they run through the wrapper the README
shows: ``python -c "import glitlib, runpy, sys; ..."`` imports glitlib (which
registers its models with timm), then runs the script as ``__main__``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

import glitlib as gl

ROOT = Path(__file__).resolve().parents[1]
NAME = "glit_tiny_patch16_224"
SPACE = {"name": "tiny32", "img_size": 32, "patch_size": 8, "in_chans": 3, "num_classes": 3,
         "embed_dim": 24, "depth": 2, "num_heads": 3, "d_k": [4, 8], "d_z": [1, 2],
         "e": [1, 2], "k": [3, 5]}
BLOCKS = [{"g": 1, "d_k": 8, "d_z": 2, "e": 1, "k": 3},
          {"g": 0, "d_k": None, "d_z": 1, "e": 2, "k": 5}]
COLOURS = ((200, 30, 30), (30, 200, 30), (30, 30, 200))

pytestmark = pytest.mark.slow


def timm_scripts() -> Path | None:
    """The folder holding timm's train.py and validate.py, if this machine has one."""
    candidates = [os.environ.get("TIMM_SCRIPTS"), Path(timm.__file__).resolve().parents[1]]
    for folder in candidates:
        if folder and all((Path(folder) / s).is_file() for s in ("train.py", "validate.py")):
            return Path(folder)
    return None


SCRIPTS = timm_scripts()


def wrapped(script: Path, *args: str) -> list[str]:
    """``python -c WRAPPER ARGS``: ``script`` run as ``__main__`` after ``import glitlib``."""
    code = ("import glitlib, runpy, sys; sys.argv[0] = sys.argv[1]; del sys.argv[1]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    return [sys.executable, "-c", code, str(script), *args]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r


def write_images(root: Path) -> None:
    """A three-class ImageFolder of noisy 32x32 colour squares, train and validation."""
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for split in ("train", "validation"):
        for c, colour in enumerate(COLOURS):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(4):
                noise = torch.randint(-25, 26, (32, 32, 3), generator=gen)
                pixels = (torch.tensor(colour) + noise).clamp(0, 255).to(torch.uint8)
                Image.fromarray(pixels.numpy()).save(folder / f"{i}.png")


def own_top1(model: torch.nn.Module, folder: Path) -> float:
    """Top-1 (%) of ``model`` on an image folder, through timm's own eval transform."""
    from timm.data import create_transform, resolve_data_config
    from torchvision.datasets import ImageFolder

    data = ImageFolder(str(folder), transform=create_transform(**resolve_data_config(model=model)))
    x = torch.stack([img for img, _ in data])
    y = torch.tensor([label for _, label in data])
    with torch.no_grad():
        return 100.0 * (model.eval()(x).argmax(-1) == y).float().mean().item()


@pytest.mark.skipif(SCRIPTS is None, reason="timm's train.py/validate.py are not on this "
                    "machine (set TIMM_SCRIPTS to a pytorch-image-models checkout)")
def test_timm_train_and_validate_a_searched_arch(tmp_path):
    assert SCRIPTS is not None
    write_images(tmp_path / "data")
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"name": "found", "space": SPACE, "blocks": BLOCKS}))
    model_args = ["--model", NAME, "--model-kwargs", f"arch={arch}", "--device", "cpu",
                  "--workers", "0", "--batch-size", "4"]
    run(wrapped(SCRIPTS / "train.py", "--data-dir", "data", *model_args, "--epochs", "2",
                "--opt", "sgd", "--lr", "0.05", "--warmup-epochs", "0", "--no-aug",
                "--seed", "0", "--output", "out", "--experiment", "searched"), tmp_path)
    best = tmp_path / "out" / "searched" / "model_best.pth.tar"
    assert best.is_file()

    # the checkpoint is the searched network, in its space
    model = timm.create_model(NAME, arch=str(arch))
    timm.models.load_checkpoint(model, str(best))  # strict
    want = gl.GLiT(gl.get_space(SPACE), gl.Arch.from_dict({"blocks": BLOCKS}))
    assert model.state_dict().keys() == want.state_dict().keys()
    assert [v.shape for v in model.state_dict().values()] == [
        v.shape for v in want.state_dict().values()]

    results = tmp_path / "results.csv"
    run(wrapped(SCRIPTS / "validate.py", "data", "--split", "validation", *model_args,
                "--checkpoint", str(best), "--results-file", str(results)), tmp_path)
    with results.open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["model"] == NAME and int(row["img_size"]) == 32
    assert float(row["crop_pct"]) == 1.0  # the space's own size: no resize, no crop
    assert float(row["top1"]) == pytest.approx(own_top1(model, tmp_path / "data/validation"),
                                               abs=1e-3)
