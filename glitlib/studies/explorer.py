"""The head-distribution explorer: set G per block, see params, MACs and the network.

Everything that computes lives in pure functions (no widgets, no figures kept
open), so it is tested like the rest of glitlib; :func:`explorer` only wires
them to ipywidgets, imported when the explorer is built, never at import time.

The rule for the low-level choices of a block whose G changes: *keep what the
preset says, fill what it leaves open with the space's middle candidate*. A
block keeps its own ``d_z`` always, its ``d_k`` if it had a global head, its
``e`` and ``k`` if it had a local head; a value the new G needs but the preset
block did not have (``d_k`` for a formerly all-local block, ``e`` and ``k``
for a formerly all-global one) becomes the middle candidate, the value stage 1
fixes too. The rule is applied to the preset, not to the previous edit, so
moving a slider back restores the preset block exactly. On DeiT-Tiny
(``d_k = 64``, ``d_z = 4``) every edited network is therefore a path of
stage 1's supernet.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ArchitectureError
from ..model.arch import NAMED_ARCHS, Arch, BlockArch, all_global, get_arch, load_arch
from ..model.costs import CostModel, count
from ..model.space import SPACES, SearchSpace

__all__ = [
    "KIND_COLORS", "block_kind", "reference_arch", "check_distribution", "with_distribution",
    "cycle_block", "describe", "presets", "draw_network", "draw_block_macs", "figure",
    "png", "summary_html", "page_data", "explorer",
]

# Global heads blue, local heads orange (as in glitlib.plots); blocks by kind.
HEAD_COLORS = {"global": "tab:blue", "local": "tab:orange"}
KIND_COLORS = {"global": "#9ecae1", "mixed": "#c7a8d8", "local": "#fdbe85"}


def block_kind(g: int, num_heads: int) -> str:
    """``"global"`` (G = N), ``"local"`` (G = 0) or ``"mixed"``."""
    return "global" if g == num_heads else "local" if g == 0 else "mixed"


def reference_arch(space: SearchSpace) -> Arch:
    """The network the explorer compares with: the space's all-global network
    (:func:`~glitlib.model.arch.all_global`), named DeiT-Tiny, -Small, -Base on the
    paper's spaces."""
    arch = all_global(space)
    named = NAMED_ARCHS.get(f"deit-{space.name}")
    if named is not None and SPACES[named[0]] == space and named[1] == arch:
        arch = Arch(arch.blocks, name=f"DeiT-{space.name.capitalize()}")
    return arch


def check_distribution(space: SearchSpace, distribution: Sequence[int]) -> tuple[int, ...]:
    """The distribution as a tuple, or :class:`~glitlib.errors.ArchitectureError` naming
    the problem."""
    dist = tuple(distribution)
    if len(dist) != space.depth:
        raise ArchitectureError(
            f"distribution has {len(dist)} blocks but space {space.name!r} has depth "
            f"{space.depth}; give one number of global heads per block"
        )
    n = space.num_heads
    for i, g in enumerate(dist):
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g <= n:
            raise ArchitectureError(
                f"block {i}: G={g!r} global heads is impossible with N={n} heads per "
                f"block; give an integer from 0 to {n}"
            )
    return dist


def _with_g(space: SearchSpace, b: BlockArch, g: int) -> BlockArch:
    # Keep the preset block's values, fill the missing ones with middle candidates.
    return BlockArch(
        g=g,
        d_k=(b.d_k if b.d_k is not None else space.middle("d_k")) if g > 0 else None,
        d_z=b.d_z,
        e=(b.e if b.e is not None else space.middle("e")) if g < space.num_heads else None,
        k=(b.k if b.k is not None else space.middle("k")) if g < space.num_heads else None,
    )


def with_distribution(space: SearchSpace, base: Arch, distribution: Sequence[int]) -> Arch:
    """``base`` with G per block replaced by ``distribution`` (the module's fill rule).

    Blocks whose G does not change are returned as they are.
    """
    dist = check_distribution(space, distribution)
    base.validate(space)
    blocks = tuple(b if b.g == g else _with_g(space, b, g) for b, g in zip(base.blocks, dist))
    name = base.name if dist == base.distribution else f"{base.name or 'arch'} (edited)"
    return Arch(blocks, name=name).validate(space)


def cycle_block(space: SearchSpace, distribution: Sequence[int], block: int) -> tuple[int, ...]:
    """One click on ``block``: its G goes up by one, from N back to 0."""
    dist = check_distribution(space, distribution)
    if not 0 <= block < space.depth:
        raise ArchitectureError(
            f"block {block} does not exist; space {space.name!r} has blocks "
            f"0 to {space.depth - 1}"
        )
    g = (dist[block] + 1) % (space.num_heads + 1)
    return dist[:block] + (g,) + dist[block + 1:]


def describe(space: SearchSpace, arch: Arch, reference: Arch | None = None) -> dict[str, Any]:
    """Params, MACs (the exact counter), ratios to the reference, and every block.

    ``reference`` defaults to :func:`reference_arch` (DeiT-Tiny in the tiny space).
    Each entry of ``blocks`` holds the block's choices, kind and own cost; the
    stem (embedding, final norm, head) is reported apart, so the blocks and
    the stem add up to the totals.
    """
    arch.validate(space)
    ref_arch = reference or reference_arch(space)
    costs = CostModel(space)
    total, ref = count(space, arch), count(space, ref_arch)
    n = space.num_heads
    blocks = []
    for i, b in enumerate(arch.canonical(space).blocks):
        c = costs.block(b)
        blocks.append({"index": i, "g": b.g, "l": n - b.g, "kind": block_kind(b.g, n),
                       "d_k": b.d_k, "d_z": b.d_z, "e": b.e, "k": b.k,
                       "params": c.params, "macs": c.macs})
    kinds = [row["kind"] for row in blocks]
    return {
        "space": space.name, "name": arch.name, "distribution": arch.distribution,
        "params": total.params, "macs": total.macs,
        "reference": ref_arch.name, "reference_params": ref.params,
        "reference_macs": ref.macs, "params_ratio": total.params / ref.params,
        "macs_ratio": total.macs / ref.macs,
        "stem_params": costs.stem.params, "stem_macs": costs.stem.macs,
        "kinds": {k: kinds.count(k) for k in ("global", "mixed", "local")},
        "blocks": blocks,
    }


def presets(search_results: Sequence[str | Path] = ()) -> dict[str, tuple[SearchSpace, Arch]]:
    """DeiT-Tiny, the released GLiT-Tiny, and one entry per search-result file.

    A search result is an ``arch.json`` as ``glit search`` writes it (it names
    its space); its entry is called after its folder. A missing file raises
    :class:`~glitlib.errors.ArchitectureError`.
    """
    out = {"DeiT-Tiny": get_arch("deit-tiny"), "GLiT-Tiny": get_arch("glit-tiny")}
    for path in search_results:
        space, arch = load_arch(path)
        out[f"search result: {Path(path).resolve().parent.name} ({space.name})"] = (space, arch)
    return out


# -- pictures (matplotlib, drawn on axes the caller owns) ----------------------
def draw_network(space: SearchSpace, arch: Arch, ax: Any, highlight: int | None = None,
                 fontsize: float | None = None) -> Any:
    """Each block a column of N head cells, global heads blue at the bottom,
    local heads orange above, labelled G/L; the block's kind shades its frame.
    ``fontsize``, if given, sets the labels, the legend and the axis text
    (else: labels and legend 8 points, the axes matplotlib's default)."""
    from matplotlib.patches import Rectangle

    small = fontsize or 8
    n = space.num_heads
    for i, b in enumerate(arch.blocks):
        kind = block_kind(b.g, n)
        ax.add_patch(Rectangle((i - 0.45, -0.15), 0.9, n + 0.3, color=KIND_COLORS[kind],
                               lw=2.5 if i == highlight else 0, ec="black"))
        for h in range(n):
            color = HEAD_COLORS["global" if h < b.g else "local"]
            ax.add_patch(Rectangle((i - 0.35, h + 0.05), 0.7, 0.9, color=color))
        ax.text(i, n + 0.35, f"{b.g}/{n - b.g}", ha="center", va="bottom",
                fontsize=small)
    for kind, color in HEAD_COLORS.items():
        ax.add_patch(Rectangle((0, 0), 0, 0, color=color, label=f"{kind} head"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=small, frameon=False)
    ax.set_xlim(-0.6, space.depth - 0.4)
    ax.set_ylim(-0.3, n + 1.1)
    ax.set_xticks(range(space.depth))
    if fontsize:
        ax.tick_params(labelsize=fontsize)
    ax.set_yticks([])
    ax.set_xlabel("block (label: global/local heads)", fontsize=fontsize)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return ax


def draw_block_macs(info: dict[str, Any], ax: Any, reference: dict[str, Any] | None = None) -> Any:
    """MACs of every block (from :func:`describe`), coloured by kind; the
    reference's blocks as grey outlines."""
    idx = [row["index"] for row in info["blocks"]]
    ax.bar(idx, [row["macs"] / 1e6 for row in info["blocks"]],
           color=[KIND_COLORS[row["kind"]] for row in info["blocks"]], edgecolor="dimgrey")
    if reference is not None:
        ax.bar(idx, [row["macs"] / 1e6 for row in reference["blocks"]], fill=False,
               edgecolor="black", ls="--", lw=1, label=reference["name"])
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_xticks(idx)
    ax.set_ylabel("MACs (millions)")
    ax.set_xlabel("block")
    return ax


def figure(space: SearchSpace, arch: Arch, reference: Arch | None = None,
           highlight: int | None = None, dpi: int = 80) -> Any:
    """The explorer's picture: the network above, MACs per block below.

    A pyplot-free ``matplotlib.figure.Figure``: nothing is left open.
    """
    from matplotlib.figure import Figure

    reference = reference or reference_arch(space)
    info = describe(space, arch, reference)
    fig = Figure(figsize=(max(6.5, 0.55 * space.depth + 2.5), 4.2), dpi=dpi)
    top, bottom = fig.subplots(2, 1, height_ratios=[1.1, 1])
    draw_network(space, arch, top, highlight)
    top.set_title(f"{info['params']:,d} params, {info['macs']:,d} MACs "
                  f"({info['macs_ratio']:.2f}x {info['reference']})", fontsize=9)
    draw_block_macs(info, bottom, describe(space, reference, reference))
    fig.tight_layout()
    return fig


def png(fig: Any) -> bytes:
    """A figure as PNG bytes: shows the same in every front end, whatever its
    matplotlib backend."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def summary_html(info: dict[str, Any]) -> str:
    """The numbers of :func:`describe` as a small HTML table."""
    rows = [
        ("params", f"{info['params']:,d}", f"{info['params_ratio']:.3f}x"),
        ("MACs", f"{info['macs']:,d}", f"{info['macs_ratio']:.3f}x"),
    ]
    body = "".join(f"<tr><td>{a}</td><td style='text-align:right'>{b}</td>"
                   f"<td style='text-align:right'>{c}</td></tr>" for a, b, c in rows)
    kinds = ", ".join(f"{v} {k}" for k, v in info["kinds"].items())
    return (f"<table><tr><th></th><th>this network</th><th>vs {info['reference']}"
            f"</th></tr>{body}</table><div>blocks: {kinds}; distribution "
            f"{list(info['distribution'])}</div>")


# -- the web page's version -------------------------------------------------------
def _key(b: BlockArch) -> str:
    # A block as the page script writes it: its five values, "-" for unused ones.
    return ",".join("-" if v is None else str(v) for v in (b.g, b.d_k, b.d_z, b.e, b.k))


def _row(b: BlockArch) -> list[int | None]:
    return [b.g, b.d_k, b.d_z, b.e, b.k]


def page_data(preset: str = "GLiT-Tiny",
              search_results: Sequence[str | Path] = ()) -> dict[str, Any]:
    """What the static explorer of the book's web page needs, as plain JSON values.

    Per space: the stem's cost, the middle candidates of the fill rule, the
    reference network, and the cost of every block a slider or a click can reach
    from a preset (every G of every block, filled by :func:`with_distribution`'s
    rule), keyed as ``"g,d_k,d_z,e,k"`` with ``-`` for an unused value. The page
    sums those costs: the stem's plus one per block, exactly :func:`describe`'s
    totals (the tests check it against :func:`~glitlib.model.costs.count`).
    """
    options = presets(search_results)
    if preset not in options:
        raise ArchitectureError(f"unknown preset {preset!r}; choose one of {list(options)}")
    spaces: dict[str, Any] = {}
    rows = []
    for name, (space, arch) in options.items():
        arch.validate(space)
        if space.name not in spaces:
            ref = reference_arch(space)
            costs = CostModel(space)
            spaces[space.name] = {
                "num_heads": space.num_heads, "depth": space.depth,
                "middle": {key: space.middle(key) for key in ("d_k", "e", "k")},
                "stem": [costs.stem.params, costs.stem.macs],
                "reference": {"name": ref.name, "blocks": [_row(b) for b in ref.blocks]},
                "costs": {}, "_model": costs, "_ref": ref,
            }
        entry = spaces[space.name]
        for base in (arch, entry["_ref"]):
            for b in base.blocks:
                for g in range(space.num_heads + 1):
                    block = b if g == b.g else _with_g(space, b, g)
                    c = entry["_model"].block(block)
                    entry["costs"][_key(block)] = [c.params, c.macs]
        rows.append({"name": name, "space": space.name,
                     "blocks": [_row(b) for b in arch.blocks]})
    for entry in spaces.values():
        del entry["_model"], entry["_ref"]
    return {"initial": preset, "presets": rows, "spaces": spaces,
            "colors": {"head": {"global": "#1f77b4", "local": "#ff7f0e"},
                       "kind": KIND_COLORS}}


# -- the widget ------------------------------------------------------------------
def explorer(preset: str = "GLiT-Tiny", search_results: Sequence[str | Path] = ()) -> Any:
    """The interactive explorer: a preset menu, the network as a row of
    clickable blocks (a click adds a global head, N wraps to 0), one G slider
    per block, the live numbers and the picture. Returns an ipywidgets box,
    which the book's web page shows as its static version (:func:`page_data`,
    :mod:`glitlib.studies.page`).
    """
    import ipywidgets as widgets
    from IPython.display import Image, display

    from .page import with_page

    options = presets(search_results)
    if preset not in options:
        raise ArchitectureError(f"unknown preset {preset!r}; choose one of {list(options)}")
    menu = widgets.Dropdown(options=list(options), value=preset, description="preset")
    index_row, blocks_row, sliders_row = widgets.HBox(), widgets.HBox(), widgets.HBox()
    numbers, picture = widgets.HTML(), widgets.Output()
    state: dict[str, Any] = {"busy": False}

    def distribution() -> tuple[int, ...]:
        return tuple(s.value for s in sliders_row.children)

    def refresh(highlight: int | None = None) -> None:
        space, base = state["space"], state["base"]
        arch = with_distribution(space, base, distribution())
        info = describe(space, arch)
        for button, row in zip(blocks_row.children, info["blocks"]):
            button.description = f"{row['g']}/{row['l']}"
            button.style.button_color = KIND_COLORS[row["kind"]]
        numbers.value = summary_html(info)
        with picture:
            picture.clear_output(wait=True)
            display(Image(png(figure(space, arch, highlight=highlight))))

    def on_slide(change: dict) -> None:
        if not state["busy"]:
            refresh(sliders_row.children.index(change["owner"]))

    def on_click(button: Any) -> None:
        i = blocks_row.children.index(button)
        dist = cycle_block(state["space"], distribution(), i)
        state["busy"] = True
        sliders_row.children[i].value = dist[i]
        state["busy"] = False
        refresh(i)

    def load(name: str) -> None:
        space, base = options[name]
        state.update(space=space, base=base.validate(space))
        for row in (index_row, blocks_row, sliders_row):  # the previous preset's
            for old in row.children:
                old.close()
        width = "60px"
        index_row.children = [widgets.HTML(f"<div style='text-align:center'>{i}</div>",
                                           layout=widgets.Layout(width=width))
                              for i in range(space.depth)]
        sliders_row.children = [
            widgets.IntSlider(value=b.g, min=0, max=space.num_heads, readout=False,
                              orientation="vertical",
                              layout=widgets.Layout(width=width, height="90px"))
            for b in base.blocks
        ]
        blocks_row.children = [widgets.Button(description="", layout=widgets.Layout(width=width),
                                              tooltip=f"block {i}: click to add a global head")
                               for i in range(space.depth)]
        for s in sliders_row.children:
            s.observe(on_slide, names="value")
        for button in blocks_row.children:
            button.on_click(on_click)
        refresh()

    menu.observe(lambda change: load(change["new"]), names="value")
    load(preset)
    hint = widgets.HTML("Click a block to add a global head (N wraps round to 0), or "
                        "set its number of global heads, G, with the slider below it.")
    return with_page([menu, hint, index_row, blocks_row, sliders_row, numbers, picture],
                     "explorer", page_data(preset, search_results))
