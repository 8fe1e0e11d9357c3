"""Figures of a search, drawn on bare matplotlib Figures (no display, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

from ..model.space import SearchSpace
from ..runtime.files import save_figure
from .records import Candidate

__all__ = ["plot_candidates", "plot_best_so_far", "plot_distribution", "plot_search"]


def _figure(figsize: tuple[float, float]):
    # A bare Figure, not pyplot: no global backend switch, no open-figure bookkeeping,
    # so drawing a run's plots never changes how a notebook shows its own figures.
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def plot_candidates(candidates: list[Candidate], path: Path, title: str = "",
                    max_macs: int | None = None) -> None:
    """Held-out accuracy vs MACs of every candidate, coloured by generation."""
    fig, ax = _figure((6, 4))
    pts = ax.scatter([c.macs / 1e6 for c in candidates],
                     [100 * c.score for c in candidates],
                     c=[c.generation for c in candidates], cmap="viridis", s=10)
    fig.colorbar(pts, ax=ax, label="generation")
    if max_macs is not None:
        ax.axvline(max_macs / 1e6, color="grey", ls="--", lw=1, label="MACs limit")
        ax.legend(loc="lower right")
    ax.set(xlabel="MACs (M)", ylabel="supernet accuracy on held-out split (%)", title=title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_best_so_far(curves: dict[str, list[Candidate]], path: Path) -> None:
    """Best held-out accuracy after each evaluated candidate, one line per stage."""
    fig, ax = _figure((6, 4))
    for name, candidates in curves.items():
        best, ys = 0.0, []
        for c in candidates:
            best = max(best, c.score)
            ys.append(100 * best)
        ax.plot(range(1, len(ys) + 1), ys, label=name)
    ax.set(xlabel="candidates evaluated", ylabel="best supernet accuracy, held-out (%)")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_distribution(distribution: list[int], num_heads: int, path: Path) -> None:
    """Global and local heads of every block of the found architecture."""
    blocks = range(len(distribution))
    local = [num_heads - g for g in distribution]
    fig, ax = _figure((max(4, 0.6 * len(distribution) + 2), 3))
    ax.bar(blocks, distribution, label="global heads", color="tab:blue")
    ax.bar(blocks, local, bottom=distribution, label="local heads", color="tab:orange")
    ax.set(xlabel="block", ylabel="heads", xticks=list(blocks), ylim=(0, num_heads + 0.8),
           yticks=list(range(num_heads + 1)))
    ax.legend(ncol=2, loc="upper center")
    fig.tight_layout()
    save_figure(fig, path)


def plot_search(out: str | Path, space: SearchSpace, stages: dict[str, list[Candidate]],
                max_macs: int | None, distribution: list[int]) -> list[Path]:
    """All figures of a finished run in ``out``; returns the files written."""
    out = Path(out)
    written = []
    for name, candidates in stages.items():
        path = out / f"{name}_candidates.png"
        plot_candidates(candidates, path, name, max_macs)
        written.append(path)
    plot_best_so_far(stages, out / "best_so_far.png")
    plot_distribution(distribution, space.num_heads, out / "distribution.png")
    return [*written, out / "best_so_far.png", out / "distribution.png"]
