"""A Sankey-style chart of marts.path_edges, as inline SVG (no JavaScript).

One column per path step (step 1: the anchor's); a node is a label at a step, as tall
as the users who reached it there; a band from a node to the next column is as thick
as the users of that edge. Paths that stop flow into a grey ``end`` node. Per column
the ``max_nodes - 1`` largest labels are kept and the rest shown as ``other``.

:func:`sankey_layout` is the geometry (pure, tested); :func:`sankey_chart` draws it.
Vega-Lite (reports/specs.py, every other chart) has no Sankey mark, so this one chart is
drawn here, with the specs' palette and font; every text is escaped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from reports.html import esc
from reports.specs import FONT, PALETTE


def _frame(title: str, width: int, height: int) -> list[str]:
    """The opening of the chart's SVG: size, accessible name, background and title."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
        f'font-family="{FONT}" font-size="11">',
        f"<title>{esc(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13" '
        f'font-weight="600" fill="#1f2933">{esc(title)}</text>',
    ]


def _empty(title: str, width: int, height: int) -> str:
    parts = _frame(title, width, height)
    parts.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" '
                 'fill="#616e7c" font-style="italic">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


END, OTHER = "end", "other"
END_COLOR, OTHER_COLOR = "#9aa5b1", "#7b8794"
NODE_WIDTH = 10.0
NODE_GAP = 6.0
TOP, BOTTOM, SIDE = 28.0, 12.0, 12.0
LABEL_CHARS = 22


@dataclass(frozen=True)
class Edge:
    """One row of path_edges: users going from ``source`` at ``step`` to ``target``."""

    step: int
    source: str
    target: str
    users: float


@dataclass
class Node:
    column: int  # 0 for step 1
    label: str
    users: float
    x: float = 0.0
    y: float = 0.0
    height: float = 0.0


@dataclass
class Link:
    source: Node
    target: Node
    users: float
    y0: float = 0.0  # top of the band where it leaves the source
    y1: float = 0.0  # top of the band where it enters the target
    thickness: float = 0.0


@dataclass
class SankeyLayout:
    width: float
    height: float
    nodes: list[Node] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    scale: float = 0.0  # pixels per user


def _grouped(edges: Iterable[Edge], max_nodes: int) -> dict[tuple[int, str, str], float]:
    """(column of the source, source, target) -> users, with each column's small labels
    merged into ``other`` (``end`` is always kept)."""
    edges = [e for e in edges if e.users > 0]
    size: dict[tuple[int, str], float] = defaultdict(float)  # (column, label) -> users
    inflow: dict[tuple[int, str], float] = defaultdict(float)
    for e in edges:
        inflow[(e.step, e.target)] += e.users
    for e in edges:
        if e.step == 1:
            size[(0, e.source)] += e.users
    for (column, label), users in inflow.items():
        size[(column, label)] = users
    keep: set[tuple[int, str]] = set()
    for column in {c for c, _ in size}:
        ranked = sorted(((u, lb) for (c, lb), u in size.items() if c == column and lb != END),
                        key=lambda p: (-p[0], p[1]))
        kept = ranked if len(ranked) <= max_nodes else ranked[: max_nodes - 1]
        keep |= {(column, lb) for _, lb in kept} | {(column, END)}

    def name(column: int, label: str) -> str:
        return label if (column, label) in keep else OTHER

    out: dict[tuple[int, str, str], float] = defaultdict(float)
    for e in edges:
        out[(e.step - 1, name(e.step - 1, e.source), name(e.step, e.target))] += e.users
    return dict(out)


def sankey_layout(edges: Iterable[Edge], *, width: float = 960, height: float = 320,
                  max_nodes: int = 8) -> SankeyLayout:
    """Node and band geometry of the edges (pure). A column's nodes are ordered by users
    (``other`` and ``end`` last); node heights and band thicknesses share one scale, set
    by the fullest column."""
    flows = _grouped(edges, max(max_nodes, 2))
    layout = SankeyLayout(width, height)
    if not flows:
        return layout
    nodes: dict[tuple[int, str], Node] = {}
    out_users: dict[tuple[int, str], float] = defaultdict(float)
    in_users: dict[tuple[int, str], float] = defaultdict(float)
    for (column, source, target), users in flows.items():
        out_users[(column, source)] += users
        in_users[(column + 1, target)] += users
    for key in set(out_users) | set(in_users):
        # a node holds the users who reached it: its inflow (step 1: its outflow)
        users = in_users[key] if key[0] > 0 else out_users[key]
        nodes[key] = Node(key[0], key[1], users)
    columns = max(c for c, _ in nodes) + 1
    per_column: dict[int, list[Node]] = defaultdict(list)
    for node in nodes.values():
        per_column[node.column].append(node)
    rank = {OTHER: 1, END: 2}
    for column_nodes in per_column.values():
        column_nodes.sort(key=lambda n: (rank.get(n.label, 0), -n.users, n.label))
    plot_h = height - TOP - BOTTOM
    fullest = max(sum(n.users for n in ns) for ns in per_column.values())
    most_gaps = max(len(ns) - 1 for ns in per_column.values())
    layout.scale = max(plot_h - most_gaps * NODE_GAP, 1.0) / fullest
    step_w = (width - 2 * SIDE - NODE_WIDTH) / max(columns - 1, 1)
    for column, column_nodes in per_column.items():
        y = TOP
        for node in column_nodes:
            node.x = SIDE + column * step_w
            node.y = y
            node.height = node.users * layout.scale
            y += node.height + NODE_GAP
    links = [Link(nodes[(c, s)], nodes[(c + 1, t)], u) for (c, s, t), u in flows.items()]
    order = {id(n): i for ns in per_column.values() for i, n in enumerate(ns)}
    leaving: dict[int, float] = defaultdict(float)
    entering: dict[int, float] = defaultdict(float)
    for link in sorted(links, key=lambda k: (order[id(k.source)], order[id(k.target)])):
        link.thickness = link.users * layout.scale
        link.y0 = link.source.y + leaving[id(link.source)]
        leaving[id(link.source)] += link.thickness
    for link in sorted(links, key=lambda k: (order[id(k.target)], order[id(k.source)])):
        link.y1 = link.target.y + entering[id(link.target)]
        entering[id(link.target)] += link.thickness
    layout.nodes = sorted(nodes.values(), key=lambda n: (n.column, n.y))
    layout.links = links
    return layout


def _color(label: str, colors: dict[str, str]) -> str:
    if label == END:
        return END_COLOR
    if label == OTHER:
        return OTHER_COLOR
    return colors.setdefault(label, PALETTE[len(colors) % len(PALETTE)])


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def sankey_chart(edges: Iterable[Edge], *, title: str, width: int = 960,
                 height: int = 320, max_nodes: int = 8) -> str:
    """The Sankey chart of one path's edges (one creator scope), as inline SVG."""
    layout = sankey_layout(edges, width=width, height=height, max_nodes=max_nodes)
    if not layout.nodes:
        return _empty(title, width, height)
    colors: dict[str, str] = {}
    for node in layout.nodes:  # colors in order of appearance, step 1 first
        _color(node.label, colors)
    parts = _frame(title, width, height)
    for link in layout.links:
        x0 = link.source.x + NODE_WIDTH
        x1 = link.target.x
        xm = (x0 + x1) / 2
        t = max(link.thickness, 0.5)
        d = (f"M{x0:.1f},{link.y0:.1f} C{xm:.1f},{link.y0:.1f} {xm:.1f},{link.y1:.1f} "
             f"{x1:.1f},{link.y1:.1f} L{x1:.1f},{link.y1 + t:.1f} "
             f"C{xm:.1f},{link.y1 + t:.1f} {xm:.1f},{link.y0 + t:.1f} {x0:.1f},{link.y0 + t:.1f} Z")
        parts.append(f'<path d="{d}" fill="{_color(link.source.label, colors)}" '
                     f'fill-opacity="0.32" stroke="none"><title>{esc(link.source.label)} → '
                     f"{esc(link.target.label)}: {link.users:,.0f} users</title></path>")
    last = max(n.column for n in layout.nodes)
    labels: list[str] = []
    for node in layout.nodes:
        h = max(node.height, 0.5)
        parts.append(f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_WIDTH:.0f}" '
                     f'height="{h:.1f}" fill="{_color(node.label, colors)}">'
                     f"<title>step {node.column + 1}: {esc(node.label)}: "
                     f"{node.users:,.0f} users</title></rect>")
        if h < 9:  # no room for a label: the tooltip has it
            continue
        right = node.column < last
        tx = node.x + NODE_WIDTH + 4 if right else node.x - 4
        # drawn after every node and band, with a white outline, so the next column's
        # nodes never cover a label
        labels.append(f'<text x="{tx:.1f}" y="{node.y + h / 2 + 4:.1f}" '
                      f'text-anchor="{"start" if right else "end"}" fill="#1f2933" '
                      'stroke="#ffffff" stroke-width="3" paint-order="stroke">'
                      f"{esc(_short(node.label))} ({node.users:,.0f})</text>")
    parts += labels
    parts.append("</svg>")
    return "".join(parts)
