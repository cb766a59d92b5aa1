"""04 · Multi-scale: a joint picker and k slider for k-hop scales, a window-size slider for the G3D graph.

Each explorer is a :class:`stviz.widgets.PictureBox`: controls above, the figure below as a PNG.
"""

from __future__ import annotations

import ipywidgets as widgets

from stviz.checks import check_choice, check_in_range
from stviz.graph import SkeletonGraph
from stviz.multiscale import multiscale_adjacency, window_adjacency
from stviz.viz import draw_scale_rows, draw_window_graph
from stviz.widgets import PictureBox, picture, show_figure
from stviz.widgets.choice import Choice

__all__ = ["HopExplorer", "WindowGraphExplorer", "hop_explorer", "window_graph_explorer"]


class HopExplorer(PictureBox):
    """Controls ``joint`` (dropdown) and ``k`` (slider); draws what the joint takes at scale k.

    After each change: ``power_row`` and ``disentangled_row`` (V,) are row ``joint`` of
    ``normalize(A+I)^k`` and of ``normalize(exactly-k-hop + I)``; ``ring`` the joints exactly k hops away.
    """

    def __init__(self, graph: SkeletonGraph | None = None, joint: int = 5, k: int = 3):
        self.graph = graph or SkeletonGraph()
        diameter = self.graph.diameter
        check_choice(joint, range(self.graph.num_nodes), "joint", "hop_explorer")
        check_in_range(k, 0, diameter, "k (hops)", "hop_explorer")
        self.powers = multiscale_adjacency(self.graph.binary_adjacency(), diameter + 1, disentangled=False)
        self.disentangled = multiscale_adjacency(self.graph.binary_adjacency(), diameter + 1)
        self.hops = self.graph.hop_distance()
        options = [(f"{v}: {name}", v) for v, name in enumerate(self.graph.joint_names)]
        self.joint = Choice(options=options, value=joint, description="joint")
        self.k = widgets.IntSlider(value=k, min=0, max=diameter, description="k")
        self.summary = widgets.Label()
        self.image = picture()
        super().__init__([widgets.HBox([self.joint, self.k]), self.summary, self.image])
        self.joint.observe(self.redraw, names="value")
        self.k.observe(self.redraw, names="value")
        self.redraw()

    def redraw(self, change=None) -> None:
        v, k = self.joint.value, self.k.value
        self.power_row = self.powers[k, v]
        self.disentangled_row = self.disentangled[k, v]
        self.ring = [u for u in range(self.graph.num_nodes) if self.hops[v, u] == k]
        near = float(self.power_row[self.hops[v] <= 1].sum() / self.power_row.sum())
        self.summary.value = (
            f"{len(self.ring)} joints exactly {k} hops from {self.graph.joint_names[v]}; "
            f"the power normalize(A+I)^{k} puts {near:.0%} of its weight on the joint itself and its 1-hop neighbours"
        )
        rows = {
            f"power normalize(A+I)^{k}": self.power_row,
            f"disentangled: exactly {k} hops (+ self)": self.disentangled_row,
        }
        title = f"what {self.graph.joint_names[v]} aggregates at scale k={k}"
        show_figure(self.image, draw_scale_rows(rows, v, self.graph, title=title))


class WindowGraphExplorer(PictureBox):
    """Controls ``window_size`` (slider) and ``joint``; ``window_graph`` is ``tile(A+I, (w, w))``, redrawn."""

    def __init__(self, graph: SkeletonGraph | None = None, window_size: int = 3, joint: int = 5):
        self.graph = graph or SkeletonGraph()
        check_in_range(window_size, 1, 6, "window_size", "window_graph_explorer")
        check_choice(joint, range(self.graph.num_nodes), "joint", "window_graph_explorer")
        self.window_size = widgets.IntSlider(value=window_size, min=1, max=6, description="window w")
        options = [(f"{v}: {name}", v) for v, name in enumerate(self.graph.joint_names)]
        self.joint = Choice(options=options, value=joint, description="joint")
        self.summary = widgets.Label()
        self.image = picture()
        super().__init__([widgets.HBox([self.window_size, self.joint]), self.summary, self.image])
        self.window_size.observe(self.redraw, names="value")
        self.joint.observe(self.redraw, names="value")
        self.redraw()

    def redraw(self, change=None) -> None:
        w, v = self.window_size.value, self.joint.value
        self.window_graph = window_adjacency(self.graph.binary_adjacency(), w)
        centre = (w // 2) * self.graph.num_nodes + v
        self.links = int(self.window_graph[centre].sum()) - 1
        self.summary.value = (
            f"{w * self.graph.num_nodes} nodes; {self.graph.joint_names[v]} in the middle frame links to {self.links} "
            f"other nodes: its copies in the other frames and its neighbours in all {w} frames"
        )
        show_figure(self.image, draw_window_graph(self.window_graph, w, v, graph=self.graph).figure)


def hop_explorer(joint: int = 5, k: int = 3) -> HopExplorer:
    """The notebook's one-call k-hop widget."""
    return HopExplorer(joint=joint, k=k)


def window_graph_explorer(window_size: int = 3, joint: int = 5) -> WindowGraphExplorer:
    """The notebook's one-call window-graph widget."""
    return WindowGraphExplorer(window_size=window_size, joint=joint)
