"""Every numeric flag of every command: out-of-range values are one line, exit 2, before work.

The property: for each numeric flag, 0, -1, a huge value, inf and nan are either in
the flag's documented range (and then the whole configuration validates) or refused
by the parser with one line naming the flag and the range -- never a traceback,
never a silent run with nonsense.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from glitlib.cli import parser as _parser
from glitlib.cli.flags import NUMERIC_FLAGS

VALUES = ["0", "-1", "1e30", "inf", "nan"]
REQUIRED = {"search": ["--out", "o"], "supernet": ["--out", "o"],
            "evolve": ["--out", "o", "--supernet", "s.pt"],
            "retrain": ["--out", "o", "--arch", "a.json"], "eval": ["--checkpoint", "c.pt"],
            "ablate": ["--out", "o"], "enumerate": ["--out", "o"]}


_parser()  # building the parser fills the public table of numeric flags
FLAGS = [(command, flag, check) for (command, flag), check in sorted(NUMERIC_FLAGS.items())]


def test_every_recipe_flag_is_there_named_as_timm_names_it():
    flags = {f for cmd, f, _ in FLAGS if cmd == "search"}
    for name in ("weight-decay", "smoothing", "warmup-steps", "min-lr", "clip-grad", "mixup",
                 "cutmix", "model-ema-decay", "drop-path", "lr", "batch-size"):
        assert f"--retrain-{name}" in flags, name
    assert "--threads" in {f for _, f, _ in FLAGS}
    assert len(FLAGS) > 60


@pytest.mark.parametrize("command, flag, check", FLAGS, ids=[f"{c}{f}" for c, f, _ in FLAGS])
def test_numeric_flag_edges(command, flag, check, capsys):
    for text in VALUES:
        argv = [command, *REQUIRED[command], flag, text]
        value = float(text)
        valid = check.ok(int(value) if check.kind is int and value == value
                         and abs(value) != float("inf") and value.is_integer() else value)
        if valid:
            args = _parser().parse_args(argv)  # accepted: the value is in range
            if command == "search":
                from glitlib.cli.search import search_config

                search_config(args).resolve()
            continue
        with pytest.raises(SystemExit) as exc:
            _parser().parse_args(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and flag in err[0] and "must be" in err[0], err




@pytest.mark.parametrize("args, words", [
    (["search", "--supernet-batch-size", "0"], "--supernet-batch-size"),
    (["evolve", "--supernet", "x.pt", "--population", "0"], "--population"),
    (["search", "--max-macs", "inf"], "--max-macs"),
    (["search", "--retrain-drop-path", "2"], "[0, 1)"),
    (["search", "--supernet-steps", "-5"], "--supernet-steps"),
    (["search", "--retrain-candidates", "-1"], "--retrain-candidates"),
    (["search", "--population", "0"], "--population"),
    (["search", "--device", "bogus"], "not a torch device"),
    (["search", "--device", "cuda:7"], "cuda"),
    (["search", "--supernet-warmup-steps", "500"], "warmup_steps=500 must be below"),
    (["search", "--threads", "0"], "--threads"),
])
def test_bad_arguments_end_to_end_are_one_line_before_any_work(cli, one_line_error, tmp_path,
                                                              args, words):
    one_line_error(cli(*args, "--out", tmp_path / "run"), words)
    assert not (tmp_path / "run").exists()  # refused before anything ran


def test_help_answers_without_importing_torch(tmp_path):
    glit_script = Path(sys.executable).parent / "glit"
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    r = subprocess.run([str(glit_script), "search", "--help"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and "--retrain-weight-decay" in r.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines()}
    assert "torch" not in imported and "glitlib" in imported
    assert "(default: 500)" in r.stdout  # defaults shown


def test_no_progress_bars_in_a_log(glit, tmp_path):
    """Without --quiet and without a terminal, nothing floods stderr."""
    r = glit("supernet", "--steps", "30", "--batch-size", "16", "--out", "s", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""


def test_only_library_errors_become_one_line(monkeypatch, capsys):
    """A bug (here a ZeroDivisionError) keeps its traceback; a GlitError is one line."""
    import glitlib.cli as cli
    from glitlib.cli.registry import COMMANDS
    from glitlib.errors import DataError

    def bug(args):
        return 1 // 0

    def user(args):
        raise DataError("bad data; fix it")

    monkeypatch.setitem(COMMANDS, "info", (*COMMANDS["info"][:2], bug))
    with pytest.raises(ZeroDivisionError):
        cli.main(["info"])
    monkeypatch.setitem(COMMANDS, "info", (*COMMANDS["info"][:2], user))
    assert cli.main(["info"]) == 2
    assert capsys.readouterr().err == "glit info: error: bad data; fix it\n"


def test_the_strategy_flag_means_one_thing_everywhere(cli):
    refusals = {name: cli(name, *REQUIRED[name], "--strategy", "nosuch").stderr
                for name in ("search", "evolve")}
    for err in refusals.values():
        assert "(choose from 'evolution', 'random')" in err, err
