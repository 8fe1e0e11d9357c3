"""The shape of glitlib, measured from its source: packages, imports, functions.

Usage::

    python tools/structure.py          # a report
    python tools/structure.py --json   # the same as one JSON object

Reads every module with ``ast`` (nothing is imported or run) and reports the modules
per package, the imports between glitlib's modules (those inside functions too), any
import circle, any import that runs against the layer order of the packages (see
``glitlib/__init__.py``), the longest function and the functions with the most
parameters. ``tests/test_structure.py`` holds the library to these facts.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "glitlib"
# Lowest first: a package may import only those before it (and itself).
LAYERS = ("errors", "_version", "runtime", "stats", "model", "config", "data", "train", "nas",
          "studies", "cli", "__init__", "__main__")
MAX_PARAMS = 8  # for every function but a constructor


def modules() -> dict[str, ast.Module]:
    """Every module of glitlib by dotted name, parsed."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(mods: dict[str, ast.Module]) -> dict[str, set[str]]:
    """For each module, the glitlib modules it imports (at the top or in a function)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, tree in mods.items():
        is_package = (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").is_file()
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, node, is_package)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t.startswith("glitlib") and t != name and t != "glitlib":
                    graph[name].add(t)
        graph.setdefault(name, set())
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle between modules (strongly connected groups of two or more)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1] if len(parts) > 1 else "__init__")


def against_the_layers(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a lower package to a higher one (the package face excepted)."""
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if layer(b) > layer(a) and a != "glitlib")


def functions(mods: dict[str, ast.Module]) -> list[dict[str, Any]]:
    """Every function and method: where, its lines, its parameters (not self/cls)."""
    out = []
    for name, tree in mods.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs
                          if a.arg not in ("self", "cls")]
                params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
                out.append({"module": name, "function": node.name,
                            "lines": node.end_lineno - node.lineno + 1,
                            "params": len(params)})
    return out


def report() -> dict[str, Any]:
    mods = modules()
    graph = imports(mods)
    per_package: dict[str, int] = defaultdict(int)
    for m in mods:
        parts = m.split(".")
        if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
            per_package[parts[1]] += 1
    funcs = functions(mods)
    longest = max(funcs, key=lambda f: f["lines"])
    not_ctor = [f for f in funcs if f["function"] != "__init__"]
    most = max(not_ctor, key=lambda f: f["params"])
    return {"modules": len(mods), "modules_per_package": dict(sorted(per_package.items())),
            "imports": sum(len(t) for t in graph.values()), "circles": circles(graph),
            "against_the_layers": against_the_layers(graph), "longest_function": longest,
            "most_parameters": most,
            "over_max_params": [f for f in not_ctor if f["params"] > MAX_PARAMS]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    r = report()
    if p.parse_args().json:
        print(json.dumps(r))
        return
    print(f"{r['modules']} modules; per package: "
          + ", ".join(f"{k} {v}" for k, v in r["modules_per_package"].items()))
    print(f"{r['imports']} imports between modules; circles: {len(r['circles'])}; "
          f"against the layers: {len(r['against_the_layers'])}")
    f = r["longest_function"]
    print(f"longest function: {f['module']}.{f['function']}, {f['lines']} lines")
    f = r["most_parameters"]
    print(f"most parameters (constructors apart): {f['module']}.{f['function']}, "
          f"{f['params']}")
    for c in r["circles"]:
        print("circle:", " <-> ".join(c))
    for a, b in r["against_the_layers"]:
        print(f"against the layers: {a} -> {b}")


if __name__ == "__main__":
    main()
