"""A long run is watchable: log lines with their time, per-step metrics that survive a
resume without duplicates, TensorBoard on request, and the run's own log file.

Also the data-path settings of long runs: a fixed held-out sample for scoring
candidates, CIFAR-10's crop and flip, a different drop-path draw on every rank.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import types
from dataclasses import replace

import pytest
import torch

from glitlib.data.memory import load_digits
from glitlib.data.source import TensorData
from glitlib.errors import ConfigError
from glitlib.model.arch import all_global
from glitlib.model.space import SPACES
from glitlib.runtime.context import Runtime
from glitlib.runtime.progress import LogLines, bar
from glitlib.train.loop import Checkpoint
from glitlib.train.standalone import train_model

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
QUIET = Runtime(progress=False)
SPACE = SPACES["digits"]


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def _recipe(steps: int = 20):
    from glitlib.config.recipes import TrainConfig

    return TrainConfig(steps=steps, batch_size=32, ckpt_every=5)


class _Crash(Exception):
    pass


class _CrashingData(TensorData):
    """Digits that stop with an exception when step ``at`` is asked for (a killed run)."""

    at: int = 10**9

    def batches(self, batch_size, seed, start, stop, shard=True):
        for step, batch in zip(range(start, stop),
                               super().batches(batch_size, seed, start, stop, shard)):
            if step == self.at:
                raise _Crash
            yield batch


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_log_lines_come_first_every_fifth_and_last(caplog):
    with caplog.at_level(logging.INFO, logger="glitlib"):
        with LogLines(20, "truth table") as lines:
            for _ in range(20):
                lines.update()
    said = [r.getMessage() for r in caplog.records]
    assert said[0].startswith("truth table: 1/20") and said[-1].startswith("truth table: 20/20")
    assert len(said) == 6, said  # 1, 5, 9, 13, 17, 20


def test_a_loop_off_a_terminal_logs_lines_a_terminal_gets_a_bar(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert isinstance(bar(3, "x", None, lines=True), LogLines)
    assert not isinstance(bar(3, "x", True, lines=True), LogLines)
    assert not isinstance(bar(3, "x", None), LogLines)  # training loops have their monitor


def test_metrics_of_a_resumed_run_have_every_step_once(digits, tmp_path):
    """Killed at step 12 (checkpoint at 10), resumed: steps 0-19 each once, in order, with
    the same losses as an uninterrupted run; lines past the checkpoint are dropped."""
    arch, recipe = all_global(SPACE), _recipe()
    whole = tmp_path / "whole.pt"
    train_model(SPACE, arch, digits.train, recipe, 0, QUIET, Checkpoint(whole))
    crashing = _CrashingData(digits.train.x, digits.train.y)
    crashing.at = 12
    ckpt = tmp_path / "run.pt"
    with pytest.raises(_Crash):
        train_model(SPACE, arch, crashing, recipe, 0, QUIET, Checkpoint(ckpt, resume=True))
    metrics = tmp_path / "run_metrics.jsonl"
    assert _steps(metrics) == list(range(10))
    with metrics.open("a") as f:  # a line written after the checkpoint, then a cut one
        f.write(json.dumps({"step": 10, "loss": 9.9}) + "\n" + '{"step": 1')
    train_model(SPACE, arch, digits.train, recipe, 0, QUIET, Checkpoint(ckpt, resume=True))
    assert _steps(metrics) == list(range(20))
    a = [json.loads(x)["loss"] for x in metrics.read_text().splitlines()]
    b = [json.loads(x)["loss"] for x in (tmp_path / "whole_metrics.jsonl").read_text()
         .splitlines()]
    assert a == b
    row = json.loads(metrics.read_text().splitlines()[-1])
    assert set(row) >= {"step", "loss", "lr", "images_per_s", "data_wait"}


def test_tensorboard_gets_the_scalars_of_every_step(digits, tmp_path, monkeypatch):
    written = []

    class Writer:
        def __init__(self, folder):
            written.append(("folder", folder))

        def add_scalar(self, tag, value, step):
            written.append((tag, step))

        def flush(self):
            pass

        def close(self):
            written.append(("closed", None))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    rt = replace(QUIET, tensorboard=True)
    train_model(SPACE, all_global(SPACE), digits.train, _recipe(10), 0, rt,
                Checkpoint(tmp_path / "m.pt"), desc="retrain")
    assert written[0] == ("folder", str(tmp_path / "tensorboard"))
    assert [s for t, s in written if t == "retrain/loss"] == list(range(10))
    assert {t for t, _ in written} >= {"retrain/lr", "retrain/images_per_s",
                                       "retrain/data_wait"}
    assert written[-1] == ("closed", None)


def test_tensorboard_without_the_package_is_refused_with_the_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        Runtime(tensorboard=True).check()


def test_a_search_is_watchable_from_its_log_file(glit, tmp_path):
    """Off a terminal every line has its time; the run folder keeps the same lines."""
    from test_search_cli import TINY

    out = tmp_path / "run"
    r = glit("search", *TINY, "--out", str(out), check=True)
    logged = [line for line in r.stdout.splitlines() if STAMP.match(line)]
    said = "\n".join(logged)
    for part in ("stage1: a supernet over", "stage1 supernet: step 1/20",
                 "stage1 supernet: step 20/20", "stage1 evolution: generation 0,",
                 "stage1 retrain 1/",
                 "stage2 evolution: generation 1,", "search done:"):
        assert part in said, part
    assert "images/s" in said and "left" in said
    assert (out / "glit.log").read_text().splitlines() == logged
    assert "found:" in r.stdout.splitlines()[-2]


def test_candidates_are_scored_on_a_fixed_held_out_sample(tiny_config, tmp_path):
    """--heldout-subset 40: every supernet score is a multiple of 1/40; the retrained
    candidates are judged on all the held-out images."""
    from glitlib.nas.pipeline import heldout_sample, run_search

    cfg = tiny_config(heldout_subset=40, stages=1).resolve()
    splits = load_digits(seed=0)
    a, b = heldout_sample(splits.val, cfg), heldout_sample(splits.val, cfg)
    assert len(a) == 40 and torch.equal(a.x, b.x)
    summary = run_search(cfg, tmp_path / "run", rt=QUIET)
    search = json.loads((tmp_path / "run" / "single_stage" / "search.json").read_text())
    scores = [c["supernet_accuracy"] for c in search["candidates"]]
    assert all(abs(s * 40 - round(s * 40)) < 1e-9 for s in scores)
    assert any(abs(s * 36 - round(s * 36)) > 1e-6 for s in scores)  # not the whole 360
    assert abs(summary["val_accuracy"] * len(splits.val)
               - round(summary["val_accuracy"] * len(splits.val))) < 1e-9


def test_cifar_training_batches_are_cropped_and_flipped_evaluation_is_not():
    import torch.nn.functional as F

    image = torch.arange(3 * 8 * 8, dtype=torch.float).reshape(3, 8, 8) + 1
    data = TensorData(image.repeat(16, 1, 1, 1), torch.zeros(16, dtype=torch.long), 2)
    (a, _), = data.batches(16, 0, 0, 1)
    (b, _), = data.batches(16, 0, 0, 1)
    assert torch.equal(a, b)  # a function of (seed, step)
    padded = F.pad(image, (2, 2, 2, 2))
    views = {(dy, dx, flip): padded[:, dy:dy + 8, dx:dx + 8] for dy in range(5)
             for dx in range(5) for flip in (False, True)}
    views = {k: v.flip(-1) if k[2] else v for k, v in views.items()}
    seen = [next(k for k, v in views.items() if torch.equal(v, img)) for img in a]
    assert len(set(seen)) > 1 and {k[2] for k in seen} == {False, True}
    assert torch.equal(next(iter(data.in_order(16)))[0], data.x)  # evaluation: plain
    (c, _), = TensorData(data.x, data.y).batches(16, 0, 0, 1)
    assert torch.equal(c, data.x)  # no augmentation unless asked


def test_every_rank_draws_its_own_drop_path_masks():
    from glitlib.runtime.seeds import seed_step

    draws = []
    for rank in (0, 1, 0):
        seed_step(3, 7, rank)
        draws.append(torch.rand(8))
    seed_step(3, 7)
    assert torch.equal(draws[0], torch.rand(8))  # rank 0 draws as one process does
    assert torch.equal(draws[0], draws[2]) and not torch.equal(draws[0], draws[1])
