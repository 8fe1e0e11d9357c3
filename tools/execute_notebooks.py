"""Execute the book's chapters in place, deterministically.

Usage::

    .venv/bin/python tools/execute_notebooks.py              # every chapter
    .venv/bin/python tools/execute_notebooks.py book/01_tokens.ipynb ...

Each notebook runs top to bottom in a fresh kernel (nbclient) with a fixed
environment (``PYTHONHASHSEED=0``, one BLAS/OpenMP thread count, the
notebooks seed torch and numpy themselves). Widget state is stored so
sliders render in the static book; progress bars are not kept (see
:func:`drop_progress_bars`). Volatile metadata (execution timings,
interpreter versions, random widget ids) is removed or renumbered, so running
the script twice gives the same files. A chapter fails, and the script exits
non-zero, when any cell raises or writes anything to stderr (warnings
included). The committed outputs are exactly what this script writes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
THREADS = "2"
ENV = {
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": THREADS,
    "MKL_NUM_THREADS": THREADS,
    "OPENBLAS_NUM_THREADS": THREADS,
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "TQDM_DISABLE": "1",
    # One instruction set for torch, MKL and oneDNN, as in the tests: the same bits on
    # AVX2 and AVX-512 machines.
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
CELL_TIMEOUT = 600
_ID = re.compile(r"[0-9a-f]{32}")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}


def chapters() -> list[Path]:
    """Every chapter of the book, in order."""
    return sorted(BOOK.glob("[0-9][0-9]*_*.ipynb"))


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Errors and stderr output of an executed notebook, one line each."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = "".join(out.get("text", ""))
                found.append(f"cell {i}: stderr: {text.strip()[:500]}")
    return found


def coalesce_streams(outputs: list) -> list:
    """Merge consecutive stdout (or stderr) outputs: how the kernel happens to
    flush a stream must not change the file."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            prev["text"] = "".join(prev["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from run to run without changing the content."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _widget_state(nb: nbformat.NotebookNode) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _reachable(state: dict, roots: list[str]) -> set[str]:
    """The models ``roots`` reference, directly or through others (roots included)."""
    found: set[str] = set()
    queue = list(roots)
    while queue:
        model = queue.pop()
        if model in found or model not in state:
            continue
        found.add(model)
        queue.extend(_ID.findall(json.dumps(state[model]["state"], sort_keys=True)))
    return found


def _is_progress_bar(state: dict, model_id: str) -> bool:
    """A progress bar, or a box around one: what ``tqdm`` shows in a notebook."""
    model = state.get(model_id, {})
    if model.get("model_name") in PROGRESS_MODELS:
        return True
    children = model.get("state", {}).get("children", [])
    return any(state.get(c.removeprefix("IPY_MODEL_"), {}).get("model_name")
               in PROGRESS_MODELS for c in children if isinstance(c, str))


def drop_progress_bars(nb: nbformat.NotebookNode) -> int:
    """Remove progress bars from the outputs and their models from the saved state.

    A progress bar saved as a widget is a blank gap on the static page, and its
    numbers (speed, elapsed time) change from run to run. ``TQDM_DISABLE``
    does not prevent them: it only changes tqdm's *default*, and a library that
    passes ``disable=None`` explicitly (glitlib's ``progress=None``: "show a bar
    where someone watches") overrides it, while tqdm's notebook bar reads
    ``None`` as "show". So whatever made them, the bars are taken out here,
    in every chapter. Returns how many outputs were removed.
    """
    state = _widget_state(nb)
    if not state:
        return 0
    dropped: list[str] = []
    kept: list[str] = []
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view and _is_progress_bar(state, view["model_id"]):
                dropped.append(view["model_id"])
                continue
            if view:
                kept.append(view["model_id"])
            outputs.append(out)
        if cell.get("cell_type") == "code":
            cell.outputs = outputs
    if not dropped:
        return 0
    gone = _reachable(state, dropped)
    others = [m for m in state if m not in gone]
    for model in gone - _reachable(state, kept + others):
        del state[model]
    if not state:
        del nb.metadata["widgets"]
    return len(dropped)


def renumber_widgets(nb: nbformat.NotebookNode) -> None:
    """Replace random widget model ids by ids numbered in a stable order.

    The order is: the widgets the outputs display, cell by cell, then the
    models they reference (breadth first, attributes in sorted order).
    """
    state = nb.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    if not state:
        return
    queue = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view:
                queue.append(view["model_id"])
    mapping: dict[str, str] = {}
    while queue:
        old = queue.pop(0)
        if old in mapping or old not in state:
            continue
        mapping[old] = f"{len(mapping) + 1:032x}"
        refs = json.dumps(state[old]["state"], sort_keys=True)
        queue.extend(_ID.findall(refs))
    rest = sorted((k for k in state if k not in mapping),
                  key=lambda k: json.dumps(state[k], sort_keys=True))
    for old in rest:
        mapping[old] = f"{len(mapping) + 1:032x}"
    text = _ID.sub(lambda m: mapping.get(m.group(0), m.group(0)),
                   json.dumps(dict(nb)))
    nb.clear()
    nb.update(nbformat.from_dict(json.loads(text)))


def execute(path: Path) -> tuple[float, list[str]]:
    """Run one notebook in place; return its wall time and its problems."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        record_timing=False,
        allow_errors=True,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    found = problems(nb)
    drop_progress_bars(nb)
    clean(nb)
    for cell in nb.cells:  # stable cell ids across runs: one per position
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 4
    renumber_widgets(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return wall, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every chapter)")
    args = parser.parse_args(argv)
    os.environ.update(ENV)
    paths = [p.resolve() for p in args.notebooks] or chapters()
    failed = 0
    total = 0.0
    for path in paths:
        wall, found = execute(path)
        total += wall
        status = "ok" if not found else "FAILED"
        print(f"{path.relative_to(ROOT)}: {wall:6.1f} s  {status}", flush=True)
        for line in found:
            print(f"    {line}", flush=True)
        failed += bool(found)
    print(f"{len(paths)} notebook(s), {total:.1f} s in all, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
