"""Drawing: skeletons, adjacency heatmaps, matrices on the skeleton, partitions, animations, topic plots.

Every function takes an optional ``ax`` (or ``axes``) and returns what it drew; nothing is shown at import
and no global style is changed. :mod:`stviz.viz.core` holds what every notebook uses; one module per topic holds
that notebook's plots. Everything is importable from here: ``from stviz.viz import draw_skeleton``.
"""

from stviz.viz.channel import (
    plot_attention_gates,
    plot_shift_patterns,
)
from stviz.viz.core import (
    Convention,
    adjacency_heatmap,
    animate_sequence,
    draw_filmstrip,
    draw_matrix_on_skeleton,
    draw_skeleton,
    matrix_edges,
    plot_partitions,
    short_joint_names,
)
from stviz.viz.multiscale import (
    draw_scale_rows,
    draw_window_graph,
)
from stviz.viz.spatial import (
    plot_shift_table,
    plot_topology_grid,
    shift_matrix,
)
from stviz.viz.temporal import (
    plot_interpolation_weights,
    plot_receptive_field,
)
from stviz.viz.tsm import (
    plot_shift_sources,
)

__all__ = [
    "Convention",
    "short_joint_names",
    "matrix_edges",
    "draw_skeleton",
    "adjacency_heatmap",
    "draw_matrix_on_skeleton",
    "plot_partitions",
    "draw_filmstrip",
    "animate_sequence",
    "plot_topology_grid",
    "shift_matrix",
    "plot_shift_table",
    "plot_receptive_field",
    "plot_interpolation_weights",
    "plot_shift_patterns",
    "plot_attention_gates",
    "draw_scale_rows",
    "draw_window_graph",
    "plot_shift_sources",
]
