"""Figures of a search, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .arch import SearchSpace
from .io import read_json

__all__ = ["plot_candidates", "plot_best_so_far", "plot_distribution", "plot_search"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_candidates(records: list[dict[str, Any]], path: Path, title: str = "",
                    max_macs: int | None = None) -> None:
    """Held-out accuracy vs MACs of every candidate, coloured by generation."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = ax.scatter([r["macs"] / 1e6 for r in records],
                     [100 * r["accuracy"] for r in records],
                     c=[r["generation"] for r in records], cmap="viridis", s=10)
    fig.colorbar(pts, ax=ax, label="generation")
    if max_macs is not None:
        ax.axvline(max_macs / 1e6, color="grey", ls="--", lw=1, label="MACs limit")
        ax.legend(loc="lower right")
    ax.set(xlabel="MACs (M)", ylabel="supernet accuracy on held-out split (%)", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_best_so_far(curves: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Best held-out accuracy after each evaluated candidate, one line per stage."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, records in curves.items():
        best, ys = 0.0, []
        for r in records:
            best = max(best, r["accuracy"])
            ys.append(100 * best)
        ax.plot(range(1, len(ys) + 1), ys, label=name)
    ax.set(xlabel="candidates evaluated", ylabel="best held-out accuracy (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_distribution(distribution: list[int], num_heads: int, path: Path) -> None:
    """Global and local heads of every block of the found architecture."""
    plt = _pyplot()
    blocks = range(len(distribution))
    local = [num_heads - g for g in distribution]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(distribution) + 2), 3))
    ax.bar(blocks, distribution, label="global heads", color="tab:blue")
    ax.bar(blocks, local, bottom=distribution, label="local heads", color="tab:orange")
    ax.set(xlabel="block", ylabel="heads", xticks=list(blocks), ylim=(0, num_heads + 0.8),
           yticks=list(range(num_heads + 1)))
    ax.legend(ncol=2, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_search(out: str | Path, space: SearchSpace, stages: list[str]) -> list[Path]:
    """All figures of a finished run in ``out``; returns the files written."""
    out = Path(out)
    written, curves = [], {}
    for name in stages:
        state = read_json(out / name / "search.json", "search results")
        curves[name] = state["records"]
        path = out / f"{name}_candidates.png"
        plot_candidates(state["records"], path, name, state["config"].get("max_macs"))
        written.append(path)
    plot_best_so_far(curves, out / "best_so_far.png")
    summary = read_json(out / "summary.json", "summary")
    plot_distribution(summary["distribution"], space.num_heads, out / "distribution.png")
    return [*written, out / "best_so_far.png", out / "distribution.png"]
