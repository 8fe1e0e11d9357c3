"""Replaying a recorded evolution: the population, generation by generation.

An evolutionary search records every candidate it evaluated together with the
generation that proposed it (:class:`~glitlib.nas.records.Candidate`, in the order
they were evaluated). That list is enough to replay the search: the parents of
generation ``g`` are the ``parents`` best candidates of generations ``0 .. g-1``
(the rule :meth:`~glitlib.nas.evolution.Evolution.children` applies), its children are
the candidates of generation ``g``, and the best so far is the best of
generations ``0 .. g``.

Everything that computes is a pure function (:func:`generation_frames`,
:func:`best_so_far`, :func:`plane_limits`, :func:`draw_generation`,
:func:`figure`), tested like the rest of glitlib; :func:`replay` only wires
them to ipywidgets, imported when the widget is built, never at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ReplayError
from ..nas.records import Candidate, best_candidates

__all__ = ["Frame", "generation_frames", "best_so_far", "load_frames",
           "plane_limits", "draw_generation", "figure", "caption", "page_data", "replay"]


@dataclass(frozen=True)
class Frame:
    """One generation of a search as it happened."""

    generation: int
    earlier: tuple[Candidate, ...]   # evaluated in the generations before this one
    parents: tuple[Candidate, ...]   # the best of ``earlier``: they bred the children
    children: tuple[Candidate, ...]  # proposed and evaluated in this generation
    best: Candidate                  # the best of ``earlier`` and ``children``

    @property
    def population(self) -> tuple[Candidate, ...]:
        """Every candidate evaluated up to and including this generation."""
        return self.earlier + self.children


def _check(candidates: Sequence[Candidate]) -> None:
    if not candidates:
        raise ReplayError("no candidates to replay; give the list that run_strategy() returned "
                          "or a search.json that holds candidates")
    last = 0
    for i, c in enumerate(candidates):
        if c.supernet_accuracy is None:
            raise ReplayError(f"candidate {i} was never scored (supernet_accuracy is None); "
                              "replay only the candidates a search evaluated")
        if c.generation < last:
            raise ReplayError(f"candidate {i} is from generation {c.generation} but follows "
                              f"generation {last}; give the candidates in the order the "
                              "search evaluated them")
        last = c.generation


def generation_frames(candidates: Sequence[Candidate], parents: int) -> list[Frame]:
    """One :class:`Frame` per generation, from 0 to the last one recorded.

    ``parents`` is the search's setting of the same name. A generation that
    proposed nothing (a small space under a limit can run out of new paths)
    gets a frame with no children.
    """
    _check(candidates)
    if isinstance(parents, bool) or not isinstance(parents, int) or parents < 1:
        raise ReplayError(f"parents must be an integer >= 1 (the search's setting), "
                          f"got {parents!r}")
    frames: list[Frame] = []
    done = 0
    for gen in range(candidates[-1].generation + 1):
        earlier = tuple(candidates[:done])
        while done < len(candidates) and candidates[done].generation == gen:
            done += 1
        children = tuple(candidates[len(earlier):done])
        population = earlier + children
        frames.append(Frame(gen, earlier, tuple(best_candidates(list(earlier), parents)),
                            children, best_candidates(list(population), 1)[0]))
    return frames


def best_so_far(candidates: Sequence[Candidate]) -> list[float]:
    """The best supernet accuracy after each evaluated candidate (the search's progress)."""
    _check(candidates)
    out: list[float] = []
    for c in candidates:
        out.append(c.score if not out else max(out[-1], c.score))
    return out


def load_frames(path: str | Path) -> tuple[list[Frame], int | None]:
    """The frames of a ``search.json`` (as :func:`~glitlib.nas.strategy.run_strategy` writes it)
    and the MACs limit it searched under."""
    from ..nas.strategy import read_search

    state, candidates = read_search(path)
    config = state.get("config", {})
    return generation_frames(candidates, config.get("parents", 10)), config.get("max_macs")


# -- pictures (matplotlib, drawn on axes the caller owns) ----------------------
def plane_limits(candidates: Sequence[Candidate], max_macs: int | None = None,
                 margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits (MACs in millions, accuracy in %) that hold every candidate and the
    limit, so that all frames of a replay share one plane."""
    _check(candidates)
    xs = [c.macs / 1e6 for c in candidates] + ([max_macs / 1e6] if max_macs else [])
    ys = [100 * c.score for c in candidates]
    dx = (max(xs) - min(xs)) * margin or 0.1
    dy = (max(ys) - min(ys)) * margin or 1.0
    return (min(xs) - dx, max(xs) + dx), (min(ys) - dy, max(ys) + dy)


def _points(cands: Sequence[Candidate]) -> tuple[list[float], list[float]]:
    return [c.macs / 1e6 for c in cands], [100 * c.score for c in cands]


def draw_generation(frames: Sequence[Frame], g: int, ax: Any, max_macs: int | None = None,
                    limits: tuple | None = None) -> Any:
    """Frame ``g`` on the accuracy-MACs plane: earlier candidates grey, the parents
    ringed, the new children coloured by generation, the best so far a star."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    if not 0 <= g < len(frames):
        raise ReplayError(f"generation {g} does not exist; this search recorded "
                          f"generations 0 to {len(frames) - 1}")
    frame = frames[g]
    color = colormaps["viridis"](Normalize(0, max(1, len(frames) - 1))(g))
    ax.scatter(*_points(frame.earlier), s=12, color="lightgrey", label="earlier generations")
    ax.scatter(*_points(frame.parents), s=70, facecolors="none", edgecolors="black",
               linewidths=1.2, label="parents of this generation")
    ax.scatter(*_points(frame.children), s=22, color=color, edgecolors="black",
               linewidths=0.3, label=f"generation {g}")
    ax.scatter(*_points([frame.best]), s=160, marker="*", color="crimson",
               label="best so far")
    if max_macs is not None:
        ax.axvline(max_macs / 1e6, color="grey", ls="--", lw=1, label="MACs limit")
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    ax.set_xlabel("MACs (millions)")
    ax.set_ylabel("supernet accuracy, held out (%)")
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title(f"generation {g}: {len(frame.children)} new, best so far "
                 f"{100 * frame.best.score:.1f}% at "
                 f"{frame.best.macs / 1e6:.2f}M MACs", fontsize=9)
    return ax


def figure(frames: Sequence[Frame], g: int, max_macs: int | None = None,
           dpi: int = 80) -> Any:
    """The replay's picture: frame ``g`` on the plane, and the best so far per
    generation beside it. A pyplot-free ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    everything = frames[-1].population
    fig = Figure(figsize=(10, 4), dpi=dpi)
    plane, curve = fig.subplots(1, 2, width_ratios=[1.6, 1])
    draw_generation(frames, g, plane, max_macs, plane_limits(everything, max_macs))
    best = [100 * f.best.score for f in frames]
    curve.plot(range(len(frames)), best, color="grey", marker="o", ms=3)
    curve.plot([g], [best[g]], marker="*", ms=14, color="crimson")
    curve.set_xlabel("generation")
    curve.set_ylabel("best so far (%)")
    curve.set_xticks(range(len(frames)))
    fig.tight_layout()
    return fig


def caption(frames: Sequence[Frame], g: int) -> str:
    """One line on frame ``g``: its new candidates, all so far, the best so far."""
    f = frames[g]
    return (f"generation {g}: {len(f.children)} new candidates, "
            f"{len(f.population)} evaluated so far; best "
            f"{100 * f.best.score:.1f}% at {f.best.macs:,d} MACs")


# -- the web page's version -------------------------------------------------------
def page_data(frames: Sequence[Frame], max_macs: int | None = None,
              generation: int | None = None) -> dict[str, Any]:
    """What the static replay of the book's web page needs, as plain JSON values.

    Every candidate once, as a point (MACs in millions, supernet accuracy in %),
    in the order the search scored them; per generation its caption (the one
    :func:`caption` writes), the indices of its parents and children, how many
    candidates came before it and the index of the best so far; the plane's
    limits and each generation's colour (those of :func:`draw_generation`).
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, to_hex

    if not frames:
        raise ReplayError("no frames to show; give the list that generation_frames() returned")
    last = len(frames) - 1
    start = last if generation is None else generation
    if not 0 <= start <= last:
        raise ReplayError(f"generation {start} does not exist; this search recorded "
                          f"generations 0 to {last}")
    everything = frames[-1].population
    index = {id(c): i for i, c in enumerate(everything)}
    (x0, x1), (y0, y1) = plane_limits(everything, max_macs)
    norm = Normalize(0, max(1, last))
    return {
        "start": start, "max_macs": max_macs,
        "limit_x": None if max_macs is None else max_macs / 1e6,
        "x": [round(x0, 6), round(x1, 6)], "y": [round(y0, 4), round(y1, 4)],
        "points": [[round(c.macs / 1e6, 6), round(100 * c.score, 4)] for c in everything],
        "frames": [{
            "generation": f.generation, "caption": caption(frames, g),
            "title": (f"generation {g}: {len(f.children)} new, best so far "
                      f"{100 * f.best.score:.1f}% at {f.best.macs / 1e6:.2f}M MACs"),
            "earlier": len(f.earlier),
            "parents": [index[id(c)] for c in f.parents],
            "children": [index[id(c)] for c in f.children],
            "best": index[id(f.best)], "best_score": round(100 * f.best.score, 4),
            "color": to_hex(colormaps["viridis"](norm(g))),
        } for g, f in enumerate(frames)],
    }


# -- the widget ------------------------------------------------------------------
def replay(candidates: Sequence[Candidate], parents: int, max_macs: int | None = None,
           generation: int | None = None) -> Any:
    """Step through a recorded search: a play button and a generation slider over
    the picture of :func:`figure`. Returns an ipywidgets box, which the book's web
    page shows as its static version (:func:`page_data`, :mod:`glitlib.studies.page`)."""
    import ipywidgets as widgets
    from IPython.display import Image, display

    from .explorer import png
    from .page import with_page

    frames = generation_frames(candidates, parents)
    last = len(frames) - 1
    start = last if generation is None else generation
    if not 0 <= start <= last:
        raise ReplayError(f"generation {start} does not exist; this search recorded "
                          f"generations 0 to {last}")
    slider = widgets.IntSlider(value=start, min=0, max=last, description="generation")
    play = widgets.Play(value=start, min=0, max=last, interval=900, description="play")
    widgets.jslink((play, "value"), (slider, "value"))
    numbers, picture = widgets.HTML(), widgets.Output()

    def show(g: int) -> None:
        numbers.value = caption(frames, g)
        with picture:
            picture.clear_output(wait=True)
            display(Image(png(figure(frames, g, max_macs))))

    slider.observe(lambda change: show(change["new"]), names="value")
    show(start)
    return with_page([widgets.HBox([play, slider]), numbers, picture], "replay",
                     page_data(frames, max_macs, start))
