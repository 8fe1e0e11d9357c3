"""Nothing lost, nothing executed, every bad input one line (the output folder, data, flags)."""

import errno
import json
import os
import pickle
import stat
from pathlib import Path

import pytest

import glitlib as gl
from glitlib.data.memory import load_cifar10
from glitlib.errors import CheckpointError, ConfigError, DataError, OutputError
from glitlib.runtime import files as gio
from glitlib.runtime.context import Runtime
from glitlib.runtime.rundir import LOCK, MARKER, RunDir

QUIET = Runtime(progress=False)


@pytest.fixture(scope="module")
def supernet_dir(glit, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("s") / "s"
    r = glit("supernet", "--steps", "3", "--batch-size", "16", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    return out


# -- the output folder ------------------------------------------------------------------
def test_overwrite_never_deletes_a_users_project(cli, one_line_error, tmp_path):
    proj = tmp_path / "project"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "main.py").write_text("print('mine')")
    (proj / "NOTES.md").write_text("precious")
    (proj / "config.json").write_text("{}")  # looks like a run, is not one
    r = cli("supernet", "--steps", "2", "--out", str(proj), "--overwrite")
    one_line_error(r, "glit did not write it", "choose another --out")
    assert (proj / "src" / "main.py").read_text() == "print('mine')"
    assert (proj / "NOTES.md").read_text() == "precious"


def test_overwrite_refuses_a_run_folder_holding_foreign_files(cli, one_line_error, supernet_dir,
                                                              tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(supernet_dir, run)
    (run / "NOTES.md").write_text("precious")
    r = cli("supernet", "--steps", "2", "--out", str(run), "--overwrite")
    one_line_error(r, "NOTES.md", "did not write")
    assert (run / "NOTES.md").read_text() == "precious" and (run / "supernet.pt").exists()


def test_overwrite_never_deletes_an_input_of_the_same_command(cli, one_line_error, supernet_dir):
    before = (supernet_dir / "supernet.pt").read_bytes()
    r = cli("evolve", "--supernet", str(supernet_dir / "supernet.pt"), "--out",
             str(supernet_dir), "--overwrite", "--population", "2", "--generations", "1")
    one_line_error(r, "input of this command")
    assert (supernet_dir / "supernet.pt").read_bytes() == before


def test_overwrite_deletes_exactly_what_glit_wrote(supernet_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(supernet_dir, run)
    listed = set(json.loads((run / MARKER).read_text())["files"])
    assert listed == {"config.json", "supernet.pt", "supernet_metrics.jsonl"}
    with RunDir(run, overwrite=True) as rd:
        assert rd.files == {}
    assert sorted(p.name for p in run.iterdir()) == sorted([MARKER, LOCK])


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(cli, one_line_error, tmp_path):
    out = tmp_path / "busy"
    with RunDir(out):
        r = cli("supernet", "--steps", "2", "--out", str(out), "--overwrite")
        one_line_error(r, "in use by another glit run", f"pid {os.getpid()}")
        with pytest.raises(OutputError, match="in use"):
            RunDir(out, resume=True)
    RunDir(out, resume=True).close()  # released with the first writer


def test_resume_refuses_a_stage_of_another_run(tiny_config, tmp_path):
    from dataclasses import replace

    from glitlib.nas.pipeline import run_search

    cfg = replace(tiny_config(), stages=1, retrain_candidates=1)
    run_search(cfg, tmp_path / "r", rt=QUIET)
    result = tmp_path / "r" / "single_stage" / "result.json"
    data = json.loads(result.read_text())
    data["run"] = "0" * 16  # as if a concurrent run with other settings had written it
    with RunDir(tmp_path / "r", resume=True):  # written by glit, so its digest is recorded
        gio.write_json(result, data)
    (tmp_path / "r" / "summary.json").unlink()
    with pytest.raises(CheckpointError, match="belongs to another run"):
        run_search(cfg, tmp_path / "r", resume=True, rt=QUIET)


def test_every_file_of_a_run_is_written_atomically(tiny_config, tmp_path, monkeypatch):
    """Each file in a finished run folder arrived by os.replace from a temporary."""
    from dataclasses import replace

    from glitlib.nas.pipeline import run_search

    moved, real = set(), os.replace

    def spy(src, dst):
        assert Path(src).name.startswith(gio.TMP_PREFIX)
        moved.add(Path(dst).resolve())
        real(src, dst)

    monkeypatch.setattr(gio.os, "replace", spy)
    out = tmp_path / "r"
    run_search(replace(tiny_config(), stages=1, retrain_candidates=1), out, rt=QUIET)
    logs = {p.resolve() for p in out.rglob("*") if p.name == "glit.log"
            or p.name.endswith("_metrics.jsonl")}  # appended logs, listed as such
    files = {p.resolve() for p in out.rglob("*") if p.is_file() and p.name != LOCK} - logs
    assert {p.name for p in files} >= {"arch.json", "distribution.png", "summary.json"}
    assert files <= moved, sorted(str(p) for p in files - moved)
    listed = json.loads((out / MARKER).read_text())["files"]
    assert all(listed[p.relative_to(out.resolve()).as_posix()] == {"append": True}
               for p in logs) and len(logs) >= 3


def test_no_module_writes_files_around_the_atomic_writer():
    import ast

    src = Path(gl.__file__).parent
    for path in src.glob("*.py"):
        if path.name == "io.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            if name in ("write_text", "write_bytes", "savefig", "save", "dump"):
                first = ast.unparse(node.args[0]) if node.args else ""
                assert "buf" in first, f"{path.name}:{node.lineno} writes with .{name}()"


def test_a_kill_mid_write_keeps_the_old_file_and_the_temporary_is_cleaned(tmp_path,
                                                                          monkeypatch):
    target = tmp_path / "run" / "arch.json"
    with RunDir(tmp_path / "run"):
        gio.write_json(target, {"v": 1})

        def die(*_):
            raise KeyboardInterrupt  # stands in for SIGKILL between write and rename

        monkeypatch.setattr(gio.os, "replace", die)
        with pytest.raises(KeyboardInterrupt):
            gio.write_json(target, {"v": 2})
        monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}
    # A real kill leaves the temporary behind: the next open of the folder removes it.
    stale = target.parent / f"{gio.TMP_PREFIX}arch.json.x1y2"
    stale.write_text("half")
    theirs = target.parent / "mine.tmp"
    theirs.write_text("not ours")
    with pytest.raises(OutputError, match="mine.tmp"):
        RunDir(tmp_path / "run", overwrite=True)
    RunDir(tmp_path / "run", resume=True).close()
    assert not stale.exists() and theirs.read_text() == "not ours"


def test_results_get_the_users_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        import importlib

        importlib.reload(gio)
        gio.write_json(tmp_path / "a.json", {})
    finally:
        os.umask(old)
        importlib.reload(gio)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


def test_os_faults_are_one_line_naming_path_and_problem(tmp_path, monkeypatch):
    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gio.os, "fsync", full)
    with pytest.raises(OutputError, match="no space left.*--resume"):
        gio.write_json(tmp_path / "x.json", {})
    assert not list(tmp_path.iterdir())  # no temporary left behind

    def denied(*_a, **_k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.undo()
    gio.write_json(tmp_path / "x.json", {})
    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(OutputError, match="permission denied"):
        gio.load_checkpoint(tmp_path / "x.json")


def test_out_under_a_regular_file_and_read_only_out(cli, one_line_error, tmp_path):
    (tmp_path / "file").write_text("x")
    r = cli("supernet", "--steps", "2", "--out", str(tmp_path / "file" / "run"))
    one_line_error(r, "is a file")


def test_read_only_out_is_one_line(tmp_path, monkeypatch, capsys):
    from glitlib.cli import main

    def ro(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", ro)
    assert main(["supernet", "--steps", "2", "--out", str(tmp_path / "ro"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "read-only" in err[0] and str(tmp_path / "ro") in err[0]


def test_symlinked_out_with_overwrite(glit, supernet_dir, tmp_path):
    import shutil

    real = tmp_path / "real"
    shutil.copytree(supernet_dir, real)
    link = tmp_path / "link"
    link.symlink_to(real)
    r = glit("supernet", "--steps", "2", "--batch-size", "16", "--out", str(link),
             "--overwrite", "--quiet")
    assert r.returncode == 0, r.stderr
    assert (real / "supernet.pt").exists() and link.is_symlink()


# -- code execution through data ----------------------------------------------------------
class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_batch_cannot_run_code(cli, one_line_error, tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    marker = tmp_path / "pwned"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (base / name).write_bytes(pickle.dumps({b"data": _Payload(marker), b"labels": [0]}))
    with pytest.raises(DataError, match="malformed.*refused to load posix.system"):
        load_cifar10(tmp_path)
    assert not marker.exists()
    r = cli("search", "--dataset", "cifar10", "--data", str(tmp_path), "--out",
             str(tmp_path / "o"))
    one_line_error(r, "malformed")
    assert not marker.exists()


# -- bad files ------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [("num_heads", 0), ("patch_size", 0), ("depth", "4"),
                                          ("depth", 4.0), ("depth", [4]), ("d_k", [1e400]),
                                          ("k", [4])])
def test_bad_space_json_is_one_line(cli, one_line_error, tmp_path, field, value):
    doc = gl.SPACES["digits"].to_dict()
    doc[field] = value
    path = tmp_path / "space.json"
    path.write_text(json.dumps(doc).replace("Infinity", "1e400"))
    with pytest.raises(gl.ArchitectureError, match=field):
        gl.load_space(path)
    r = cli("info", "--preset", str(path))
    one_line_error(r, str(path), field)


@pytest.mark.parametrize("make", [
    lambda: gl.SearchSpace("s", 8, 2, 1, 10, 48, 4, 0, (8,), (1,), (1,), (3,)),
    lambda: gl.SearchSpace("s", 8, 0, 1, 10, 48, 4, 3, (8,), (1,), (1,), (3,)),
    lambda: gl.SearchSpace("s", 8, 2, 1, 10, 48, 4.5, 3, (8,), (1,), (1,), (3,)),
    lambda: gl.SearchSpace("s", 8, 2, 1, 10, 48, 4, 3, (float("inf"),), (1,), (1,), (3,)),
    lambda: gl.Arch([1, 2]).validate(gl.SPACES["digits"]),
    lambda: gl.BlockArch(1, 16, 2.0, 1, 3),
])
def test_python_api_raises_architecture_error(make):
    with pytest.raises(gl.ArchitectureError):
        make()


def test_bad_arch_files_name_the_file_and_the_fix(glit, one_line_error, tmp_path, supernet_dir):
    space, arch = gl.get_arch("deit-tiny")
    doc = arch.to_dict(space)
    doc["blocks"][0]["d_z"] = 2.0
    f = tmp_path / "float.json"
    f.write_text(json.dumps(doc))
    one_line_error(glit("info", "--arch", str(f)), str(f), "d_z must be an integer")
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "\xff"}')
    one_line_error(glit("info", "--arch", str(latin)), str(latin), "not UTF-8")
    one_line_error(glit("info", "--arch", str(supernet_dir / "supernet.pt")),
                   "supernet.pt", "binary file", "arch.json")


@pytest.mark.parametrize("damage", [lambda c: c.pop("supernet_accuracy"),
                                    lambda c: c.update(supernet_accuracy="high"),
                                    lambda c: c.update(macs=None)])
def test_damaged_search_json_names_the_field(cli, one_line_error, tmp_path, damage):
    cand = {"generation": 0, "arch": [b.to_dict() for b in
                                      gl.stage1(gl.SPACES["digits"]).choices[0][:1] * 4],
            "macs": 1, "params": 1, "supernet_accuracy": 0.5}
    damage(cand)
    f = tmp_path / "search.json"
    f.write_text(json.dumps({"space": gl.SPACES["digits"].to_dict(), "candidates": [cand]}))
    r = cli("retrain", "--search", str(f), "--out", str(tmp_path / "o"))
    one_line_error(r, str(f), "candidate 0", "field")


def test_image_folder_too_small_names_the_fix(cli, one_line_error, tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8)).save(tmp_path / c / f"{i}.png")
    r = cli("search", "--dataset", "folder", "--data", str(tmp_path), "--preset", "cifar",
             "--out", str(tmp_path / "o"))
    one_line_error(r, "has 2 images", "at least 5")


def test_a_dataset_that_does_not_fit_names_the_presets_that_do(cli, one_line_error, tmp_path):
    from PIL import Image

    for size, name in ((32, "cifar_like"), (20, "odd")):
        for c in ("a", "b"):
            (tmp_path / name / c).mkdir(parents=True)
            for i in range(6):
                Image.new("RGB", (size, size)).save(tmp_path / name / c / f"{i}.png")
    # Without --preset (digits): RGB photos are refused, not shrunk to 8x8 grey.
    r = cli("search", "--dataset", "folder", "--data", str(tmp_path / "cifar_like"),
             "--out", str(tmp_path / "o"))
    one_line_error(r, "(3, 32, 32)", "(1, 8, 8)", "use --preset cifar")
    r = cli("search", "--dataset", "folder", "--data", str(tmp_path / "odd"),
             "--out", str(tmp_path / "o"))
    one_line_error(r, "(3, 20, 20)", "space JSON")
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match="needs a data folder"):
        gl.SearchConfig(dataset="folder").resolve()
