"""Joint names as readers see them (1-based NTU numbers, short names), and joint labels on a skeleton panel that do
not overlap: near joints' labels are fanned out with leader lines."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import offset_copy

from stviz.graph import SkeletonGraph

__all__ = ["annotate_joints", "joint_label", "joint_labels", "short_joint_names", "tick_labels"]


def short_joint_names(graph: SkeletonGraph | None = None) -> list[str]:
    """Joint names shortened for 25x25 heatmap ticks: ``'left hand tip'`` -> ``'L hand tip'``."""
    replacements = (
        ("base of spine", "spine base"), ("middle of spine", "spine mid"), ("left ", "L "), ("right ", "R "),
    )  # fmt: skip
    names = []
    for name in (SkeletonGraph() if graph is None else graph).joint_names:
        for old, new in replacements:
            name = name.replace(old, new)
        names.append(name)
    return names


def joint_label(index: int, graph: SkeletonGraph | None = None) -> str:
    """Reader-facing name of the joint at 0-based ``index``: its 1-based NTU number and short name, ``'J21 spine'``."""
    graph = SkeletonGraph() if graph is None else graph
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < graph.num_nodes:
        raise ValueError(f"index must be a 0-based joint index in 0..{graph.num_nodes - 1}, got {index!r}")
    return f"J{int(index) + 1} {short_joint_names(graph)[index]}"


def joint_labels(graph: SkeletonGraph | None = None) -> list[str]:
    """:func:`joint_label` of every joint, in index order: ``['J1 spine base', ..., 'J25 R thumb']`` on NTU."""
    graph = SkeletonGraph() if graph is None else graph
    return [joint_label(v, graph) for v in range(graph.num_nodes)]


def tick_labels(num_joints: int, style: str = "name") -> list[str]:
    """Axis ticks for V joints, one convention everywhere: 1-based numbers as in NTU's files.

    ``style="name"``: :func:`joint_labels` on NTU (V=25, ``'J1 spine base'``); ``style="number"``: ``'J1'`` ..
    ``'JV'``, also the ticks of a graph without NTU's names (V != 25)."""
    if style not in ("name", "number"):
        raise ValueError(f"style must be 'name' or 'number', got {style!r}")
    if style == "name" and num_joints == 25:
        return joint_labels()
    return [f"J{v + 1}" for v in range(num_joints)]


def _label_groups(
    pos: dict[int, tuple[float, float]],
    labels: dict[int, str],
    joints: list[int],
    left: bool,
    fontsize: float,
    per_point: float,
) -> list[list[int]]:
    """Joints on one side whose labels would collide at notebook size, in groups to fan out, each top to bottom.

    Each joint starts in its own group. Two groups merge while their label blocks (fanned one line apart about
    their mean height, widths estimated from the text lengths, from the innermost joint out) overlap or
    touch; ``per_point`` is the panel's scale, data units per typographic point.
    """
    side = -1.0 if left else 1.0

    def block(group: list[int]) -> tuple[float, float, float, float]:
        """(bottom, top, inner, outer) of the group's labels in data units, x measured outwards."""
        centre = float(np.mean([pos[v][1] for v in group]))
        half = (len(group) / 2) * (fontsize + 2.5) * per_point
        width = max(0.6 * fontsize * len(labels[v]) for v in group) + 9  # text, offset and marker radius
        xs = [side * pos[v][0] for v in group]
        return centre - half, centre + half, min(xs), max(xs) + width * per_point

    groups = [[v] for v in joints]
    merged = True
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (b0, t0, i0, o0), (b1, t1, i1, o1) = block(groups[a]), block(groups[b])
                if b0 < t1 and b1 < t0 and i0 < o1 and i1 < o0:
                    groups[a] += groups.pop(b)
                    merged = True
                    break
            if merged:
                break
    return [sorted(g, key=lambda v: -pos[v][1]) for g in groups]


def annotate_joints(ax: Axes, pos: dict[int, tuple[float, float]], labels: dict[int, str], fontsize: float = 7) -> None:
    """Write each label on the outer side of its joint (left of joints with x < 0), with room for it.

    Labels of joints too close to tell apart (a hand's four joints, neck and spine) are fanned out one line apart
    beside the group, each joined to its joint by a thin leader line, so no two labels overlap.
    """
    if not labels:
        return
    ax.margins(x=0.4, y=0.05)
    xs = [p[0] for p in pos.values()]
    centre = 0.02 * ((max(xs) - min(xs)) or 1.0)
    sides = ([v for v in labels if pos[v][0] < -centre], [v for v in labels if pos[v][0] >= -centre])
    ys = [p[1] for p in pos.values()]
    box = ax.get_position().transformed(ax.figure.transFigure)  # the panel before layout, in pixels
    height = box.height * 72 / ax.figure.dpi  # points; a standing skeleton fills the panel's height
    per_point = 1.2 * (max(ys) - min(ys) or 1.0) / max(height, 1.0)  # y margins, and a panel shrunk by the layout
    places = {}  # joint -> (text anchor in data, offset in points, left side, in a group)
    for left, joints in zip((True, False), sides, strict=True):
        for group in _label_groups(pos, labels, joints, left, fontsize, per_point):
            anchor = ((min if left else max)(pos[v][0] for v in group), float(np.mean([pos[v][1] for v in group])))
            for i, v in enumerate(group):
                dy = ((len(group) - 1) / 2 - i) * (fontsize + 2.5)  # one line apart, top to bottom
                places[v] = (anchor if len(group) > 1 else pos[v], dy, left, len(group) > 1)
    leader = {"arrowstyle": "-", "color": "0.55", "lw": 0.5, "shrinkA": 0, "shrinkB": 3}
    for v, text in labels.items():
        anchor, dy, left, grouped = places[v]
        ax.annotate(
            text, pos[v], xytext=anchor, ha="right" if left else "left", va="center", fontsize=fontsize,
            textcoords=offset_copy(ax.transData, fig=ax.figure, x=-5 if left else 5, y=dy, units="points"),
            arrowprops=leader if grouped else None,
        )  # fmt: skip
