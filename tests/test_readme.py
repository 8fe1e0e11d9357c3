"""Every `glit` command the README shows runs as written (on small stand-in data).

Each command is taken from the README's code blocks, run in order in a fresh folder,
with flags appended that shrink the work (flags given later override earlier ones);
`path/to/cifar` holds a stand-in in CIFAR-10's own file format and `path/to/photos`
a small image folder, and `my_space.json` is the space JSON the README shows.
"""

import json
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

SMALL = {
    "search": ["--supernet-steps", "4", "--retrain-steps", "3", "--population", "4",
               "--generations", "1", "--retrain-candidates", "1", "--rank-sample", "1",
               "--bn-batch-size", "16",
               "--supernet-batch-size", "16", "--retrain-batch-size", "16", "--quiet"],
    "supernet": ["--steps", "4", "--batch-size", "16", "--quiet"],
    "evolve": ["--population", "4", "--generations", "1", "--bn-batch-size", "16", "--quiet"],
    "retrain": ["--steps", "3", "--batch-size", "16", "--retrain-candidates", "1", "--quiet"],
}


def readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```(?:bash|console)\n(.*?)```", README, re.S)
    cmds = []
    for block in blocks:
        for line in block.splitlines():
            line = line.removeprefix("$ ").split("  #")[0].strip()
            if line.startswith("glit "):
                cmds.append(shlex.split(line))
    return cmds


def write_cifar_stand_in(root: Path, n: int = 30) -> None:
    """Six python batches in CIFAR-10's format (a dict of numpy data and label lists)."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"batch_label": name.encode(), b"labels": [i % 10 for i in range(n)],
             b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
             b"filenames": [f"{i}.png".encode() for i in range(n)]}
        (base / name).write_bytes(pickle.dumps(d, protocol=2))


def write_photos(root: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    for c in ("cats", "dogs", "owls"):
        (root / c).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                root / c / f"{i}.jpg")


def test_readme_commands_run_as_written(tmp_path):
    write_cifar_stand_in(tmp_path / "path/to/cifar")
    write_photos(tmp_path / "path/to/photos")
    space = re.search(r"```json\n(.*?)```", README, re.S).group(1)
    (tmp_path / "my_space.json").write_text(json.dumps(json.loads(space)))
    cmds = readme_commands()
    assert len(cmds) >= 12
    assert ["glit", "search", "--preset", "digits", "--out", "runs/digits"] in cmds
    ran = []
    for cmd in cmds:
        if "--device" in cmd and "cuda" in cmd and not torch.cuda.is_available():
            continue
        extra = SMALL.get(cmd[1], []) if "--config" not in cmd else ["--quiet"]
        r = subprocess.run([sys.executable, "-m", "glitlib", *cmd[1:], *extra], cwd=tmp_path,
                           capture_output=True, text=True, timeout=3600)
        assert r.returncode == 0, (cmd, r.stderr)
        assert r.stderr == "", (cmd, r.stderr)
        ran.append(cmd)
    assert any("cifar10" in c for c in ran) and any("folder" in c for c in ran)
    cifar = json.loads((tmp_path / "runs/cifar/config.json").read_text())
    assert cifar["space"]["name"] == "cifar"  # --dataset cifar10 picked the CIFAR preset
    mine = json.loads((tmp_path / "runs/mine/config.json").read_text())
    assert mine["space"]["name"] == "photos16"
    # --config repeated the quickstart run exactly
    assert (tmp_path / "runs/again/summary.json").read_bytes() == (
        tmp_path / "runs/digits/summary.json").read_bytes()


@pytest.mark.parametrize("cmd", [c for c in readme_commands() if c[1] == "info"],
                         ids=lambda c: " ".join(c[1:]))
def test_readme_info_commands(cmd):
    r = subprocess.run([sys.executable, "-m", "glitlib", *cmd[1:]], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and r.stderr == ""
