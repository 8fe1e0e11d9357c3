"""bench/gpu_check.sh without a GPU: it parses, refuses at once with one line, and its
report reads back whatever steps left, failed ones included."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def _helper():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal needs a machine without GPU")
def test_without_a_gpu_it_stops_with_one_line(tmp_path):
    report = tmp_path / "gpu_check.json"
    r = subprocess.run(["bash", str(SCRIPT), str(report)], capture_output=True, text=True,
                       env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("gpu_check: no CUDA GPU here")
    assert not report.exists()


def _steps(work: Path, rc: dict[str, int]) -> None:
    for name in _helper().STEPS:
        (work / f"{name}.step.json").write_text(json.dumps(
            {"rc": rc.get(name, 0), "seconds": 1, "limit_s": 60}))


def test_the_report_gathers_the_steps(tmp_path, capsys):
    gc = _helper()
    work = tmp_path / "work"
    (work / "search" / "stage1").mkdir(parents=True)
    _steps(work, {})
    (work / "search" / "summary.json").write_text(json.dumps(
        {"macs": 1, "params": 2, "val_accuracy": 0.9, "test_accuracy": 0.8}))
    (work / "search" / "stage1" / "supernet_metrics.jsonl").write_text(
        '{"step": 0, "loss": 2.3}\n{"step": 1, "loss": 2.2, "gpu_mem_gb": 0.1}\n')
    (work / "search" / "glit.log").write_text("2026-01-01 00:00:00 a\n")
    assert gc.report(work, tmp_path / "out" / "r.json") == 0
    r = json.loads((tmp_path / "out" / "r.json").read_text())
    assert r["search_digits_fp32"]["val_accuracy"] == 0.9
    assert r["search_digits_fp32"]["last_supernet_metrics"]["step"] == 1
    assert r["search_digits_fp32"]["glit_log_lines"] == 1
    assert r["torchrun_search"] is None and r["device"]["torch"] == torch.__version__
    assert "every step passed" in capsys.readouterr().out


def test_a_failed_step_is_reported_and_fails_the_check(tmp_path, capsys):
    gc = _helper()
    work = tmp_path / "work"
    work.mkdir()
    _steps(work, {"nccl": 124})
    (work / "nccl.err").write_text("first\nsecond\nNCCL error: unhandled system error\n")
    assert gc.report(work, tmp_path / "r.json") == 1
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["steps"]["nccl"]["stderr_tail"][-1] == "NCCL error: unhandled system error"
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nccl" in err
