"""The search commands end to end: outputs, kill -9 + --resume, refusals, one-line errors."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from glitlib.io import read_json

TINY = ["--supernet-steps", "30", "--retrain-steps", "20", "--population", "8",
        "--generations", "3", "--top-k", "2", "--bn-batches", "1", "--quiet"]


def glit(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "glitlib", *args], capture_output=True,
                       text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
        assert r.stderr == "", r.stderr
    return r


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search") / "run"
    r = glit("search", "--out", str(out), *TINY)
    assert "found:" in r.stdout and "test" in r.stdout
    return out


def test_search_writes_every_output(searched):
    for name in ("arch.json", "summary.json", "config.json", "best_so_far.png",
                 "distribution.png", "stage1_candidates.png", "stage2_candidates.png",
                 "stage1/supernet.pt", "stage2/search.json", "stage2/retrain/candidate1.pt"):
        assert (searched / name).is_file(), name
    for stage in ("stage1", "stage2"):
        recs = read_json(searched / stage / "search.json")["records"]
        assert len(recs) == 24
        assert {"generation", "arch", "macs", "params", "accuracy"} <= set(recs[0])
    summary = read_json(searched / "summary.json")
    s1 = summary["stages"]["stage1"]
    assert summary["distribution"] == s1["distribution"]  # stage 2 kept stage 1's heads
    assert all(r["macs"] <= s1["max_macs"] for r in
               read_json(searched / "stage2" / "search.json")["records"])


def test_info_reads_the_found_architecture(searched):
    r = glit("info", "--arch", str(searched / "arch.json"), "--json")
    info = json.loads(r.stdout)
    summary = read_json(searched / "summary.json")
    assert info["macs"] == summary["macs"] and info["params"] == summary["params"]
    assert info["distribution"] == summary["distribution"]


def test_eval_command(searched):
    ckpt = searched / "stage2" / "retrain" / "candidate0.pt"
    r = glit("eval", "--checkpoint", str(ckpt), "--split", "val")
    row = read_json(searched / "stage2" / "retrain" / "candidate0.json")
    assert f"{100 * row['val_accuracy']:.2f}%" in r.stdout


def test_refuses_existing_output_directory(searched):
    before = (searched / "summary.json").read_bytes()
    r = glit("search", "--out", str(searched), *TINY, check=False)
    one_line_error(r, "already exists", "--resume", "--overwrite")
    assert (searched / "summary.json").read_bytes() == before


def test_resume_of_finished_search_repeats_its_result(searched):
    before = read_json(searched / "summary.json")
    r = glit("search", "--out", str(searched), "--resume", *TINY)
    assert read_json(searched / "summary.json") == before
    assert "found:" in r.stdout


def test_resume_with_other_settings_is_refused(searched):
    args = [a if a != "30" else "31" for a in TINY]
    r = glit("search", "--out", str(searched), "--resume", *args, check=False)
    one_line_error(r, "other settings", "supernet")


def test_impossible_macs_limit(tmp_path):
    r = glit("search", "--out", str(tmp_path / "o"), "--max-macs", "1000", *TINY,
             check=False)
    one_line_error(r, "no architecture meets", "MACs")
    assert not (tmp_path / "o").exists()


def test_corrupted_and_truncated_checkpoints(searched, tmp_path):
    good = (searched / "stage1" / "supernet.pt").read_bytes()
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint at all")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good[: len(good) // 2])
    for f in (bad, cut):
        r = glit("evolve", "--supernet", str(f), "--out", str(tmp_path / f.stem), check=False)
        one_line_error(r, "corrupted", str(f))
    assert bad.read_bytes() == b"not a checkpoint at all"  # nothing deleted


def test_checkpoint_from_another_space(searched, tmp_path):
    r = glit("evolve", "--supernet", str(searched / "stage1" / "supernet.pt"),
             "--preset", "tiny", "--out", str(tmp_path / "e"), check=False)
    one_line_error(r, "search space", "digits", "tiny")
    ckpt = searched / "stage2" / "retrain" / "candidate0.pt"
    r = glit("evolve", "--supernet", str(ckpt), "--out", str(tmp_path / "f"), check=False)
    one_line_error(r, "holds a model, expected a supernet")


def test_bad_distribution_and_arch(tmp_path):
    r = glit("supernet", "--stage", "2", "--distribution", "3,0,9,1", "--out",
             str(tmp_path / "a"), check=False)
    one_line_error(r, "block 2", "g=9")
    bad = tmp_path / "arch.json"
    bad.write_text("{ not json")
    r = glit("retrain", "--arch", str(bad), "--out", str(tmp_path / "b"), check=False)
    one_line_error(r, "malformed")


# -- kill -9 and resume ------------------------------------------------------------
def _kill_when(proc: subprocess.Popen, ready, timeout: float = 240) -> None:
    end = time.time() + timeout
    while not ready():
        assert proc.poll() is None, "finished before it could be killed; enlarge the run"
        assert time.time() < end
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


def test_sigkill_during_supernet_training_then_resume(tmp_path):
    args = ["supernet", "--steps", "200", "--batch-size", "32", "--ckpt-every", "10",
            "--seed", "1", "--quiet"]
    glit(*args, "--out", str(tmp_path / "ref"))
    out = tmp_path / "killed"
    ckpt = out / "supernet.pt"
    _kill_when(_popen(*args, "--out", str(out)), ckpt.exists)
    step = torch.load(ckpt, weights_only=True)["step"]
    assert 0 < step < 200
    glit(*args, "--out", str(out), "--resume")
    _equal_state(tmp_path / "ref" / "supernet.pt", ckpt)


def test_sigkill_during_evolution_then_resume(tmp_path):
    glit("supernet", "--steps", "10", "--batch-size", "32", "--out", str(tmp_path / "s"),
         "--quiet")
    args = ["evolve", "--supernet", str(tmp_path / "s" / "supernet.pt"), "--population",
            "12", "--generations", "8", "--bn-batches", "1", "--bn-batch-size", "64",
            "--quiet"]
    glit(*args, "--out", str(tmp_path / "ref"))
    out = tmp_path / "killed"
    state = out / "search.json"
    _kill_when(_popen(*args, "--out", str(out)), state.exists)
    done = read_json(state)["next_generation"]
    assert 0 < done < 8
    glit(*args, "--out", str(out), "--resume")
    ref = read_json(tmp_path / "ref" / "search.json")
    assert read_json(state) == ref
    assert len(ref["records"]) == 12 * 8


def _without_times(obj):
    if isinstance(obj, dict):
        return {k: _without_times(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_without_times(v) for v in obj]
    return obj


def test_sigkill_during_whole_search_then_resume(searched, tmp_path):
    out = tmp_path / "killed"
    _kill_when(_popen("search", "--out", str(out), *TINY),
               (out / "stage2" / "search.json").exists)
    assert not (out / "summary.json").exists()
    glit("search", "--out", str(out), "--resume", *TINY)
    assert _without_times(read_json(out / "summary.json")) == _without_times(
        read_json(searched / "summary.json"))
    for stage in ("stage1", "stage2"):
        assert read_json(out / stage / "search.json") == read_json(
            searched / stage / "search.json")


def test_baselines_on_the_same_budget(tmp_path):
    """Random search and single-stage SPOS over the joint space, constrained supernet."""
    for strategy in ("random", "spos"):
        out = tmp_path / strategy
        glit("search", "--out", str(out), "--strategy", strategy, "--constrain-supernet",
             "--supernet-macs-bins", "3", *TINY)
        summary = read_json(out / "summary.json")
        assert list(summary["stages"]) == [strategy]
        state = read_json(out / strategy / "search.json")
        assert len(state["records"]) == 24
        assert state["config"]["mutations"] == (0 if strategy == "random" else 4)
        ckpt = torch.load(out / strategy / "supernet.pt", weights_only=True)
        assert ckpt["config"]["max_macs"] == summary["stages"][strategy]["max_macs"]
        assert ckpt["config"]["macs_bins"] == 3
        assert len(ckpt["paths"][0]) > 4  # the joint space, not stage 1


def test_overwrite_deletes_only_glit_output(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    r = glit("supernet", "--steps", "2", "--out", str(keep), "--overwrite", check=False)
    one_line_error(r, "refuses to delete", "config.json")
    assert (keep / "notes.txt").read_text() == "precious"
