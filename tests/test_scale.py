"""ImageNet scale without ImageNet or a GPU: the paper's presets, the held-out file,
bf16 autocast, torch.compile, released weights on val/, launching under torchrun."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from glitlib import SearchConfig
from glitlib.config.presets import RUN_PRESETS, imagenet_preset
from glitlib.config.recipes import SupernetConfig, TrainConfig
from glitlib.data.memory import load_digits
from glitlib.errors import ConfigError, DataError
from glitlib.runtime.context import Runtime
from glitlib.train.standalone import train_model

QUIET = Runtime(progress=False)

IMAGES = 1_281_167 - 50_000  # ImageNet's training images less GLiT's held-out set


@pytest.mark.parametrize("name", RUN_PRESETS)
def test_presets_hold_the_papers_settings(name):
    cfg = imagenet_preset(name, "/data/imagenet").resolve()
    size = name.removeprefix("imagenet-")
    assert cfg.space["name"] == size and cfg.dataset == "imagenet"
    assert cfg.heldout_per_class is None  # 50 per class: GLiT's 50,000 images
    sup, ret, evo = cfg.supernet, cfg.retrain, cfg.evolution
    assert sup.steps == 120 * (IMAGES // 1024) and sup.batch_size == 1024  # SPOS: 120 epochs
    assert ret.steps == 300 * (IMAGES // 1024) and ret.batch_size == 1024
    assert ret.warmup_steps == 5 * (IMAGES // 1024)
    assert ret.lr == pytest.approx(5e-4 * 1024 / 512)  # DeiT: 5e-4 x batch / 512
    assert (ret.weight_decay, ret.smoothing, ret.drop_path) == (0.05, 0.1, 0.1)
    assert (ret.mixup, ret.cutmix) == (0.8, 1.0) and ret.model_ema_decay > 0.999
    assert ret.clip_grad == (1.0 if size == "tiny" else 0.0)  # GLiT-Tiny clipped at 1
    assert (evo.population, evo.generations, evo.parents) == (50, 20, 10)
    assert (evo.mutations, evo.crossovers, evo.mutate_prob) == (25, 25, 0.1)
    assert (cfg.bn_batches, cfg.bn_batch_size) == (200, 128)  # SPOS's recalibration
    assert cfg.retrain_candidates == 5 and cfg.constrain_supernet


def test_another_batch_keeps_the_epochs_and_scales_the_learning_rate():
    from glitlib.cli import parser as _parser
    from glitlib.cli.search import search_config

    args = _parser().parse_args(["search", "--preset", "imagenet-small", "--data", "/d",
                                 "--retrain-batch-size", "256", "--out", "x"])
    cfg = search_config(args).resolve()
    assert cfg.space["name"] == "small"
    assert cfg.retrain.batch_size == 256 and cfg.retrain.lr == pytest.approx(2.5e-4)
    assert cfg.retrain.steps == 300 * (IMAGES // 256)
    assert cfg.supernet.batch_size == 1024  # untouched


def test_a_preset_needs_the_data_folder():
    with pytest.raises(ConfigError, match="--data"):
        imagenet_preset("imagenet-tiny").resolve()


def test_a_recipe_of_the_wrong_kind_is_refused():
    with pytest.raises(ConfigError, match="supernet must be a SupernetConfig, got TrainConfig"):
        SearchConfig(supernet=TrainConfig()).resolve()


# -- a run on the ImageNet-layout stand-in ----------------------------------------------
SPACE = {"name": "standin16", "img_size": 16, "patch_size": 8, "in_chans": 3,
         "num_classes": 3, "embed_dim": 24, "depth": 2, "num_heads": 3,
         "d_k": [4, 8], "d_z": [1, 2], "e": [1, 2], "k": [3, 5]}


def _tiny(data) -> SearchConfig:
    return SearchConfig(
        space=SPACE, dataset="imagenet", data_dir=str(data), heldout_per_class=2,
        retrain_candidates=1, rank_sample=0, bn_batch_size=8,
        supernet=SupernetConfig(steps=4, batch_size=8),
        evolution=replace(SearchConfig().evolution, population=3, generations=1),
        retrain=TrainConfig(steps=3, batch_size=8))


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    from glitlib.data.standin import write_standin

    return write_standin(tmp_path_factory.mktemp("imagenet") / "in", classes=3,
                         train_per_class=10, val_per_class=2, size=20)


def test_the_held_out_files_are_written_once_and_checked_on_resume(standin, tmp_path,
                                                                  one_thread):
    from glitlib.nas.pipeline import run_search

    data = tmp_path / "in"
    shutil.copytree(standin, data)
    out = tmp_path / "run"
    summary = run_search(_tiny(data), out, rt=QUIET)
    held = json.loads((out / "heldout.json").read_text())
    assert held["count"] == 6 and held["per_class"] == 2 and len(held["files"]) == 6
    assert all(f.split("/")[0] in {p.name for p in (data / "train").iterdir()}
               for f in held["files"])
    # the data folder changed under the run: a resume would score on other images
    (out / "summary.json").unlink()
    victim = data / "train" / held["files"][0]
    victim.unlink()
    with pytest.raises(DataError, match="held-out set"):
        run_search(_tiny(data), out, resume=True, rt=QUIET)
    shutil.copy(standin / "train" / held["files"][0], victim)
    again = run_search(_tiny(data), out, resume=True, rt=QUIET)
    assert again == summary


MIXED = {"blocks": [{"g": 1, "d_k": 8, "d_z": 2, "e": 2, "k": 5}] * 4}  # local heads too


def test_bf16_autocast_trains_in_bf16(one_thread):
    from glitlib import SPACES, Arch
    from glitlib.runtime.device import autocast
    from glitlib.train.standalone import accuracy

    splits, space, arch = load_digits(0), SPACES["digits"], Arch.from_dict(MIXED)
    cfg = TrainConfig(steps=3, batch_size=32)
    fp32 = train_model(space, arch, splits.train, cfg, 1, QUIET)
    model = train_model(space, arch, splits.train, cfg, 1, Runtime(precision="bf16",
                                                                  progress=False))
    seen = []
    handle = model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with autocast("cpu", "bf16"):
        model(splits.val.x[:4])
    handle.remove()
    assert seen == [torch.bfloat16]
    assert 0 <= accuracy(model, splits.val, precision="bf16") <= 1
    a, b = fp32.state_dict(), model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # bf16 rounding changed the steps
    assert all(torch.isfinite(v).all() for v in b.values() if v.is_floating_point())


def test_compiled_retraining_follows_eager(one_thread):
    from glitlib import SPACES, Arch

    splits, arch = load_digits(0), Arch.from_dict(MIXED)
    cfg = TrainConfig(steps=3, batch_size=32)
    eager = train_model(SPACES["digits"], arch, splits.train, cfg, 1, QUIET)
    compiled = train_model(SPACES["digits"], arch, splits.train, cfg, 1,
                           Runtime(compile="aot_eager", progress=False))
    for k, v in eager.state_dict().items():
        assert torch.allclose(v.float(), compiled.state_dict()[k].float(), atol=1e-4), k


def test_torchrun_refuses_one_gpu_index_for_every_rank(monkeypatch):
    from glitlib.runtime.ranks import init_from_env

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="cuda:LOCAL_RANK"):
        init_from_env("cuda:0")


def test_released_weights_need_imagenet_val(standin):
    glit = [sys.executable, "-m", "glitlib", "eval", "--weights", "glit_tiny.pth"]
    done = subprocess.run(glit, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--dataset imagenet" in done.stderr
    assert "Traceback" not in done.stderr


def test_imagenet_val_reads_val_only(standin):
    from glitlib.data.imagenet import imagenet_val

    val = imagenet_val(standin, img_size=16)
    assert len(val) == 6 and val.num_classes == 3 and val.shape == (3, 16, 16)
    labels = torch.cat([y for _, y in val.in_order(4)])
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]  # wnids in sorted order, as ImageNet-1k


def test_batches_must_split_evenly_over_ranks(monkeypatch):
    import glitlib.train.loop as train

    with pytest.raises(ConfigError, match="batch_size must be even"):
        SearchConfig(retrain=TrainConfig(batch_size=7, mixup=0.8)).resolve()
    monkeypatch.setattr(train, "rank_and_world", lambda: (0, 4))
    with pytest.raises(ConfigError, match="multiple of 4"):
        train.check_shards(TrainConfig(batch_size=10))
    with pytest.raises(ConfigError, match="even number of images per rank"):
        train.check_shards(TrainConfig(batch_size=12, cutmix=1.0))
    train.check_shards(TrainConfig(batch_size=16, cutmix=1.0))  # 4 per rank: fine


def test_torchrun_gives_each_rank_its_own_gpu_and_nccl(monkeypatch):
    """No GPU here: record what would be started instead of starting it."""
    import torch.distributed as dist

    from glitlib.runtime.ranks import init_from_env

    started = {}
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "5")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, timeout, **kw: started.update(
        b=backend, t=timeout.total_seconds(), **kw))
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: started.update(d=d))
    assert init_from_env("cuda", timeout_s=120) == "cuda:5"
    assert started == {"b": "nccl", "d": "cuda:5", "t": 120,
                       "device_id": torch.device("cuda:5")}
    started.clear()
    assert init_from_env("cpu") == "cpu" and started == {"b": "gloo", "t": 1800}
    monkeypatch.setenv("WORLD_SIZE", "1")  # not under torchrun: nothing is started
    started.clear()
    assert init_from_env("cuda") == "cuda" and started == {}


def test_an_unknown_compile_backend_is_refused_before_any_work(tmp_path):
    cmd = [sys.executable, "-m", "glitlib", "retrain", "--arch", "glit-tiny", "--compile",
           "nosuch", "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--compile 'nosuch'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
