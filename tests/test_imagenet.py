"""ImageNet streamed from disk: GLiT's held-out split, exact batches, clear errors."""

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

import glitlib.data.imagenet as imagenet
from glitlib.data.heldout import check_heldout, heldout_indices, heldout_record
from glitlib.data.imagenet import StreamingSource, load_imagenet, make_transforms
from glitlib.data.source import BatchSource
from glitlib.data.standin import WNIDS, write_standin
from glitlib.errors import DataError
from glitlib.runtime.context import LoaderSettings
from glitlib.runtime.files import read_json, write_json

SIZE = 24  # pixels a side the model sees: tiny, so the tests stay fast


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_standin(tmp_path_factory.mktemp("imagenet"), classes=3, train_per_class=12,
                         val_per_class=3, size=32, seed=0)


def _load(root, **kw):
    kw.setdefault("img_size", SIZE)
    kw.setdefault("heldout_per_class", 2)
    return load_imagenet(root, **kw)


def _equal(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, u) and torch.equal(y, v)
                                    for (x, y), (u, v) in zip(a, b))


def test_standin_has_imagenet_layout(root):
    for part, pattern, count in (("train", r"(n\d{8})_\d+\.JPEG", 12),
                                 ("val", r"ILSVRC2012_val_\d{8}\.JPEG", 3)):
        folders = sorted(p.name for p in (root / part).iterdir())
        assert folders == list(WNIDS[:3])
        for wnid in folders:
            files = sorted((root / part / wnid).iterdir())
            assert len(files) == count
            for f in files:
                m = re.fullmatch(pattern, f.name)
                assert m and (part == "val" or m.group(1) == wnid), f
    val_names = [f.name for f in (root / "val").rglob("*.JPEG")]
    assert len(set(val_names)) == 9  # numbered across classes, as ImageNet's are
    sizes = set()
    for f in (root / "train").rglob("*.JPEG"):
        with Image.open(f) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            sizes.add(im.size)
    assert any(w != h for w, h in sizes)


def test_heldout_is_per_class_disjoint_and_seeded(root):
    s = _load(root, seed=0)
    labels = [label for _, label in imagenet._scan(root / "train")[1]]
    held, train = s.indices["val"], s.indices["train"]
    assert Counter(labels[i] for i in held) == {0: 2, 1: 2, 2: 2}
    assert not set(held) & set(train) and sorted(held + train) == list(range(36))
    assert held == sorted(held) and len(s.val) == 6 and len(s.train) == 30
    assert s.val.labels == [labels[i] for i in held]
    assert len(s.test) == 9 and s.indices["test"] == list(range(9))
    assert s.name == "imagenet" and s.num_classes == 3
    assert _load(root, seed=0).indices == s.indices
    assert _load(root, seed=1).indices["val"] != held
    assert heldout_indices(labels, 2, 5) == heldout_indices(labels, 2, 5)
    assert heldout_indices(labels, 2, 5) != heldout_indices(labels, 2, 6)


def test_heldout_refuses_a_class_with_too_few_images(root):
    with pytest.raises(DataError, match=r"class n01443537 has 2 training image\(s\).*hold "
                                        "out fewer"):
        heldout_indices([0, 0, 0, 1, 1], 2, 0, classes=["n01440764", "n01443537"])
    with pytest.raises(DataError, match=f"class {WNIDS[0]} has 12 training"):
        _load(root, heldout_per_class=12)


def test_splits_are_batch_sources_with_imagenet_shapes(root):
    s = _load(root)
    for part in (s.train, s.val, s.test):
        assert isinstance(part, BatchSource) and part.to("cpu") is part
        assert part.shape == (3, SIZE, SIZE) and part.num_classes == 3
    assert s.train.augment and not s.val.augment and not s.test.augment


def test_eval_transform_is_resize_then_centre_crop_in_file_order(root):
    test = _load(root).test
    batches = list(test.in_order(4))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, SIZE, SIZE)] * 2 + [(1, 3, SIZE, SIZE)]
    assert torch.cat([y for _, y in batches]).tolist() == test.labels
    assert _equal(batches, list(test.in_order(4)))
    # the first image by hand: bicubic resize of the short side to SIZE / 0.875, centre crop
    from torchvision.transforms import functional as F
    with Image.open(test.samples[0][0]) as im:
        img = F.center_crop(F.resize(im.convert("RGB"), int(SIZE / 0.875),
                                     F.InterpolationMode.BICUBIC), SIZE)
    assert batches[0][0].dtype == torch.uint8  # workers ship bytes; the device normalises
    assert torch.equal(batches[0][0][0], F.pil_to_tensor(img))
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    expected = F.normalize(F.to_tensor(img), mean, std)
    assert torch.allclose(test.prepare(batches[0][0])[0], expected, atol=1e-5)


def test_batches_are_a_pure_function_of_seed_and_step(root):
    train = _load(root).train
    rng_before = torch.get_rng_state()
    full = list(train.batches(4, 7, 0, 5))
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is untouched
    assert [tuple(x.shape) for x, _ in full] == [(4, 3, SIZE, SIZE)] * 5
    assert _equal(list(train.batches(4, 7, 3, 5)), full[3:])  # resumed at step 3
    assert _equal(list(_load(root).train.batches(4, 7, 0, 5)), full)  # a fresh process
    other = list(train.batches(4, 8, 0, 5))
    assert not any(torch.equal(x, u) for (x, _), (u, _) in zip(full, other))
    # every image of every step gets its own augmentation seed
    seeds = [s for step in range(40) for _, s in train.batch_items(4, 7, step)]
    assert len(set(seeds)) == len(seeds) == 160
    assert train.batch_items(4, 7, 33) == train.batch_items(4, 7, 33)


def test_two_workers_read_the_same_batches_as_none(root):
    one = _load(root).train
    two = _load(root, loader=LoaderSettings(workers=2, persistent_workers=True)).train
    expected = list(one.batches(4, 3, 0, 6))
    assert _equal(list(two.batches(4, 3, 0, 6)), expected)
    # a pass left half-way keeps the persistent workers; the next pass is still exact
    partial = two.batches(4, 3, 0, 6)
    next(partial)
    partial.close()
    assert _equal(list(two.batches(4, 3, 2, 6)), expected[2:])
    assert _equal(list(two.in_order(5)), list(one.in_order(5)))


def test_two_passes_at_once_do_not_disturb_each_other(root):
    train = _load(root).train
    expected = list(train.batches(4, 3, 0, 3))
    outer, got = train.batches(4, 3, 0, 3), []
    for batch in outer:
        got.append(batch)
        assert len(list(train.in_order(8))) == 4  # an evaluation inside the training pass
    assert _equal(got, expected)


def _epoch_positions(source, batch_size, seed, steps):
    """``{image index: [(step, position in the global batch)]}``."""
    where: dict[int, list[tuple[int, int]]] = {}
    for step in range(steps):
        for pos, (i, _) in enumerate(source.batch_items(batch_size, seed, step)):
            where.setdefault(i, []).append((step, pos))
    return where


def test_augmentation_changes_an_image_between_epochs(root):
    s = _load(root, repeats=0)
    steps = s.train.steps_per_epoch(5)
    assert steps == 6
    batches = [x for x, _ in s.train.batches(5, 0, 0, 2 * steps)]
    where = _epoch_positions(s.train, 5, 0, 2 * steps)
    i = next(i for i, at in where.items() if len(at) == 2)
    (s1, p1), (s2, p2) = where[i]
    assert s1 < steps <= s2
    assert not torch.equal(batches[s1][p1], batches[s2][p2])
    # without augmentation (the held-out split) the same image gives the same pixels
    held = [x for x, _ in s.val.batches(3, 0, 0, 4)]
    where = _epoch_positions(s.val, 3, 0, 4)
    (s1, p1), (s2, p2) = where[0][:2]
    assert torch.equal(held[s1][p1], held[s2][p2])


def test_repeated_augmentation_repeats_each_image_in_an_epoch(root):
    train = _load(root, repeats=3).train
    order = train.epoch_order(4, 0)
    assert len(order) == len(train) == 30
    counts = Counter(order)
    assert set(counts.values()) == {3} and len(counts) == 10
    assert all(order[k] == order[k + 1] == order[k + 2] for k in range(0, 30, 3))
    assert train.epoch_order(4, 1) != order
    # the three copies of an image are augmented differently
    x, _ = next(train.batches(6, 4, 0, 1))
    assert not torch.equal(x[0], x[1]) and not torch.equal(x[1], x[2])
    plain = _load(root, repeats=1).train.epoch_order(4, 0)
    assert sorted(plain) == list(range(30))


@pytest.mark.parametrize("world", [2, 3])
def test_shards_are_the_global_batch_sliced_by_rank(root, monkeypatch, world):
    train = _load(root).train
    full = list(train.batches(6, 2, 0, 3, shard=False))
    shards = []
    for rank in range(world):
        monkeypatch.setattr(imagenet, "rank_and_world", lambda r=rank: (r, world))
        shards.append(list(train.batches(6, 2, 0, 3)))
        # recalibration reads the whole batch on every rank
        assert _equal(list(train.batches(6, 2, 0, 3, shard=False)), full)
    for step, (x, y) in enumerate(full):
        for rank in range(world):
            assert torch.equal(shards[rank][step][0], x[rank::world])
            assert torch.equal(shards[rank][step][1], y[rank::world])
        joined = torch.empty_like(x)
        for rank in range(world):
            joined[rank::world] = shards[rank][step][0]
        assert torch.equal(joined, x)


def test_heldout_record_round_trip_and_changes(root, tmp_path):
    s = _load(root, seed=0)
    record = heldout_record(s)
    assert record["seed"] == 0 and record["per_class"] == 2 and record["count"] == 6
    assert all(re.fullmatch(r"n\d{8}/n\d{8}_\d+\.JPEG", f) for f in record["files"])
    path = tmp_path / "heldout.json"
    write_json(path, record)
    check_heldout(read_json(path), heldout_record(_load(root, seed=0)), path)
    with pytest.raises(DataError, match="drawn with seed 0, this run uses 1"):
        check_heldout(read_json(path), heldout_record(_load(root, seed=1)), path)
    with pytest.raises(DataError, match="drawn with per_class 2, this run uses 3"):
        check_heldout(read_json(path), heldout_record(_load(root, heldout_per_class=3)), path)
    moved = dict(record, files=[record["files"][0].replace(".JPEG", "9.JPEG"),
                                *record["files"][1:]])
    with pytest.raises(DataError, match=r"2 file\(s\) differ: .*no longer held out"):
        check_heldout(moved, record, path)
    with pytest.raises(DataError, match="not a held-out record"):
        check_heldout({"seed": 0}, record, path)
    with pytest.raises(DataError, match="no held-out ImageNet images"):
        heldout_record(s.__class__(s.test, s.test, s.test, "x", {}))


def test_missing_folders_are_named(tmp_path, root):
    with pytest.raises(DataError, match=r"ImageNet folder .*nowhere does not exist"):
        load_imagenet(tmp_path / "nowhere")
    partial = tmp_path / "only_train"
    shutil.copytree(root / "train", partial / "train")
    with pytest.raises(DataError, match="has no val/ folder"):
        load_imagenet(partial)
    (partial / "val").mkdir()
    with pytest.raises(DataError, match=r"val has no class folders"):
        load_imagenet(partial)


def test_different_or_empty_classes_are_named(tmp_path, root):
    other = tmp_path / "other"
    shutil.copytree(root, other)
    shutil.rmtree(other / "val" / WNIDS[1])
    with pytest.raises(DataError, match=f"different class folders \\({WNIDS[1]} only in "
                                        "train/"):
        load_imagenet(other)
    (other / "val" / WNIDS[1]).mkdir()
    with pytest.raises(DataError, match=f"class folder .*{WNIDS[1]} holds no images"):
        load_imagenet(other)


def test_an_unreadable_jpeg_is_named_when_read(tmp_path):
    root = write_standin(tmp_path / "bad", classes=2, train_per_class=4, val_per_class=2,
                         size=16)
    bad = sorted((root / "val" / WNIDS[1]).iterdir())[0]
    bad.write_bytes(b"not a jpeg")
    s = load_imagenet(root, img_size=16, heldout_per_class=1)  # names only: no error yet
    with pytest.raises(DataError, match=f"image {re.escape(str(bad))} cannot be read"):
        list(s.test.in_order(2))
    two = load_imagenet(root, img_size=16, heldout_per_class=1,
                        loader=LoaderSettings(workers=2))
    with pytest.raises(DataError, match=f"image {re.escape(str(bad))} cannot be read"):
        list(two.test.in_order(2))


def test_a_source_built_by_hand_keeps_all_class_names(root):
    samples = imagenet._scan(root / "val")[1][:2]
    src = StreamingSource(samples, WNIDS[:3], img_size=SIZE)
    assert src.num_classes == 3 and len(src) == 2
    assert [y.tolist() for _, y in src.in_order(2)] == [[0, 0]]


def test_random_erasing_is_deits_on_bytes():
    """One box in a quarter of the images, 2-33 % of the area, noise in the image's
    normalised range; an image's own generator decides, so it is reproducible."""
    import random

    from glitlib.data.imagenet import ERASE_PROB, erase

    x = torch.full((3, 40, 40), 7, dtype=torch.uint8)
    erased = [erase(x, random.Random(s)) for s in range(400)]
    changed = [(e != x).any(dim=0) for e in erased]
    hits = [c for c in changed if c.any()]
    assert abs(len(hits) / 400 - ERASE_PROB) < 0.06
    for c in hits:
        rows, cols = c.any(dim=1).nonzero(), c.any(dim=0).nonzero()
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 0.015 * 1600 <= box <= 0.34 * 1600
    assert torch.equal(erase(x, random.Random(3)), erased[3])


def test_train_transform_is_deits_and_posterize_to_zero_bits_works():
    train, evaluate = make_transforms(SIZE)
    text = repr(train)
    for part in ("RandomResizedCropAndInterpolation", "interpolation=bicubic",
                 "RandomHorizontalFlip(p=0.5)", "RandAugment(n=2", "m=9, mstd=0.5",
                 "MaybePILToTensor"):  # uint8 out: erasing and normalising come after
        assert part in text, part
    assert "Resize(size=27" in repr(evaluate) and "CenterCrop" in repr(evaluate)
    op = next(op for step in train.transforms for op in getattr(step, "ops", ())
              if op.name == "PosterizeIncreasing")
    img = Image.new("RGB", (8, 8), (200, 120, 40))
    (bits,) = op.level_fn(10.0, op.hparams)  # the top magnitude keeps no bits
    assert bits == 0
    assert op.aug_fn(img, bits).getextrema() == ((0, 0),) * 3
    assert op.aug_fn(img, 1).getpixel((0, 0)) == (128, 0, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinning needs a CUDA GPU")
def test_pinned_batches_match_unpinned(root):
    pinned = _load(root, loader=LoaderSettings(workers=2, pin_memory=True)).train
    got = list(pinned.batches(4, 1, 0, 3))
    assert all(x.is_pinned() and y.is_pinned() for x, y in got)
    assert _equal(got, list(_load(root).train.batches(4, 1, 0, 3)))


def test_cached_held_out_images_equal_decoded_ones_and_are_decoded_once(root, monkeypatch):
    plain = _load(root).val
    cached = _load(root, loader=LoaderSettings(cache=True)).val
    want = list(plain.in_order(4))
    assert _equal(list(cached.in_order(4)), want)  # first pass: decoded into the cache
    from PIL import Image

    def refuse(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(Image, "open", refuse)
    again = list(cached.in_order(3))  # another batch size, from memory
    assert torch.equal(torch.cat([x for x, _ in again]), torch.cat([x for x, _ in want]))
    assert torch.equal(torch.cat([y for _, y in again]), torch.cat([y for _, y in want]))
    assert not _load(root, loader=LoaderSettings(cache=True)).test.settings.cache
