"""A run folder from elsewhere is harmless, damaged files are caught, every fault is one line.

Each test makes a folder, file or setting a careless or hostile user could hand to glit
and checks that nothing outside the run folder is touched, that damage is refused before
it is used, and that the refusal is one line naming the problem and the fix.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import glitlib as gl
from glitlib.errors import CheckpointError, ConfigError, DataError, WeightsError
from glitlib.runtime.context import Runtime
from glitlib.runtime.files import MARKER, read_json

QUIET = Runtime(progress=False)
T = ["--supernet-steps", "6", "--retrain-steps", "4", "--population", "4", "--generations",
     "2", "--retrain-candidates", "1", "--rank-sample", "0", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_config) -> Path:
    """A finished tiny search, to copy and tamper with."""
    out = tmp_path_factory.mktemp("run") / "r"
    gl.run_search(replace(tiny_config(), retrain_candidates=1, rank_sample=0), out, rt=QUIET)
    return out


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    (to / ".glitlib.lock").unlink()
    return to


# -- 1. a marker that lists files outside the folder ----------------------------------
def test_a_tampered_marker_deletes_nothing_outside_the_folder(cli, one_line_error, run,
                                                              tmp_path):
    victim = tmp_path / "victim" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("mine")
    absolute = tmp_path / "absolute.txt"
    absolute.write_text("mine too")
    t = _copy(run, tmp_path / "t")
    marker = json.loads((t / MARKER).read_text())
    for bad in ("../victim/precious.txt", str(absolute)):
        marker["files"][bad] = {"sha256": "0" * 64}
        (t / MARKER).write_text(json.dumps(marker))
        r = cli("search", *T, "--out", t, "--overwrite")
        one_line_error(r, "tampered", "choose another --out")
        del marker["files"][bad]
    assert victim.read_text() == "mine" and absolute.read_text() == "mine too"
    assert (t / "summary.json").exists()  # and nothing inside was deleted either


def test_a_link_out_of_the_folder_is_never_followed_to_delete(cli, one_line_error, run,
                                                              tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "result.json").write_text("a user's file")
    t = _copy(run, tmp_path / "t")
    shutil.rmtree(t / "stage1")
    (t / "stage1").symlink_to(outside)  # stage1/result.json, listed, now lies outside
    r = cli("search", *T, "--out", t, "--overwrite")
    one_line_error(r, "link out of the folder")
    assert (outside / "result.json").read_text() == "a user's file"


# -- 2. a full disk -------------------------------------------------------------------
@pytest.fixture
def tiny_disk(tmp_path):
    """A real 300 KB tmpfs (the machine runs as root; skipped where mounting is refused)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_the_run_resumes_elsewhere(glit, one_line_error,
                                                               tiny_disk):
    r = glit("search", *T, "--out", str(tiny_disk / "run"))
    one_line_error(r, "no space left on the device", "--resume")


# -- 3. damaged files are caught --------------------------------------------------------
def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    raw[len(raw) // 2 + 1] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_flipped_checkpoint_in_a_run_folder_is_refused(cli, one_line_error, run, tmp_path):
    t = _copy(run, tmp_path / "t")
    _flip(t / "stage1" / "supernet.pt")
    r = cli("evolve", "--supernet", t / "stage1" / "supernet.pt", "--out", tmp_path / "e")
    one_line_error(r, "supernet.pt", "damaged", "SHA-256")
    assert not (tmp_path / "e").exists()


def test_a_hand_edited_result_is_refused_on_resume(cli, one_line_error, run, tmp_path):
    t = _copy(run, tmp_path / "t")
    (t / "summary.json").unlink()
    result = read_json(t / "stage1" / "result.json")
    result["best"]["val_accuracy"] = 1.0
    (t / "stage1" / "result.json").write_text(json.dumps(result))
    r = cli("search", "--config", t / "config.json", "--out", t, "--resume", "--quiet")
    one_line_error(r, "result.json", "damaged")


def test_a_copy_without_a_record_still_loads_with_its_own_checks(run, tmp_path):
    from glitlib.nas.training import load_supernet

    copy = tmp_path / "supernet.pt"
    shutil.copy(run / "stage1" / "supernet.pt", copy)
    net, state = load_supernet(copy)
    assert state["kind"] == "supernet"
    torch.save({"space": [1], "kind": "supernet"}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="not a glitlib checkpoint.*'space' is a list"):
        load_supernet(tmp_path / "odd.pt")
    torch.save({"space": {}, "kind": "supernet", "step": 1}, tmp_path / "nomodel.pt")
    with pytest.raises(CheckpointError, match="no 'model'"):
        load_supernet(tmp_path / "nomodel.pt")


# -- refusals leave the folder as it was ---------------------------------------------------
@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_a_refused_folder_gets_no_lock_file(cli, one_line_error, tmp_path, flag):
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(home)
    for out in (home, link):
        one_line_error(cli("search", *T, "--out", out, flag), "glit did not write it")
        assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]


def test_a_folder_glit_did_not_write_is_never_told_to_resume(cli, one_line_error, tmp_path):
    """Both --resume and --overwrite are refused there, so neither is the advice."""
    (tmp_path / "notes.txt").write_text("mine")
    for command in (["search", *T], ["supernet", "--steps", "2", "--quiet"]):
        r = cli(*command, "--out", tmp_path)
        one_line_error(r, "glit did not write it", "choose another --out")
        assert "--resume" not in r.stderr and "--overwrite" not in r.stderr


def test_another_commands_folder_is_named_as_such_on_resume(cli, one_line_error, run,
                                                            tmp_path):
    t = _copy(run, tmp_path / "t")
    r = cli("evolve", "--supernet", run / "stage1" / "supernet.pt", "--population", "4",
            "--generations", "1", "--quiet", "--resume", "--out", t)
    one_line_error(r, "holds a run of glit search, not of glit evolve", "choose another --out")
    assert "another glitlib" not in r.stderr


def _re_sign(folder: Path, rel: str) -> None:
    """Record ``rel``'s present digest in the marker, as a consistent hostile edit would."""
    import hashlib

    marker = json.loads((folder / MARKER).read_text())
    marker["files"][rel] = {"sha256": hashlib.sha256((folder / rel).read_bytes()).hexdigest()}
    (folder / MARKER).write_text(json.dumps(marker))


def _last_stage(run: Path) -> str:
    return next(s for s in ("stage2", "single_stage", "stage1") if (run / s).exists())


def test_the_final_checkpoint_of_another_run_is_refused_before_any_write(
        cli, one_line_error, run, tmp_path):
    t = _copy(run, tmp_path / "t")
    stage = _last_stage(t)
    for name in ("summary.json", f"{stage}/result.json", f"{stage}/timings.json"):
        (t / name).unlink()
    ckpt = f"{stage}/retrain/candidate0.pt"
    state = torch.load(t / ckpt, weights_only=True)
    state["run"] = "0" * len(state["run"])
    torch.save(state, t / ckpt)
    _re_sign(t, ckpt)
    r = cli("search", "--config", t / "config.json", "--out", t, "--resume", "--quiet")
    one_line_error(r, "candidate0.pt", "another run")
    assert not (t / stage / "result.json").exists() and not (t / "summary.json").exists()


def test_following_the_advice_for_a_damaged_final_checkpoint_ends_the_run(
        cli, one_line_error, run, tmp_path):
    """Damaged after its stage was recorded: refused; deleted as advised, it is trained
    again (the same weights) and the run ends as it first did."""
    t = _copy(run, tmp_path / "t")
    (t / "summary.json").unlink()
    ckpt = f"{_last_stage(t)}/retrain/candidate0.pt"
    (t / ckpt).write_bytes((t / ckpt).read_bytes()[:1000])
    _re_sign(t, ckpt)
    args = ("search", "--config", t / "config.json", "--out", t, "--resume", "--quiet")
    r = cli(*args)
    one_line_error(r, "candidate0.pt", "delete that file and rerun with --resume")
    (t / ckpt).unlink()
    assert cli(*args).returncode == 0
    assert read_json(t / "summary.json") == read_json(run / "summary.json")


def test_stage_timings_of_another_shape_are_named_not_a_traceback(cli, run, tmp_path):
    t = _copy(run, tmp_path / "t")
    (t / "summary.json").unlink()
    for bad in ([], {"supernet_s": [1]}, {"supernet_s": "1"}):
        (t / "stage1" / "timings.json").write_text(json.dumps(bad))
        _re_sign(t, "stage1/timings.json")
        r = cli("search", "--config", t / "config.json", "--out", t, "--resume", "--quiet")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert "timings.json is damaged: timings not shown" in r.stdout


def test_a_bad_runtime_is_refused_before_anything_is_written(tmp_path, tiny_config):
    with pytest.raises(ConfigError, match="precision 'fp8'"):
        gl.run_search(tiny_config(), tmp_path / "a", rt=Runtime(precision="fp8"))
    with pytest.raises(ConfigError, match="not a torch.compile backend"):
        gl.run_search(tiny_config(), tmp_path / "b", rt=Runtime(compile="nosuch"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_resume_on_a_new_folder_says_it_starts_the_run(run, tmp_path):
    r = subprocess.run([sys.executable, "-m", "glitlib", "supernet", "--steps", "2",
                        "--batch-size", "16", "--quiet", "--resume", "--out",
                        str(tmp_path / "new")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stderr == ""
    assert f"no run in {tmp_path / 'new'} yet: starting it" in r.stdout


# -- inputs that were tracebacks ------------------------------------------------------------
@pytest.mark.parametrize("text, words", [("[" * 100_000, "nested too deep"),
                                         ('{"blocks": ' + "9" * 5000 + "}", "malformed"),
                                         ('{"blocks": [], "colour": 1}', "unknown key")])
def test_hostile_json_is_one_line(cli, one_line_error, tmp_path, text, words):
    f = tmp_path / "arch.json"
    f.write_text(text)
    for args in (["info", "--arch", f], ["search", "--config", f, "--out", tmp_path / "o"]):
        one_line_error(cli(*args), str(f))
    one_line_error(cli("info", "--arch", f), words)


def test_a_huge_json_file_is_refused_by_its_size(cli, one_line_error, tmp_path):
    f = tmp_path / "arch.json"
    with open(f, "wb") as out:
        out.truncate(200 * 2**20)  # sparse: 200 MB on paper, nothing on disk
    one_line_error(cli("info", "--arch", f), "200 MB", "64 MB")


def test_a_decompression_bomb_in_a_folder_is_one_line(cli, one_line_error, tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8)).save(tmp_path / "d" / c / f"{i}.png")
    Image.new("1", (20000, 20000)).save(tmp_path / "d" / "a" / "bomb.png")
    r = cli("search", "--dataset", "folder", "--data", tmp_path / "d", "--out", tmp_path / "o")
    one_line_error(r, "too large to decode")


def test_an_image_folder_reads_under_a_small_limit_of_open_files(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(150):
            Image.new("L", (8, 8), i).save(tmp_path / c / f"{i}.png")
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96));"
            "from glitlib.data.memory import load_image_folder;"
            f"s = load_image_folder({str(tmp_path)!r}); print(len(s.train) + len(s.val) + "
            "len(s.test))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "300"


def test_timm_pretrained_from_a_missing_or_random_file_is_one_line(tmp_path):
    import timm

    random_file = tmp_path / "random.pth"
    random_file.write_bytes(os.urandom(1000))
    for f, words in ((tmp_path / "missing.pth", "does not exist"),
                     (random_file, "cannot read checkpoint")):
        with pytest.raises(WeightsError, match=words):
            timm.create_model("glit_tiny_patch16_224", pretrained=True,
                              pretrained_cfg_overlay={"file": str(f)})


# -- settings that make no sense --------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["search", "--supernet-min-lr", "1.5"], "min_lr=1.5 is above the peak lr"),
    (["search", "--threads", "1e12"], "--threads"),
    (["search", "--population", "1e30"], "in [1, 1e+12]"),
    (["ablate", "--seeds", "0,0,0"], "names 0 more than once"),
    (["ablate", "--seeds", "0-99999999"], "names 100,000,000 numbers"),
    (["ablate", "--seeds", "0-"], "--seeds '0-' is not a list"),
    (["ablate", "--convergence", "--train-seeds", "0-"], "--train-seeds '0-' is not a list"),
    (["enumerate", "--only", ""], "--only '' is not a list"),
    (["search", "--max-macs", "10"], "the smallest path of this space has"),
])
def test_settings_that_make_no_sense_are_refused(cli, one_line_error, tmp_path, args, words):
    one_line_error(cli(*args, "--out", tmp_path / "o"), words)
    assert not (tmp_path / "o").exists()


def test_models_refuse_what_makes_no_sense():
    with pytest.raises(ValueError, match="num_classes=-1"):
        gl.build("glit-tiny", num_classes=-1)
    assert gl.build("glit-tiny", num_classes=0).num_classes == 0  # timm: no classifier
    sd = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
          for k, v in gl.official_state_dict(gl.build("glit-tiny")).items()}
    with pytest.raises(WeightsError, match="NaN or infinite"):
        gl.load_official(sd)


# -- damaged or tampered results used silently --------------------------------------------------
def test_a_tampered_search_json_from_elsewhere_is_refused(cli, one_line_error, run, tmp_path):
    state = read_json(run / "stage1" / "search.json")
    state["candidates"][0]["macs"] += 1000
    f = tmp_path / "search.json"
    f.write_text(json.dumps(state))
    one_line_error(cli("retrain", "--search", f, "--out", tmp_path / "o"), "candidate 0",
                   "edited or belongs to another space")
    state = read_json(run / "stage1" / "search.json")
    state["space"]["embed_dim"] = 60  # another space: other costs for the same choices
    f.write_text(json.dumps(state))
    one_line_error(cli("retrain", "--search", f, "--retrain-candidates", "1", "--out",
                       tmp_path / "o"), "candidate 0", "another space")


def test_a_config_json_missing_a_section_is_refused(cli, one_line_error, run, tmp_path):
    cfg = read_json(run / "config.json")
    del cfg["supernet"]
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg))
    one_line_error(cli("search", "--config", f, "--out", tmp_path / "o"),
                   "missing setting 'supernet'")


# -- messages that mislead ----------------------------------------------------------------
def test_messages_name_the_real_problem(cli, one_line_error, run, tmp_path):
    import pickle

    import numpy as np

    from glitlib.data.memory import read_cifar_batch

    f = tmp_path / "data_batch_1"
    f.write_bytes(pickle.dumps({b"data": np.zeros((20, 3072), np.uint8),
                                b"labels": [11] * 20}))
    with pytest.raises(DataError, match="label 11, outside CIFAR-10's classes"):
        read_cifar_batch(f)
    one_line_error(cli("evolve", "--supernet", tmp_path, "--out", tmp_path / "e"),
                   "is a folder; give a file")
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"a": object()}))
    r = cli("evolve", "--supernet", plain, "--out", tmp_path / "e2")
    one_line_error(r, "cannot read checkpoint", "point to a file glit wrote")
    assert "--resume" not in r.stderr  # an input of the command, not a step to redo
    assert "..." in r.stderr or len(r.stderr) < 300  # torch's text never cut mid-word
