"""glit enumerate: every network of a small space trained alone, the search replayed on it.

``data/digits_enumeration`` holds the JSON results of the full run (the book's chapter
12 reads them). Re-running all of it takes most of an hour, so a cheap sample is re-run
instead (two networks, one supernet), and must give exactly the shipped numbers; the
replay of the search on the table must find what :func:`run_search` finds when it
really retrains (shown on a short recipe, where both take seconds).
"""

from pathlib import Path

import pytest

from glitlib import SearchConfig, TrainConfig
from glitlib.cli import main
from glitlib.config.checks import fingerprint
from glitlib.errors import ConfigError
from glitlib.runtime.context import Runtime
from glitlib.runtime.files import read_json
from glitlib.studies.truth import Table, all_networks, check_config, replay_search, summarize

QUIET = Runtime(progress=False)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "digits_enumeration"
SPACE = ROOT / "data" / "digits_enum.json"


def _shipped() -> SearchConfig:
    return SearchConfig.from_dict(read_json(DATA / "config.json"))


def test_shipped_files_belong_to_the_shipped_run():
    cfg = _shipped()
    assert cfg.search_space() == SearchConfig(space=str(SPACE)).search_space()
    run = fingerprint(read_json(DATA / "config.json"))  # the settings as the run saved them
    files = sorted(DATA.glob("*/*.json")) + [DATA / "networks.json", DATA / "summary.json"]
    assert len(files) > 125
    assert {read_json(f)["run"] for f in files} == {run}


def test_summary_is_what_the_shipped_files_say():
    cfg = _shipped()
    summary = read_json(DATA / "summary.json")
    archs = all_networks(cfg.search_space())
    seeds = [r["supernet_seed"] for r in summary["seeds"]]
    table = Table(DATA, cfg, None, archs)  # every entry is on disk: nothing is trained
    again = summarize(DATA, cfg, archs, seeds, summary["held_out_images"], table,
                      summary["check"]["sample"], 5)
    assert again == summary


def test_a_sample_of_the_command_reproduces_the_shipped_numbers(tmp_path, capsys, one_thread):
    summary = read_json(DATA / "summary.json")
    found = summary["seeds"][0]["hierarchical"]["index"]
    picks = sorted({summary["best"]["index"], found})
    picks = picks if len(picks) == 2 else sorted({picks[0], 0 if picks[0] else 1})
    args = ["enumerate", "--config", str(DATA / "config.json"), "--out", str(tmp_path),
            "--seeds", "0", "--only", ",".join(map(str, picks)), "--quiet"]
    assert main(args) == 0
    for i in picks:
        mine = read_json(tmp_path / "trained" / f"arch{i:03d}.json")
        shipped = read_json(DATA / "trained" / f"arch{i:03d}.json")
        assert mine["val_accuracy"] == shipped["val_accuracy"]
        assert mine["arch"] == shipped["arch"]
    mine = read_json(tmp_path / "seeds" / "joint0.json")["scores"]
    shipped = read_json(DATA / "seeds" / "joint0.json")["scores"]
    assert mine == {str(i): shipped[str(i)] for i in picks}
    assert f"network {picks[0]}: held-out" in capsys.readouterr().out


def test_replay_finds_what_the_search_finds_by_retraining(tmp_path):
    from glitlib.data.load import load_splits
    from glitlib.nas.pipeline import run_search

    short = TrainConfig(steps=30, batch_size=64)
    cfg = SearchConfig(space=str(SPACE), supernet=short, retrain=short, rank_sample=0)
    summary = run_search(cfg, tmp_path / "search", rt=QUIET)
    resolved = check_config(cfg)
    splits = load_splits(resolved)
    table = Table(tmp_path / "table", resolved, splits, all_networks(resolved.search_space()))
    replay = replay_search(resolved, splits, resolved.seed, table.lookup)
    assert replay["found"] == summary["arch"]
    assert replay["stage2"]["best"]["val_accuracy"] == summary["val_accuracy"]
    for stage in ("stage1", "stage2"):
        searched = summary["stages"][stage]["retrained"]
        replayed = replay[stage]["retrained"]
        assert [(r["arch"], r["val_accuracy"]) for r in replayed] == \
            [(r["arch"], r["val_accuracy"]) for r in searched]
    assert len(list((tmp_path / "table" / "trained").glob("*.json"))) == \
        len({str(r["arch"]) for st in ("stage1", "stage2")
             for r in replay[st]["retrained"]})


@pytest.mark.parametrize("flags, message", [
    (["--only", "125"], "--only 125: space 'digits-enum' has 125 networks, numbered 0 to 124"),
    (["--only", "3,x"], "--only '3,x' is not a list"),
    (["--seeds", "-1"], "--seeds '-1'"),
])
def test_bad_indices_are_one_line(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert main(["enumerate", "--preset", str(SPACE), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


def test_missing_space_file_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    rc = main(["enumerate", "--preset", str(missing), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not exist" in err


def test_a_space_too_large_to_train_completely_is_refused():
    with pytest.raises(ConfigError, match="1,536,953,616 networks"):
        all_networks(SearchConfig(space="digits").search_space())
