"""Data splits and batching: disjoint, stratified, seeded, and never downloading."""

import pickle
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch

from glitlib.data.memory import load_cifar10, load_digits, load_image_folder
from glitlib.data.source import batch_at
from glitlib.errors import DataError


def test_digits_splits_disjoint_cover_and_seeded():
    s = load_digits(seed=0)
    sets = {k: set(v) for k, v in s.indices.items()}
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]
    assert len(sets["train"] | sets["val"] | sets["test"]) == 1797
    again, other = load_digits(seed=0), load_digits(seed=1)
    assert again.indices == s.indices
    assert other.indices["val"] != s.indices["val"]
    assert torch.equal(again.train.x, s.train.x)


def test_digits_splits_are_stratified():
    s = load_digits(seed=3)
    total = Counter(s.train.y.tolist() + s.val.y.tolist() + s.test.y.tolist())
    for part in (s.train, s.val, s.test):
        counts = Counter(part.y.tolist())
        for c, n in total.items():
            share = counts[c] / len(part)
            assert abs(share - n / 1797) < 0.012, (c, share)


def test_standardised_with_training_statistics_only():
    s = load_digits(seed=0)
    assert abs(s.train.x.mean().item()) < 1e-5
    assert abs(s.train.x.std().item() - 1) < 1e-2
    assert s.train.x.shape[1:] == (1, 8, 8)


def test_batch_is_a_pure_function_of_seed_and_step():
    s = load_digits(seed=0)
    a, b = batch_at(s.train, 64, 7, 40), batch_at(s.train, 64, 7, 40)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(batch_at(s.train, 64, 7, 41).y, a.y)
    assert not torch.equal(batch_at(s.train, 64, 8, 40).y, a.y)
    # one epoch visits every image at most once
    per_epoch = len(s.train) // 64
    seen = torch.cat([batch_at(s.train, 64, 7, i).x.flatten(1) for i in range(per_epoch)])
    assert len(torch.unique(seen, dim=0)) == per_epoch * 64 - _duplicates(s.train.x)


def _duplicates(x: torch.Tensor) -> int:
    return len(x) - len(torch.unique(x.flatten(1), dim=0))


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "owl"):
        (tmp_path / c).mkdir()
        for i in range(10):
            arr = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / c / f"{i}.png")
    s = load_image_folder(tmp_path, seed=0)
    assert s.shape == (3, 12, 12)  # the images' own size: nothing shrunk silently
    assert len(s.train) + len(s.val) + len(s.test) == 30
    assert sorted(set(s.test.y.tolist())) == [0, 1, 2]


def _write_folder(root, size=(12, 10), mode="RGB", per_class=10):
    from PIL import Image

    rng = np.random.default_rng(0)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    for c in ("cat", "dog", "owl"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 255, shape, dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / c / f"{i}.png")


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_folder_past_the_memory_limit_is_streamed_as_the_same_splits(tmp_path, mode):
    """Streamed, a folder gives what memory gives: the same splits, its own size and
    mode, the same standardised pixels (every image is in the statistics' sample here)."""
    from glitlib.data.folder_stream import OwnSizeSource

    _write_folder(tmp_path, mode=mode)
    held = load_image_folder(tmp_path, seed=3)
    streamed = load_image_folder(tmp_path, seed=3, memory_limit=1)
    assert isinstance(streamed.train, OwnSizeSource)
    assert not isinstance(held.train, OwnSizeSource)
    assert streamed.shape == held.shape == ((3 if mode == "RGB" else 1), 10, 12)
    assert streamed.indices == held.indices and streamed.num_classes == 3
    for name in ("train", "val", "test"):
        mem, disk = getattr(held, name), getattr(streamed, name)
        x, y = zip(*disk.in_order(7))
        assert torch.equal(torch.cat(y), mem.y)
        assert torch.allclose(disk.prepare(torch.cat(x)), mem.x, atol=1e-5), name


def test_a_search_runs_on_a_streamed_folder(tmp_path, monkeypatch, tiny_config):
    from dataclasses import replace

    import glitlib as gl
    from glitlib.data import folder_stream
    from glitlib.runtime.context import Runtime

    _write_folder(tmp_path / "photos", size=(16, 16), per_class=12)
    space = {"name": "photos16", "img_size": 16, "patch_size": 4, "in_chans": 3,
             "num_classes": 3, "embed_dim": 24, "depth": 2, "num_heads": 2,
             "d_k": [8], "d_z": [1], "e": [1], "k": [3]}
    (tmp_path / "space.json").write_text(__import__("json").dumps(space))
    monkeypatch.setattr(folder_stream, "MEMORY_LIMIT", 1)
    cfg = replace(tiny_config(dataset="folder", data_dir=str(tmp_path / "photos"),
                              space=str(tmp_path / "space.json")), bn_batch_size=8)
    from glitlib.data.load import load_splits

    assert isinstance(load_splits(cfg).train, folder_stream.OwnSizeSource)
    summary = gl.run_search(cfg, tmp_path / "run", rt=Runtime(progress=False))
    assert 0 <= summary["test_accuracy"] <= 1 and summary["distribution"]


def test_image_folder_missing_is_clear(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nope")


def _write_cifar(root, n=20):
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        d = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
             b"labels": [i % 10 for i in range(n)]}
        with open(base / name, "wb") as f:
            pickle.dump(d, f)


def test_cifar10_stand_in(tmp_path):
    _write_cifar(tmp_path)
    s = load_cifar10(tmp_path, seed=0, val_frac=0.2)
    assert s.shape == (3, 32, 32)
    assert len(s.test) == 20 and len(s.train) + len(s.val) == 100
    assert len(s.val) == 20


def test_cifar10_missing_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="--download"):
        load_cifar10(tmp_path)


def test_missing_data_dir_cli_is_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "glitlib", "supernet", "--dataset", "folder",
         "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--steps", "2"],
        capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
