"""Drawing small directed graphs as SVG, with a layered layout computed here (no Graphviz, no web service).

Nodes sit in layers (longest path from the sources after dropping the edges that close
cycles, or layers the caller assigns); edges between neighbouring layers are straight,
edges that skip layers arc around the right side and edges that go back up (loops)
arc around the left side, each further out the longer it is, so no edge runs through a
node. Good for the graphs agentrag draws: a dozen nodes, a few loops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

NODE_W, NODE_H, LAYER_GAP, COL_GAP, ARC_STEP = 150, 40, 34, 40, 16


@dataclass(frozen=True)
class Node:
    """A node to draw: id, label lines and CSS classes (``visited``, ``current``, a level...)."""

    id: str
    label: str
    sub: str = ""
    classes: tuple[str, ...] = ()
    href: str | None = None
    title: str = ""


@dataclass(frozen=True)
class Edge:
    """An edge; ``classes`` such as ``taken``; ``label`` e.g. how often it was taken."""

    source: str
    target: str
    classes: tuple[str, ...] = ()
    label: str = ""
    dashed: bool = False


@dataclass
class Layout:
    """Positions (centre x, top y) per node id and the drawing size."""

    pos: dict[str, tuple[float, float]] = field(default_factory=dict)
    layer: dict[str, int] = field(default_factory=dict)
    width: float = 0.0
    height: float = 0.0


def layers_of(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layers after removing back edges found by a depth-first search in node order."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in edges:
        if s in out and t in out:
            out[s].append(t)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    def dfs(n: str) -> None:
        state[n] = 1
        for t in out[n]:
            if state.get(t) == 1:
                back.add((n, t))
            elif t not in state:
                dfs(t)
        state[n] = 2

    for n in nodes:
        if n not in state:
            dfs(n)
    layer = {n: 0 for n in nodes}
    for _ in range(len(nodes)):  # relax: a DAG settles within |nodes| passes
        changed = False
        for s, t in edges:
            if (s, t) not in back and s in layer and t in layer and layer[t] < layer[s] + 1:
                layer[t] = layer[s] + 1
                changed = True
        if not changed:
            break
    return layer


def layout(nodes: Sequence[Node], layer: Mapping[str, int], margin_left: float, margin_right: float) -> Layout:
    """Place nodes: one row per layer, rows centred; margins leave room for the side arcs."""
    rows: dict[int, list[str]] = {}
    for n in nodes:
        rows.setdefault(layer[n.id], []).append(n.id)
    widest = max(len(r) for r in rows.values()) if rows else 1
    inner = widest * NODE_W + (widest - 1) * COL_GAP
    out = Layout(layer=dict(layer))
    for li, ids in sorted(rows.items()):
        row_w = len(ids) * NODE_W + (len(ids) - 1) * COL_GAP
        x0 = margin_left + (inner - row_w) / 2 + NODE_W / 2
        for k, nid in enumerate(ids):
            out.pos[nid] = (x0 + k * (NODE_W + COL_GAP), 12 + li * (NODE_H + LAYER_GAP))
    out.width = margin_left + inner + margin_right
    out.height = 12 + (max(rows) + 1 if rows else 1) * (NODE_H + LAYER_GAP)
    return out


def _path(e: Edge, lay: Layout, arcs: dict[str, int]) -> tuple[str, tuple[float, float]]:
    """SVG path data and a label anchor for one edge."""
    (x1, y1), (x2, y2) = lay.pos[e.source], lay.pos[e.target]
    l1, l2 = lay.layer[e.source], lay.layer[e.target]
    if l2 == l1 + 1 or (l1 == l2 and abs(x1 - x2) > 1):
        if l1 == l2:  # same row: side to side
            sx = x1 + (NODE_W / 2 if x2 > x1 else -NODE_W / 2)
            tx = x2 - (NODE_W / 2 if x2 > x1 else -NODE_W / 2)
            ym = y1 + NODE_H / 2
            return f"M{sx:.1f},{ym:.1f} L{tx:.1f},{ym:.1f}", ((sx + tx) / 2, ym - 5)
        sy, ty = y1 + NODE_H, y2
        my = (sy + ty) / 2
        d = f"M{x1:.1f},{sy:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{ty:.1f}"
        return d, ((x1 + x2) / 2 + 14, my + 4)
    side = "left" if l2 <= l1 else "right"
    arcs[side] += 1
    off = 22 + ARC_STEP * arcs[side]
    sgn = -1 if side == "left" else 1
    sx, tx = x1 + sgn * NODE_W / 2, x2 + sgn * NODE_W / 2
    cx = (min(sx, tx) if side == "left" else max(sx, tx)) + sgn * off
    sy, ty = y1 + NODE_H / 2 + (5 if side == "left" else -5), y2 + NODE_H / 2 + (-5 if side == "left" else 5)
    d = f"M{sx:.1f},{sy:.1f} C{cx:.1f},{sy:.1f} {cx:.1f},{ty:.1f} {tx:.1f},{ty:.1f}"
    return d, (cx - sgn * off * 0.25, (sy + ty) / 2)


def render(nodes: Sequence[Node], edges: Sequence[Edge], layer: Mapping[str, int] | None = None,
           css_class: str = "graph", title: str = "") -> str:
    """The SVG element (inline; styled by the page's CSS through the classes)."""
    layer = layer or layers_of([n.id for n in nodes], [(e.source, e.target) for e in edges])
    long_fwd = sum(1 for e in edges if layer[e.target] > layer[e.source] + 1)
    back = sum(1 for e in edges if layer[e.target] < layer[e.source] or e.source == e.target)
    lay = layout(nodes, layer, 16 + ARC_STEP * (back + 1), 16 + ARC_STEP * (long_fwd + 1))
    arcs = {"left": 0, "right": 0}
    ordered = sorted(edges, key=lambda e: abs(layer[e.target] - layer[e.source]))  # short arcs inside
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" role="img" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" width="{lay.width:.0f}" height="{lay.height:.0f}">',
        f"<title>{escape(title)}</title>" if title else "",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker>'
        '<marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead taken"/></marker></defs>',
    ]
    for e in ordered:
        if e.source not in lay.pos or e.target not in lay.pos:
            continue
        d, (lx, ly) = _path(e, lay, arcs)
        cls = " ".join(("edge", *e.classes))
        marker = "arrow-taken" if "taken" in e.classes else "arrow"
        dash = ' stroke-dasharray="5 4"' if e.dashed else ""
        parts.append(
            f'<path class="{cls}" data-source="{escape(e.source)}" data-target="{escape(e.target)}" d="{d}"'
            f'{dash} marker-end="url(#{marker})"/>'
        )
        if e.label:
            parts.append(f'<text class="edge-label {cls}" x="{lx:.1f}" y="{ly:.1f}">{escape(e.label)}</text>')
    for n in nodes:
        x, y = lay.pos[n.id]
        cls = " ".join(("node", *n.classes))
        box = (
            f'<g class="{cls}" data-node="{escape(n.id)}"><title>{escape(n.title or n.label)}</title>'
            f'<rect x="{x - NODE_W / 2:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="9"/>'
        )
        if n.sub:
            box += (f'<text class="label" x="{x:.1f}" y="{y + 17:.1f}">{escape(n.label)}</text>'
                    f'<text class="sub" x="{x:.1f}" y="{y + 31:.1f}">{escape(n.sub)}</text>')
        else:
            box += f'<text class="label" x="{x:.1f}" y="{y + 25:.1f}">{escape(n.label)}</text>'
        box += "</g>"
        parts.append(f'<a href="{escape(n.href)}">{box}</a>' if n.href else box)
    parts.append("</svg>")
    return "".join(parts)
