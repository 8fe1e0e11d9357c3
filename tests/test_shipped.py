"""The search results shipped in data/ still come out of the code.

``data/digits_search`` holds the small JSON results of ``glit search --preset digits
--out data/digits_search`` (the book's chapters read them). Re-running all of it takes
minutes, so a cheap sample is re-run instead: the shipped settings are still the
defaults, and retraining the found architecture with the run's recipe and seed gives
exactly the held-out accuracy the run recorded.
"""

from pathlib import Path

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
