"""The search results shipped in data/ still come out of the code.

``data/digits_search`` holds the small JSON results of ``glit search --preset digits
--out data/digits_search`` (the book's chapters read them). Re-running all of it takes
minutes, so a cheap sample is re-run instead: the shipped settings are still the
defaults, and retraining the found architecture with the run's recipe and seed gives
exactly the held-out accuracy the run recorded.
"""

from pathlib import Path

import pytest

from glitlib import SearchConfig
from glitlib.runtime.files import read_json

DATA = Path(__file__).resolve().parents[1] / "data" / "digits_search"


def test_shipped_run_is_the_default_search():
    cfg = SearchConfig.from_dict(read_json(DATA / "config.json")).resolve()
    assert cfg == SearchConfig().resolve()  # the shipped run is what glit search does now
    summary = read_json(DATA / "summary.json")
    assert summary["run"] == cfg.fingerprint()
    arch = read_json(DATA / "arch.json")
    assert arch["blocks"] == summary["arch"]


def test_retraining_the_found_network_reproduces_its_accuracy(one_thread):
    from glitlib.data.load import load_splits
    from glitlib.model.arch import Arch
    from glitlib.runtime.context import Runtime
    from glitlib.train.standalone import accuracy, train_model

    cfg = SearchConfig.from_dict(read_json(DATA / "config.json"))
    best = read_json(DATA / "stage2" / "result.json")["best"]
    splits = load_splits(cfg)
    arch = Arch.from_dict({"blocks": best["arch"]})
    model = train_model(cfg.search_space(), arch, splits.train, cfg.retrain, cfg.seed,
                        Runtime(progress=False))
    assert accuracy(model, splits.val) == best["val_accuracy"]


ENUM = DATA.parent / "digits_enumeration"
NOISE = DATA.parent / "digits_truth"


def _table_config() -> SearchConfig:
    """The shipped tables' settings: the search's recipe at 600 steps, lr 2e-3."""
    from glitlib import TrainConfig

    return SearchConfig(space=str(DATA.parent / "digits_enum.json"),
                        retrain=TrainConfig(steps=600, lr=2e-3, ckpt_every=50))


@pytest.mark.slow
def test_shipped_truth_entries_come_out_of_the_code(one_thread, tmp_path):
    """A sample of the three-seed table (chapter 12, ``digits_truth``): one network
    trained with seed 2 (a training seed other than the split's) gives the shipped bits."""
    from glitlib.data.load import load_splits
    from glitlib.runtime.context import Runtime
    from glitlib.studies.truth import TruthTable, all_networks

    cfg = _table_config().resolve()
    saved = read_json(NOISE / "config.json")
    assert saved["retrain"] == cfg.to_dict()["retrain"]
    assert saved["data"]["seed"] == cfg.seed
    archs = all_networks(cfg.search_space())
    table = TruthTable(tmp_path, cfg, load_splits(cfg), archs, [2], Runtime(progress=False))
    i = 48
    for seed in (2,):
        shipped = read_json(NOISE / "trained" / f"arch{i:03d}_seed{seed}.json")
        again = table.entry(i, seed)
        assert (again["val_accuracy"], again["test_accuracy"]) == (
            shipped["val_accuracy"], shipped["test_accuracy"])


@pytest.mark.slow
def test_shipped_joint_supernet_scores_come_out_of_the_code(one_thread):
    """Chapter 12's joint supernet of seed 0, trained again, scores a sample of
    networks exactly as shipped."""
    from glitlib.data.load import load_splits
    from glitlib.nas.evaluator import Evaluator
    from glitlib.nas.paths import joint
    from glitlib.nas.training import train_supernet
    from glitlib.runtime.context import Runtime
    from glitlib.studies.truth import all_networks

    cfg = _table_config().resolve()
    splits = load_splits(cfg)
    archs = all_networks(cfg.search_space())
    net = train_supernet(joint(cfg.search_space(), cfg.sampling_prior), splits.train,
                         cfg.supernet, 0, Runtime(progress=False))
    score = Evaluator(net, splits.train, splits.val, cfg.bn_batches, cfg.bn_batch_size,
                      cfg.seed)
    shipped = read_json(ENUM / "seeds" / "joint0.json")["scores"]
    for i in range(0, len(archs), 25):
        assert score(archs[i]) == shipped[str(i)], i
