"""Draw the book's schematic figures as SVG files beside this script.

Usage: ``.venv/bin/python book/figures/make_figures.py``. The output is
deterministic (no dates, fixed ids), so re-running it changes no file unless
the drawing code changed. GLiT-Tiny's figure is drawn from
``glitlib.get_arch("glit-tiny")``, the same data the chapters use.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import glitlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
PREVIEW: Path | None = None  # a folder for PNG previews, if set
plt.rcParams.update({
    "svg.hashsalt": "glit-book",
    "svg.fonttype": "none",          # text stays text: small, sharp, searchable
    "font.family": "DejaVu Sans",
    "font.size": 11,
})
GLOBAL, LOCAL, MIXED = "#9ecae1", "#a1d99b", "#cbb4e0"
NORM, FFN, IO, OP = "#fdd49e", "#fdae6b", "#eeeeee", "#ffffff"


def canvas(width: float, height: float):
    """A figure whose data units are inches: easy to place boxes by hand."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def box(ax, x, y, w, h, text, color=OP, size=11, bold=False):
    """A rounded box centred at (x, y)."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor="#444444", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=size,
            fontweight="bold" if bold else "normal")


def arrow(ax, start, end, label=None, side="right", color="#333333", style="-|>"):
    """An arrow; ``label`` (a shape, usually) is written beside its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14,
                                 color=color, lw=1.3, shrinkA=0, shrinkB=0))
    if label:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        dx = 0.12 if side == "right" else -0.12
        ax.text(mx + dx, my, label, ha="left" if side == "right" else "right",
                va="center", fontsize=10, color="#1f4e79", family="DejaVu Sans Mono")


def save(fig, name: str) -> None:
    fig.savefig(HERE / name, format="svg", metadata={"Date": None, "Creator": None})
    if PREVIEW:
        fig.savefig(PREVIEW / name.replace(".svg", ".png"), dpi=80)
    plt.close(fig)


def local_head() -> None:
    """The local head's six steps, with the tensor shape between each two."""
    fig, ax = canvas(6.4, 7.9)
    x = 2.2
    steps = [
        (7.0, "tokens X", IO),
        (6.0, "pointwise conv  C → 2EC", LOCAL),
        (5.0, "GLU: first half · σ(second half)", LOCAL),
        (4.0, "depthwise 1D conv, kernel K\n(K//2 zeros padded at both ends)", LOCAL),
        (3.0, "BatchNorm1d", NORM),
        (2.0, "Swish:  x · σ(x)", LOCAL),
        (1.0, "pointwise conv  EC → C", LOCAL),
    ]
    shapes = ["(B, T, C)", "(B, T, 2EC)", "(B, T, EC)", "(B, T, EC)", "(B, T, EC)",
              "(B, T, EC)"]
    heights = [0.78 if "\n" in text else 0.56 for _, text, _ in steps]
    for (y, text, color), h in zip(steps, heights):
        box(ax, x, y, 3.6, h, text, color)
    for i, shape in enumerate(shapes):
        (y0, *_), (y1, *_) = steps[i], steps[i + 1]
        arrow(ax, (x, y0 - heights[i] / 2), (x, y1 + heights[i + 1] / 2), shape)
    arrow(ax, (x, 1.0 - heights[-1] / 2), (x, 0.2), "(B, T, C)")
    ax.text(4.35, 4.0, "the only step\nthat mixes tokens:\neach channel with\nits K neighbours",
            fontsize=10, va="center", color="#2c7a2c")
    ax.text(x, 7.62, "local head  (glitlib.LocalHeads)", ha="center", fontsize=12,
            fontweight="bold")
    save(fig, "local_head.svg")


def global_local() -> None:
    """The channel split of the global-local module, G = 1 of N = 3 heads."""
    fig, ax = canvas(8.4, 5.0)
    box(ax, 4.2, 4.45, 5.6, 0.55, "tokens X: (B, T, d),  d = 192", IO)
    # the split: first C_g channels, last C_l channels
    arrow(ax, (2.6, 4.17), (2.2, 3.45), "X[..., :C_g]", side="left")
    arrow(ax, (5.8, 4.17), (6.2, 3.45), "X[..., C_g:]")
    box(ax, 2.2, 2.75, 3.2, 1.25,
        "global heads (G of them)\nqkv: C_g → 3·G·d_k\nsoftmax(QKᵀ/√d_k) V\nproj: G·d_k → C_g",
        GLOBAL, size=10)
    box(ax, 6.2, 2.75, 3.2, 1.25,
        "local heads (L = N − G)\none LocalHeads module\non all C_l channels\n(E, K)",
        LOCAL, size=10)
    arrow(ax, (2.2, 2.1), (3.0, 1.25), "(B, T, C_g)", side="left")
    arrow(ax, (6.2, 2.1), (5.4, 1.25), "(B, T, C_l)")
    box(ax, 4.2, 0.95, 3.8, 0.55, "concatenate: [global | local]", IO)
    arrow(ax, (4.2, 0.67), (4.2, 0.15), "(B, T, d), no projection after")
    ax.text(0.15, 0.5, "C_g = d·G/N,  C_l = d − C_g\n(G = 1, N = 3: 64 + 128)",
            fontsize=10, va="top", color="#1f4e79")
    save(fig, "global_local.svg")


def block() -> None:
    """A pre-norm block: two residual branches, LayerNorm before each module."""
    fig, ax = canvas(5.6, 7.0)
    x, side = 2.0, 4.3
    box(ax, x, 6.55, 2.6, 0.5, "X: (B, T, d)", IO)
    box(ax, x, 5.35, 2.2, 0.5, "LayerNorm", NORM)
    box(ax, x, 4.35, 2.8, 0.6, "global-local module", MIXED)
    box(ax, x, 2.85, 2.2, 0.5, "LayerNorm", NORM)
    box(ax, x, 1.85, 2.8, 0.6, "FFN  d → d·d_z → d", FFN)
    for yc in (3.55, 1.05):
        ax.add_patch(plt.Circle((x, yc), 0.2, facecolor="white", edgecolor="#444444",
                                lw=1.2))
        ax.text(x, yc, "+", ha="center", va="center", fontsize=14)
    arrow(ax, (x, 6.3), (x, 5.6))
    arrow(ax, (x, 5.1), (x, 4.65))
    arrow(ax, (x, 4.05), (x, 3.75))
    arrow(ax, (x, 3.35), (x, 3.1))
    arrow(ax, (x, 2.6), (x, 2.15))
    arrow(ax, (x, 1.55), (x, 1.25))
    arrow(ax, (x, 0.85), (x, 0.3), "Y: (B, T, d)")
    # the residual paths: nothing on them
    for top, bottom in ((5.95, 3.55), (3.25, 1.05)):
        ax.plot([x, side, side], [top, top, bottom], color="#c0392b", lw=1.5)
        arrow(ax, (side, bottom), (x + 0.2, bottom), color="#c0392b")
    ax.text(side + 0.1, 4.75, "residual:\nthe input,\nunnormalised", fontsize=10,
            color="#c0392b", va="center")
    ax.text(side + 0.1, 2.15, "residual", fontsize=10, color="#c0392b", va="center")
    save(fig, "block.svg")


def glit_tiny() -> None:
    """GLiT-Tiny's twelve blocks, coloured by head type, with their choices."""
    space, arch = glitlib.get_arch("glit-tiny")
    n = space.num_heads
    fig, ax = canvas(12.4, 3.6)
    box(ax, 0.75, 1.9, 1.2, 1.3, "patch\nembed\n+ cls\n+ pos", IO, size=10)
    for i, b in enumerate(arch.blocks):
        x = 2.15 + i * 0.8
        kind = "global" if b.g == n else "local" if b.g == 0 else "mixed"
        color = {"global": GLOBAL, "local": LOCAL, "mixed": MIXED}[kind]
        detail = [f"{b.g}/{n - b.g}"]
        if b.d_k:
            detail.append(f"d_k {b.d_k}")
        if b.e:
            detail += [f"E {b.e}", f"K {b.k}"]
        detail.append(f"d_z {b.d_z}")
        box(ax, x, 1.9, 0.7, 1.9, "\n".join(detail), color, size=9)
        ax.text(x, 3.05, str(i), ha="center", fontsize=10)
    box(ax, 11.85, 1.9, 0.9, 1.3, "norm\n+\nhead", IO, size=10)
    for x0 in [1.35] + [2.5 + i * 0.8 for i in range(12)]:
        arrow(ax, (x0, 1.9), (x0 + 0.1 if x0 > 1.4 else 1.8, 1.9))
    ax.text(2.15 + 5.5 * 0.8, 3.35, "block  (G/L = global/local heads)", ha="center",
            fontsize=11)
    for j, (name, color) in enumerate((("global: G = 3", GLOBAL), ("mixed", MIXED),
                                       ("local: G = 0", LOCAL))):
        ax.add_patch(FancyBboxPatch((2.2 + j * 2.4, 0.2), 0.35, 0.3,
                                    boxstyle="round,pad=0.01", facecolor=color,
                                    edgecolor="#444444"))
        ax.text(2.65 + j * 2.4, 0.35, name, va="center", fontsize=10)
    ax.text(9.4, 0.35, "d = 192, N = 3, T = 197", va="center", fontsize=10)
    save(fig, "glit_tiny.svg")


def search_pipeline() -> None:
    """GLiT's hierarchical search: stage 1 fixes G per block, stage 2 the details.

    Drawn 8.6 inches wide, so that its 10-point text stays legible at the
    book's column width (about 690 pixels)."""
    fig, ax = canvas(8.6, 5.0)
    xs = (1.2, 3.2, 5.05, 6.9)
    widths = (1.75, 1.6, 1.5, 1.5)
    rows = [(3.85, "stage 1", "search space\ndistribution:\nG per block",
             "d_k, d_z, E, K fixed (middle)\ntiny: 4¹² ≈ 1.7·10⁷ paths"),
            (1.45, "stage 2", "search space\ndetails per block:\n(d_k, d_z, E, K)",
             "G fixed to stage 1's\ntiny: 9¹² to 81¹² paths")]
    for y, stage, space_text, fixed in rows:
        ax.text(0.12, y + 0.7, stage, fontsize=12, fontweight="bold")
        texts = (space_text, "supernet\n(SPOS: one path\nper step)",
                 "evolution\nunder a\nMACs limit", "retrain the\ntop 5, keep\nthe best")
        for x, w, text, color in zip(xs, widths, texts, (IO, MIXED, GLOBAL, LOCAL)):
            box(ax, x, y, w, 1.0, text, color, size=10)
        for i in range(3):
            arrow(ax, (xs[i] + widths[i] / 2, y), (xs[i + 1] - widths[i + 1] / 2, y))
        ax.text(xs[0], y - 0.6, fixed, ha="center", va="top", fontsize=10,
                color="#555555")
    # stage 1's result fixes the distribution of stage 2's space
    ax.plot([xs[3], xs[3], xs[0]], [3.35, 2.5, 2.5], color="#333333", lw=1.3)
    arrow(ax, (xs[0], 2.5), (xs[0], 1.97))
    ax.text(4.1, 2.6, "best distribution N* (G of every block)", ha="center",
            fontsize=10, color="#1f4e79")
    arrow(ax, (xs[3], 0.95), (xs[3], 0.5))
    ax.text(xs[3], 0.32, "found architecture", ha="center", va="center", fontsize=10)
    save(fig, "search_pipeline.svg")


def encoding(ax, x, y, values, colors, size=0.3, label=None, changed=()):
    """A path as one cell per block, each holding its choice; ``changed`` cells
    get a thick red frame."""
    for i, (v, c) in enumerate(zip(values, colors)):
        ax.add_patch(FancyBboxPatch((x + i * size, y - size / 2), size * 0.92, size,
                                    boxstyle="round,pad=0,rounding_size=0.04",
                                    facecolor=c, edgecolor="#c0392b" if i in changed
                                    else "#444444", lw=2.2 if i in changed else 0.8))
        ax.text(x + i * size + size * 0.46, y, str(v), ha="center", va="center",
                fontsize=9.5, family="DejaVu Sans Mono")
    if label:
        ax.text(x - 0.1, y, label, ha="right", va="center", fontsize=10)


def heads(ax, x, y, g, n=3, size=0.17):
    """N small head cells, global ones blue, local ones green."""
    for h in range(n):
        ax.add_patch(FancyBboxPatch((x + h * size * 1.15, y - size / 2), size, size,
                                    boxstyle="square,pad=0", lw=0.6, edgecolor="#444444",
                                    facecolor="#3182bd" if h < g else "#31a354"))


def spos_supernet() -> None:
    """SPOS: one module per choice and block, a path per step, weights shared."""
    fig, ax = canvas(8.0, 5.0)
    path_a, path_b = (3, 0, 1, 2), (1, 0, 2, 2)
    ys = [3.9, 3.15, 2.4, 1.65]
    colors = [LOCAL, MIXED, MIXED, GLOBAL]
    box(ax, 0.5, 2.78, 0.8, 1.3, "patch\nembed", IO, size=10)
    xs = [1.75 + 1.45 * j for j in range(4)]
    for j, x in enumerate(xs):
        ax.text(x, 4.4, f"block {j}", ha="center", fontsize=10, fontweight="bold")
        for g in range(4):
            on = g in (path_a[j], path_b[j])
            box(ax, x, ys[g], 1.15, 0.55, "", colors[g] if on else "#f4f4f4")
            ax.text(x - 0.5, ys[g], f"G={g}", va="center", fontsize=10)
            heads(ax, x + 0.0, ys[g], g)
        box(ax, x, 0.98, 1.15, 0.4, "FFN", FFN, size=10)
    box(ax, 7.5, 2.78, 0.75, 1.3, "norm\n+\nhead", IO, size=10)
    for path, color, style in ((path_a, "#d35400", "-"), (path_b, "#1f4e79", "--")):
        points = [(0.9, 2.78)] + [(x, ys[g]) for x, g in zip(xs, path)] + [(7.12, 2.78)]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            ax.add_patch(FancyArrowPatch((x0 + (0.58 if x0 > 1 else 0), y0),
                                         (x1 - (0.58 if x1 < 7 else 0), y1),
                                         arrowstyle="-|>", mutation_scale=12,
                                         color=color, lw=1.8, linestyle=style,
                                         shrinkA=0, shrinkB=0))
    ax.plot([0.15, 0.55], [0.42, 0.42], color="#d35400", lw=2)
    ax.text(0.62, 0.42, "step t: path (3, 0, 1, 2)", color="#d35400", fontsize=10,
            va="center")
    ax.plot([3.0, 3.4], [0.42, 0.42], color="#1f4e79", lw=2, ls="--")
    ax.text(3.47, 0.42, "step t+1: path (1, 0, 2, 2)", color="#1f4e79", fontsize=10,
            va="center")
    ax.text(0.15, 0.1, "Both train block 1's G=0 and block 3's G=2: shared weights. "
            "Other modules get no gradient.", fontsize=10, va="center")
    ax.text(4.0, 4.78, "SPOS supernet, stage 1 of digits: one module per choice, "
            "one path per step", ha="center", fontsize=11)
    save(fig, "spos_supernet.svg")


def evolution_step() -> None:
    """One generation: parents, mutation, crossover, random paths, rejections."""
    fig, ax = canvas(9.0, 5.6)
    palette = ["#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb"]
    ax.text(0.2, 5.3, "scored so far, best first", fontsize=11, fontweight="bold")
    ranked = [((6, 8, 4, 4), 47.8), ((6, 8, 4, 9), 46.9), ((3, 8, 5, 4), 46.4),
              ((6, 5, 4, 8), 45.0), ((2, 53, 5, 8), 41.4), ((0, 17, 60, 3), 33.1)]
    for r, (code, acc) in enumerate(ranked):
        y = 4.7 - 0.5 * r
        parent = r < 4
        encoding(ax, 0.35, y, code, palette if parent else ["#eeeeee"] * 4)
        ax.text(1.62, y, f"{acc:.1f}%", va="center", fontsize=10)
        if parent:
            ax.text(2.2, y, f"parent {r + 1}", va="center", fontsize=9, color="#1f4e79")
    ax.add_patch(FancyBboxPatch((0.25, 2.95), 2.65, 2.0, boxstyle="round,pad=0.02",
                                facecolor="none", edgecolor="#1f4e79", lw=1.5,
                                linestyle="--"))
    ax.text(1.55, 1.45, "the best 4 are the\nparents (top-k)", ha="center",
            fontsize=10, color="#1f4e79")
    ax.text(3.1, 5.3, "propose children", fontsize=11, fontweight="bold")
    encoding(ax, 3.95, 4.55, (6, 8, 4, 4), palette, label="mutate")
    arrow(ax, (5.2, 4.55), (5.5, 4.55))
    encoding(ax, 5.58, 4.55, (6, 8, 4, 7), palette[:3] + ["#ffffff"], changed=(3,))
    ax.text(3.95, 4.15, "each block redrawn with p = 0.1", fontsize=9, color="#555555")
    encoding(ax, 3.95, 3.3, (6, 8, 4, 9), ["#c6dbef"] * 4, label="cross")
    encoding(ax, 3.95, 2.92, (3, 8, 5, 4), ["#fdd0a2"] * 4)
    arrow(ax, (5.2, 3.11), (5.5, 3.11))
    encoding(ax, 5.58, 3.11, (6, 8, 4, 4), ["#c6dbef"] * 3 + ["#fdd0a2"])
    ax.text(3.95, 2.5, "blocks from parent 2 or 3: here\nparent 1 again", fontsize=9,
            color="#555555", va="top")
    encoding(ax, 3.95, 1.45, (4, 71, 12, 20), ["#ffffff"] * 4, label="random")
    arrow(ax, (5.2, 1.45), (5.5, 1.45))
    encoding(ax, 5.58, 1.45, (4, 71, 12, 20), ["#ffffff"] * 4)
    ax.text(3.95, 1.05, "fills the generation up to its size", fontsize=9,
            color="#555555")
    ax.text(7.05, 5.3, "checked first", fontsize=11, fontweight="bold")
    rows = [(4.55, "new: scored\non the supernet", "#2c7a2c", "✓"),
            (3.11, "seen before:\nrejected", "#c0392b", "✗"),
            (1.45, "MACs > limit:\nrejected", "#c0392b", "✗")]
    for y, text, color, mark in rows:
        arrow(ax, (6.85, y), (7.1, y))
        ax.text(7.17, y, mark, fontsize=15, color=color, va="center")
        ax.text(7.45, y, text, fontsize=10, color=color, va="center")
    ax.text(4.5, 0.55, "children that pass join the scored population; the next "
            "generation breeds from the new best 4", ha="center", fontsize=10)
    ax.plot([8.1, 8.1, 0.1, 0.1], [4.15, 0.25, 0.25, 4.7], color="#2c7a2c", lw=1.2)
    arrow(ax, (0.1, 4.7), (0.3, 4.7), color="#2c7a2c")
    save(fig, "evolution_step.svg")


def two_stages() -> None:
    """The joint space as rows (distributions) x columns (details); what the two
    stages look at, and where a better network can hide."""
    fig, ax = canvas(8.6, 4.4)
    rows, cols, x0, y0, cw, rh = 7, 12, 1.55, 0.35, 0.38, 0.44
    names = ["(3, 3, 3, 3)", "(1, 2, 2, 3)", "(0, 2, 1, 3)", "(1, 1, 2, 2)",
             "(2, 2, 3, 0)", "(1, 0, 2, 3)", "…"]
    mid, chosen, best = 5, 2, (5, 9)
    score = [46, 52, 58, 55, 49, 57, 0]
    for r in range(rows):
        y = y0 + (rows - 1 - r) * rh
        ax.text(x0 - 0.1, y + rh / 2, names[r], ha="right", va="center", fontsize=10,
                family="DejaVu Sans Mono")
        for c in range(cols):
            face = "#f4f4f4"
            if c == mid:
                face = "#c6dbef"
            if r == chosen:
                face = "#c7e9c0" if c != mid else "#9ecae1"
            ax.add_patch(FancyBboxPatch((x0 + c * cw, y + 0.04), cw * 0.9, rh * 0.84,
                                        boxstyle="round,pad=0,rounding_size=0.03",
                                        facecolor=face, edgecolor="#999999", lw=0.6))
        if r < rows - 1:
            ax.text(x0 + mid * cw + cw * 0.45, y + rh / 2, str(score[r]), ha="center",
                    va="center", fontsize=9)
    r, c = best
    y = y0 + (rows - 1 - r) * rh
    ax.text(x0 + c * cw + cw * 0.45, y + rh / 2 - 0.02, "★", ha="center", va="center",
            fontsize=15, color="crimson")
    top = y0 + rows * rh
    ax.text(x0 + cols * cw / 2, top + 0.12, "details (d_k, d_z, E, K) →",
            ha="center", fontsize=10)
    ax.text(0.1, top + 0.12, "distribution G", fontsize=10)
    right = x0 + cols * cw + 0.2
    ax.text(right, 2.95, "stage 1: one column, the\nmiddle details; scores every\n"
            "distribution (supernet %)", fontsize=10, color="#1f4e79", va="center")
    ax.text(right, 1.95, "stage 2: the row stage 1\nkept; searches its details",
            fontsize=10, color="#2c7a2c", va="center")
    ax.text(right, 0.85, "★ a better network whose\ndistribution ranked lower\n"
            "with middle details:\nneither stage looks there", fontsize=10,
            color="crimson", va="center")
    ax.text(4.3, 4.15, "The joint space, one row per distribution: what each stage sees",
            ha="center", fontsize=11, fontweight="bold")
    save(fig, "two_stages.svg")


def locality_kinds() -> None:
    """Three ways to add locality, on a 7 x 7 grid of patches plus the class
    token: which tokens one patch token reads."""
    fig, ax = canvas(8.6, 3.9)
    m, cell, token = 7, 0.27, 1 + 3 * 7 + 3          # the patch in the middle
    panels = [
        ("Conv1D local head, K = 9", "a fixed filter over 9 tokens\nof the sequence: "
         "wraps rows", range(token - 4, token + 5), False),
        ("window attention, 9 tokens", "the same 9 tokens and the class\ntoken, "
         "weighted by attention", range(token - 4, token + 5), False),
        ("Conv2D local head, 3 x 3", "the 8 grid neighbours: needs\nthe patches "
         "as an image", None, True),
    ]
    for p, (title, note, seen, square) in enumerate(panels):
        x0, y0 = 0.35 + p * 2.85, 0.95
        r0, c0 = divmod(token - 1, m)
        for i in range(1, m * m + 1):
            r, c = divmod(i - 1, m)
            covered = (abs(r - r0) <= 1 and abs(c - c0) <= 1) if square else i in seen
            face = "#d62728" if i == token else "#ff7f0e" if covered else "#f4f4f4"
            ax.add_patch(FancyBboxPatch((x0 + 0.45 + c * cell, y0 + (m - 1 - r) * cell),
                                        cell * 0.92, cell * 0.92, boxstyle="square,pad=0",
                                        facecolor=face, edgecolor="#999999", lw=0.5))
        cls_seen = p == 1  # window attention: every token reads the class token
        ax.add_patch(FancyBboxPatch((x0, y0 + (m - 1) * cell), cell * 0.92, cell * 0.92,
                                    boxstyle="square,pad=0",
                                    facecolor="#ff7f0e" if cls_seen else "#f4f4f4",
                                    edgecolor="#999999", lw=0.5))
        ax.text(x0 + cell * 0.46, y0 + m * cell + 0.05, "cls", ha="center", fontsize=9)
        ax.text(x0 + 1.4, 3.55, title, ha="center", fontsize=10, fontweight="bold")
        ax.text(x0 + 1.4, 0.75, note, ha="center", va="top", fontsize=10)
    save(fig, "locality_kinds.svg")


def main() -> None:
    local_head()
    global_local()
    block()
    glit_tiny()
    search_pipeline()
    spos_supernet()
    evolution_step()
    two_stages()
    locality_kinds()


if __name__ == "__main__":
    main()
