"""The search through the Python API: the test split never steers it; budgets; recipes."""

import dataclasses

import torch

from glitlib.config.recipes import TrainConfig
from glitlib.data.load import load_splits
from glitlib.data.source import TensorData
from glitlib.model.costs import default_max_macs
from glitlib.nas.pipeline import run_search
from glitlib.runtime.context import Runtime
from glitlib.runtime.files import read_json

QUIET = Runtime(progress=False)


def test_test_split_never_steers_the_search(tiny_config, tmp_path):
    cfg = tiny_config()
    splits = load_splits(cfg.resolve())
    a = run_search(cfg, tmp_path / "a", rt=QUIET, splits=splits)
    g = torch.Generator().manual_seed(0)
    noise = TensorData(torch.randn(splits.test.x.shape, generator=g),
                       torch.randint(0, 10, splits.test.y.shape, generator=g))
    poisoned = dataclasses.replace(splits, test=noise)
    b = run_search(cfg, tmp_path / "b", rt=QUIET, splits=poisoned)
    for stage in ("stage1", "stage2"):
        ra = read_json(tmp_path / "a" / stage / "search.json")
        rb = read_json(tmp_path / "b" / stage / "search.json")
        assert ra == rb
        assert read_json(tmp_path / "a" / stage / "result.json") == read_json(
            tmp_path / "b" / stage / "result.json")
    assert a["arch"] == b["arch"] and a["val_accuracy"] == b["val_accuracy"]
    assert a["test_accuracy"] != b["test_accuracy"]  # test data did reach the final number


def test_default_budget_is_the_all_global_baseline():
    from glitlib import SPACES, Arch, BlockArch, CostModel

    space = SPACES["digits"]
    block = BlockArch(3, 16, 2, None, None)
    assert default_max_macs(space) == CostModel(space).macs(Arch((block,) * 4))
    tiny = SPACES["tiny"]
    deit = BlockArch(3, 64, 4, None, None)
    assert default_max_macs(tiny) == CostModel(tiny).macs(Arch((deit,) * 12))


def test_retrain_with_timm_recipe_pieces(tmp_path):
    """EMA and mixup/cutmix train, checkpoint and reload (the EMA weights are the model)."""
    from glitlib import SPACES, stage1
    from glitlib.data.memory import load_digits
    from glitlib.runtime.seeds import step_rng
    from glitlib.train.loop import Checkpoint
    from glitlib.train.standalone import accuracy, load_model, train_model

    space = SPACES["digits"]
    arch = stage1(space).sample(step_rng(0, 0))
    s = load_digits(0)
    cfg = TrainConfig(steps=6, batch_size=32, warmup_steps=1, model_ema_decay=0.9, mixup=0.8,
                      cutmix=1.0, drop_path=0.1)
    model = train_model(space, arch, s.train, cfg, 0, QUIET, Checkpoint(tmp_path / "m.pt"))
    loaded, state = load_model(tmp_path / "m.pt")
    assert "ema" in state and state["step"] == 6
    assert accuracy(model, s.val) == accuracy(loaded, s.val)
    plain = train_model(space, arch, s.train, TrainConfig(steps=6, batch_size=32,
                                                          warmup_steps=1), 0, QUIET)
    assert any(not torch.equal(a, b) for a, b in
               zip(plain.state_dict().values(), loaded.state_dict().values()))


def test_optimizer_skips_decay_where_the_model_says():
    from glitlib import SPACES, Supernet, stage1
    from glitlib.train.loop import configure_optimizer

    net = Supernet(stage1(SPACES["digits"]))
    opt = configure_optimizer(net, TrainConfig(weight_decay=0.05))
    no_decay = {id(p) for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert id(net.embed.pos_embed) in no_decay and id(net.embed.cls_token) in no_decay
    assert id(net.head.weight) not in no_decay and id(net.head.bias) in no_decay
