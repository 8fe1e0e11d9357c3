"""The search commands end to end: outputs, CLI == Python, kill -9 + --resume, refusals."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from glitlib.config.search import SearchConfig
from glitlib.runtime.context import Runtime
from glitlib.runtime.files import read_json

QUIET = Runtime(progress=False)

TINY = ["--supernet-steps", "20", "--retrain-steps", "10", "--population", "6",
        "--generations", "2", "--retrain-candidates", "2", "--rank-sample", "1",
        "--bn-batches", "1", "--bn-batch-size", "64", "--threads", "1", "--quiet"]
HANG = 3600  # only to stop a hung run; tests wait on files the program writes








@pytest.fixture(scope="module")
def searched(glit, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search") / "run"
    r = glit("search", "--out", str(out), *TINY, check=True)
    assert "found:" in r.stdout and "test" in r.stdout
    return out


def test_search_writes_every_output(searched):
    for name in ("arch.json", "summary.json", "config.json", "best_so_far.png",
                 "distribution.png", "stage1_candidates.png", "stage2_candidates.png",
                 "stage1/supernet.pt", "stage2/search.json", "stage2/retrain/candidate1.pt",
                 "stage1/timings.json"):
        assert (searched / name).is_file(), name
    for stage in ("stage1", "stage2"):
        state = read_json(searched / stage / "search.json")
        assert len(state["candidates"]) == 12
        assert set(state["candidates"][0]) == {"generation", "arch", "macs", "params",
                                               "supernet_accuracy"}
        assert state["space"]["name"] == "digits"  # the file names what it needs
    summary = read_json(searched / "summary.json")
    s1 = summary["stages"]["stage1"]
    assert summary["distribution"] == s1["best"]["distribution"]  # stage 2 kept stage 1's
    assert all(c["macs"] <= s1["max_macs"] for c in
               read_json(searched / "stage2" / "search.json")["candidates"])


def test_cli_and_python_are_the_same_run(tiny_config, searched, tmp_path, one_thread):
    """The same settings through Python give byte-identical config.json and summary.json
    (on one thread each: training is exact for a given number of threads)."""
    from glitlib.nas.pipeline import run_search

    run_search(tiny_config(), tmp_path / "py", rt=QUIET)
    for name in ("config.json", "summary.json", "arch.json", "stage1/search.json"):
        assert (tmp_path / "py" / name).read_bytes() == (searched / name).read_bytes(), name


def test_config_json_repeats_the_run(glit, tiny_config, searched, tmp_path):
    out = tmp_path / "again"
    glit("search", "--config", str(searched / "config.json"), "--out", str(out), "--quiet",
         "--threads", "1", check=True)  # the thread count is the runtime's, not the run's
    assert (out / "summary.json").read_bytes() == (searched / "summary.json").read_bytes()
    # The Python API given the same file resolves to the very same run.
    saved = SearchConfig.from_dict(read_json(searched / "config.json"))
    assert saved.resolve() == tiny_config().resolve()
    assert saved.resolve().fingerprint() == tiny_config().resolve().fingerprint()


def test_one_seed_and_one_limit_without_copies(tiny_config):
    """The run has one seed and one MACs limit; no recipe holds a copy to drift from them."""
    from dataclasses import fields

    cfg = tiny_config(seed=7).resolve()
    assert cfg.seed == 7 and cfg.max_macs == 1_367_904
    for recipe in (cfg.supernet, cfg.evolution, cfg.retrain):
        assert not {"seed", "max_macs"} & {f.name for f in fields(recipe)}
    assert cfg.evolution.mutations == cfg.evolution.crossovers == 3  # half the population
    assert cfg.supernet.warmup_steps == 2


def test_one_field_given_keeps_the_other_defaults():
    """A recipe's defaults are its own: giving one field changes nothing else."""
    from glitlib.config.recipes import SupernetConfig, TrainConfig

    cfg = SearchConfig(supernet=SupernetConfig(lr=1e-3), retrain=TrainConfig(lr=1e-3))
    assert cfg.supernet.steps == SearchConfig().supernet.steps == 500
    assert cfg.retrain.steps == SearchConfig().retrain.steps == 300
    assert cfg.retrain.ckpt_every == 100 and cfg.supernet.ckpt_every == 200


def test_a_resolved_config_is_its_own_type(tiny_config):
    from glitlib.config.search import ResolvedConfig
    from glitlib.errors import ConfigError

    resolved = tiny_config().resolve()
    assert isinstance(resolved, ResolvedConfig) and resolved.resolve() is resolved
    assert not isinstance(tiny_config(), ResolvedConfig)
    with pytest.raises(ConfigError, match="SearchConfig.resolve"):
        ResolvedConfig()  # only resolve() makes one


def test_test_split_read_once_after_every_decision(searched):
    summary = read_json(searched / "summary.json")
    for st in summary["stages"].values():
        assert "test_accuracy" not in json.dumps(st)  # no stage measures test
    assert 0 <= summary["test_accuracy"] <= 1


def test_info_reads_the_found_architecture(glit, searched):
    r = glit("info", "--arch", str(searched / "arch.json"), "--json", check=True)
    info = json.loads(r.stdout)
    summary = read_json(searched / "summary.json")
    assert info["macs"] == summary["macs"] and info["params"] == summary["params"]
    assert info["distribution"] == summary["distribution"]


def test_eval_command_json_and_own_split(glit, one_line_error, searched):
    ckpt = searched / "stage2" / "retrain" / "candidate0.pt"
    r = glit("eval", "--checkpoint", str(ckpt), "--split", "val", "--json", "--threads", "1",
             check=True)
    row = read_json(searched / "stage2" / "retrain" / "candidate0.json")
    out = json.loads(r.stdout)
    assert out["accuracy"] == row["val_accuracy"] and out["images"] == 360
    r = glit("eval", "--checkpoint", str(ckpt), "--seed", "1", check=False)
    one_line_error(r, "seed 0", "drop --seed")


def test_retrain_reads_space_and_data_from_search_json(glit, one_line_error, searched, tmp_path):
    r = glit("retrain", "--search", str(searched / "stage1" / "search.json"), "--out",
             str(tmp_path / "r"), "--retrain-candidates", "1", "--steps", "5", "--quiet",
             check=True)
    assert "best of 1" in r.stdout
    assert read_json(tmp_path / "r" / "arch.json")["space"]["name"] == "digits"
    r = glit("retrain", "--search", str(searched / "stage1" / "search.json"), "--out",
             str(tmp_path / "s"), "--seed", "3", check=False)
    one_line_error(r, "seed 0", "--seed 3")


def test_refuses_existing_output_directory(glit, one_line_error, searched):
    before = (searched / "summary.json").read_bytes()
    r = glit("search", "--out", str(searched), *TINY, check=False)
    one_line_error(r, "holds a glit run", "--resume", "--overwrite")
    assert (searched / "summary.json").read_bytes() == before


def test_resume_of_finished_search_repeats_its_result(glit, searched):
    before = read_json(searched / "summary.json")
    r = glit("search", "--out", str(searched), "--resume", *TINY, check=True)
    assert read_json(searched / "summary.json") == before
    assert "found:" in r.stdout


def test_resume_with_other_settings_is_refused(glit, one_line_error, searched):
    args = [a if a != "20" else "21" for a in TINY]
    r = glit("search", "--out", str(searched), "--resume", *args, check=False)
    one_line_error(r, "other settings", "supernet.steps")


def test_impossible_macs_limit(glit, one_line_error, tmp_path):
    r = glit("search", "--out", str(tmp_path / "o"), "--max-macs", "1000", *TINY,
             check=False)
    one_line_error(r, "no architecture meets", "MACs")
    assert not (tmp_path / "o").exists()


def test_corrupted_and_truncated_checkpoints(cli, one_line_error, searched, tmp_path):
    good = (searched / "stage1" / "supernet.pt").read_bytes()
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint at all")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good[: len(good) // 2])
    for f in (bad, cut):
        r = cli("evolve", "--supernet", str(f), "--out", str(tmp_path / f.stem))
        one_line_error(r, "corrupted", str(f), "point to a file glit wrote")
        assert "--overwrite" not in r.stderr  # which would wipe the finished stages
        assert "--resume" not in r.stderr  # an input of the command, not a step of it
        assert "weights_only" not in r.stderr  # torch's advice to load it unsafely
    assert bad.read_bytes() == b"not a checkpoint at all"  # nothing deleted


def test_checkpoint_from_another_space(cli, one_line_error, searched, tmp_path):
    r = cli("evolve", "--supernet", str(searched / "stage1" / "supernet.pt"),
             "--preset", "tiny", "--out", str(tmp_path / "e"))
    one_line_error(r, "search space", "digits", "tiny")
    ckpt = searched / "stage2" / "retrain" / "candidate0.pt"
    r = cli("evolve", "--supernet", str(ckpt), "--out", str(tmp_path / "f"))
    one_line_error(r, "holds a model, expected a supernet")


def test_evolve_takes_the_split_from_the_supernet(cli, one_line_error, searched, tmp_path):
    r = cli("evolve", "--supernet", str(searched / "stage1" / "supernet.pt"), "--seed", "1",
             "--out", str(tmp_path / "e"))
    one_line_error(r, "seed 0", "drop --seed")


def test_bad_distribution_and_arch(cli, one_line_error, tmp_path):
    r = cli("supernet", "--stage", "2", "--distribution", "3,0,9,1", "--out",
             str(tmp_path / "a"))
    one_line_error(r, "block 2", "g=9")
    bad = tmp_path / "arch.json"
    bad.write_text("{ not json")
    r = cli("retrain", "--arch", str(bad), "--out", str(tmp_path / "b"))
    one_line_error(r, "malformed", str(bad))


# -- kill -9 and resume ------------------------------------------------------------
def _kill_when(proc: subprocess.Popen, ready) -> None:
    end = time.monotonic() + HANG  # a hung run, not a slow machine, trips this
    while not ready():
        assert proc.poll() is None, "finished before it could be killed; enlarge the run"
        assert time.monotonic() < end, "the run wrote nothing for an hour"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "glitlib", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _equal_state(a: Path, b: Path) -> None:
    sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert sa["step"] == sb["step"]
    assert sa["model"].keys() == sb["model"].keys()
    assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])
    oa, ob = sa["optimizer"]["state"], sb["optimizer"]["state"]
    assert oa.keys() == ob.keys()
    assert all(torch.equal(oa[i]["exp_avg"], ob[i]["exp_avg"]) for i in oa)


def test_sigkill_during_supernet_training_then_resume(glit, tmp_path):
    args = ["supernet", "--steps", "80", "--batch-size", "32", "--ckpt-every", "10",
            "--seed", "1", "--quiet"]
    glit(*args, "--out", str(tmp_path / "ref"), check=True)
    out = tmp_path / "killed"
    ckpt = out / "supernet.pt"
    _kill_when(_popen(*args, "--out", str(out)), ckpt.exists)
    step = torch.load(ckpt, weights_only=True)["step"]
    assert 0 < step < 80
    glit(*args, "--out", str(out), "--resume", check=True)
    _equal_state(tmp_path / "ref" / "supernet.pt", ckpt)


def test_sigkill_during_evolution_then_resume(glit, tmp_path):
    glit("supernet", "--steps", "10", "--batch-size", "32", "--out", str(tmp_path / "s"),
         "--quiet", check=True)
    args = ["evolve", "--supernet", str(tmp_path / "s" / "supernet.pt"), "--population",
            "12", "--generations", "8", "--bn-batches", "1", "--bn-batch-size", "64",
            "--quiet"]
    glit(*args, "--out", str(tmp_path / "ref"), check=True)
    out = tmp_path / "killed"
    state = out / "search.json"
    _kill_when(_popen(*args, "--out", str(out)), state.exists)
    done = read_json(state)["state"]["next_generation"]
    assert 0 < done < 8
    glit(*args, "--out", str(out), "--resume", check=True)
    ref = read_json(tmp_path / "ref" / "search.json")
    assert read_json(state) == ref
    assert len(ref["candidates"]) == 12 * 8


def test_sigkill_at_every_phase_of_a_search_then_resume(glit, searched, tmp_path):
    """Killed in retraining, at the stage boundary and in stage 2's evolution."""
    out = tmp_path / "killed"
    _kill_when(_popen("search", "--out", str(out), *TINY),
               (out / "stage1" / "retrain" / "candidate0.pt").exists)
    assert not (out / "stage1" / "result.json").exists()
    for point in ("stage1/result.json", "stage2/search.json"):
        _kill_when(_popen("search", "--out", str(out), "--resume", *TINY),
                   (out / point).exists)
        assert not (out / "summary.json").exists()
    glit("search", "--out", str(out), "--resume", *TINY, check=True)
    for name in ("summary.json", "stage1/search.json", "stage2/search.json", "arch.json"):
        assert (out / name).read_bytes() == (searched / name).read_bytes(), name


def test_baselines_on_the_same_budget(glit, tmp_path):
    """Single-stage SPOS and random search over the joint space, constrained supernet."""
    for strategy in ("evolution", "random"):
        out = tmp_path / strategy
        glit("search", "--out", str(out), "--stages", "1", "--strategy", strategy,
             "--constrain-supernet", "--supernet-macs-bins", "3", *TINY, check=True)
        summary = read_json(out / "summary.json")
        assert list(summary["stages"]) == ["single_stage"]
        state = read_json(out / "single_stage" / "search.json")
        assert len(state["candidates"]) == 12
        assert state["config"]["mutations"] == (0 if strategy == "random" else 3)
        ckpt = torch.load(out / "single_stage" / "supernet.pt", weights_only=True)
        assert ckpt["max_macs"] == summary["stages"]["single_stage"]["max_macs"]  # trained under it
        assert ckpt["config"]["macs_bins"] == 3
        assert len(ckpt["paths"][0]) > 4  # the joint space, not stage 1


def test_a_run_folder_of_an_older_version_is_refused_with_the_fix(cli, one_line_error,
                                                                 searched, tmp_path):
    """A folder an older glitlib wrote cannot be resumed or overwritten: one line, the fix.

    Two ways a folder is older: its marker has another run-folder format, or its
    config.json another settings version (its digest recorded, as that glitlib would).
    """
    import hashlib
    import shutil

    old = tmp_path / "old"
    shutil.copytree(searched, old)
    marker = read_json(old / ".glitlib-run.json")
    (old / ".glitlib-run.json").write_text(json.dumps(marker | {"version": 1}))
    r = cli("search", "--out", old, "--resume", *TINY)
    one_line_error(r, "another glitlib version", "format 1", "choose another --out")

    (old / ".glitlib-run.json").write_text(json.dumps(marker))
    config = read_json(old / "config.json") | {"version": 2}
    raw = json.dumps(config).encode()
    (old / "config.json").write_bytes(raw)
    marker["files"]["config.json"]["sha256"] = hashlib.sha256(raw).hexdigest()
    (old / ".glitlib-run.json").write_text(json.dumps(marker))
    r = cli("search", "--out", old, "--resume", *TINY)
    one_line_error(r, "another glitlib", "config version 2", "cannot be resumed",
                   "--overwrite")
    r = cli("search", "--config", old / "config.json", "--out", tmp_path / "again")
    one_line_error(r, "version 2", "rerun the search with this version")
