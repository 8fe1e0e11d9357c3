"""glit enumerate: truth tables of small spaces and the searches replayed on them.

Tiny recipes here (seconds); the shipped tables are checked in test_shipped.py.
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from glitlib import SearchConfig, SupernetConfig, TrainConfig
from glitlib.errors import CheckpointError
from glitlib.runtime.context import Runtime
from glitlib.studies import replays
from glitlib.studies.truth import all_networks, build_truth, noise_ceiling

QUIET = Runtime(progress=False)
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = json.loads((ROOT / "data" / "digits_enum.json").read_text())
SPACE = Path()  # the shipped enumeration space with two blocks, not three: 25 networks


@pytest.fixture(scope="module", autouse=True)
def _space(tmp_path_factory):
    global SPACE
    SPACE = tmp_path_factory.mktemp("space") / "digits_enum_2blocks.json"
    SPACE.write_text(json.dumps({**SHIPPED, "name": "digits-enum-2", "depth": 2}))


def tiny(seed: int = 0) -> SearchConfig:
    return SearchConfig(space=str(SPACE), seed=seed, rank_sample=0,
                        supernet=SupernetConfig(steps=12, batch_size=32),
                        retrain=TrainConfig(steps=6, batch_size=32))


@pytest.fixture(scope="module")
def truth(tmp_path_factory, _space):
    """A whole table on a tiny recipe: 25 networks x 2 seeds (seconds)."""
    out = tmp_path_factory.mktemp("truth")
    return out, build_truth(tiny(), out, [0, 1], rt=QUIET)


def test_every_network_has_every_seed_and_its_mean(truth):
    out, t = truth
    assert len(t["networks"]) == 25 == len(all_networks(tiny().search_space()))
    for n in t["networks"]:
        assert [r["seed"] for r in n["seeds"]] == [0, 1]
        assert n["test_mean"] == pytest.approx(np.mean([r["test_accuracy"]
                                                        for r in n["seeds"]]))
    assert json.loads((out / "truth.json").read_text()) == t
    check = t["recipe_check"]
    assert check["longer_steps"] == 2 * check["steps"] and len(check["networks"]) == 12


def test_the_seeds_are_real_draws(truth):
    """Another training seed is another result: the table holds retraining noise."""
    _, t = truth
    acc = np.array([[r["val_accuracy"] for r in n["seeds"]] for n in t["networks"]])
    assert (acc[:, 0] != acc[:, 1]).sum() > len(acc) // 5
    assert t["noise_ceiling"]["val"]["retraining_sd"] > 0


def test_noise_ceiling_is_tau_b_between_seed_tables():
    perfect = np.array([[1, 1], [2, 2], [3, 3], [4, 4]], float)
    assert noise_ceiling(perfect)["kendall_tau_b"] == 1.0
    reversed_ = np.array([[1, 4], [2, 3], [3, 2], [4, 1]], float)
    assert noise_ceiling(reversed_)["spearman"] == -1.0
    assert noise_ceiling(np.ones((4, 1)))["pairs"] == []  # one seed: nothing to compare


def test_a_stopped_table_continues_and_refuses_other_settings(truth, tmp_path):
    out, t = truth
    again = build_truth(tiny(), out, [0, 1], rt=QUIET)  # every entry read back
    assert again == t
    entry = out / "trained" / "arch007_seed1.json"
    row = json.loads(entry.read_text())
    other = replace(tiny(), retrain=TrainConfig(steps=7, batch_size=32))
    from glitlib.studies.truth import TruthTable

    with pytest.raises(CheckpointError, match="other settings .run, steps."):
        TruthTable(out, other.resolve(), None, all_networks(other.search_space()),
                   [1]).entry(7, 1)
    assert json.loads(entry.read_text()) == row  # refused, not overwritten


def test_replays_spend_equal_compute_and_never_beat_the_truth(truth):
    out, t = truth
    cfg = tiny().resolve()
    result = replays.replay_table(t, cfg, out, [0, 1], QUIET)
    rows, summary = result["rows"], result["summary"]
    assert set(summary["methods"]) == set(replays.METHODS)
    best = summary["best"]["truth"]
    for r in rows:
        m = r["methods"]
        budget = len(m["two-stage"]["looked_up"])
        for name in ("single-stage-distinct", "single-stage-heads", "random"):
            assert len(m[name]["looked_up"]) == budget  # equal distinct look-ups
        assert {m[k]["supernet_steps"] for k in ("two-stage", "single-stage-distinct",
                                                 "single-stage-heads", "supernet-first")} \
            == {2 * cfg.supernet.steps}  # equal supernet steps
    for name, s in summary["methods"].items():
        assert s["mean_regret"] >= 0 and s["ci95"][0] <= s["mean_regret"] + 1e-9, name
        assert sum(s["rank_histogram"].values()) == len(rows)
    from glitlib.model.costs import CostModel

    feasible = [n for n in t["networks"] if CostModel(cfg.search_space()).macs(
        all_networks(cfg.search_space())[n["index"]]) <= cfg.max_macs]
    assert best == pytest.approx(max(n["test_mean"] for n in feasible) * 100, abs=1e-4)
    again = replays.replay_table(t, cfg, out, [0, 1], QUIET)  # scores read back
    assert again == result


def test_the_replay_finds_what_the_search_finds_by_retraining(tmp_path):
    """With one training seed (the search's), the replayed two stages are run_search."""
    from glitlib.nas.pipeline import run_search

    cfg = tiny(seed=3)
    summary = run_search(cfg, tmp_path / "search", rt=QUIET)
    t = build_truth(cfg, tmp_path / "table", [3], rt=QUIET)
    result = replays.replay_table(t, cfg.resolve(), tmp_path / "table", [3], QUIET)
    found = result["rows"][0]["methods"]["two-stage"]["found"]
    assert t["networks"][found]["arch"] == summary["arch"]
    assert t["networks"][found]["seeds"][0]["val_accuracy"] == summary["val_accuracy"]
