"""Drawing: skeletons, adjacency heatmaps, matrices on the skeleton, partitions, animations, topic plots.

Every function takes an optional ``ax`` (or ``axes``) and returns what it drew; nothing is shown at import
and no global style is changed (only :func:`use_style` sets the shared resolution, when called).
:mod:`stviz.viz.core` holds what every notebook uses, :mod:`stviz.viz.sequence` the filmstrip and animation,
:mod:`stviz.viz.style` the one resolution and width; one module per topic holds that notebook's plots.
The common functions are importable from here (``from stviz.viz import draw_skeleton``); the rest from their
modules (``stviz.viz.spatial``, ``stviz.viz.tsm``, ``stviz.viz.contrast``, ...).
"""

from stviz.viz.channel import (
    plot_gate_by_part,
    plot_joint_gates,
    plot_shift_patterns,
    plot_subset_refinements,
)
from stviz.viz.core import (
    Convention,
    adjacency_heatmap,
    draw_matrix_on_skeleton,
    draw_skeleton,
    matrix_edges,
    plot_partitions,
    plot_subset_heatmaps,
    skeleton_weight_key,
)
from stviz.viz.labels import joint_label, joint_labels, short_joint_names, tick_labels
from stviz.viz.multiscale import (
    draw_scale_rows,
    draw_window_graph,
    heatmaps_shared_scale,
    plot_contraction_costs,
    plot_power_magnitudes,
    plot_weight_shares,
)
from stviz.viz.preprocessing import plot_fixed_length, plot_pipelines, plot_preprocessing_steps
from stviz.viz.sequence import (
    FrameAnimation,
    animate_sequence,
    draw_bone_vectors,
    draw_filmstrip,
    draw_motion_arrows,
    draw_streams,
)
from stviz.viz.spatial import (
    plot_shift_table,
    plot_topology_grid,
    shift_matrix,
)
from stviz.viz.style import (
    DPI,
    WIDTH,
    png_bytes,
    use_style,
)
from stviz.viz.temporal import (
    plot_interpolation_weights,
    plot_receptive_field,
    plot_time_ratios,
)
from stviz.viz.training import plot_seed_study, plot_training_curves
from stviz.viz.tsm import (
    plot_shift_sources,
)

__all__ = [
    "Convention",
    "short_joint_names",
    "tick_labels",
    "joint_label",
    "joint_labels",
    "matrix_edges",
    "draw_skeleton",
    "adjacency_heatmap",
    "draw_matrix_on_skeleton",
    "skeleton_weight_key",
    "plot_partitions",
    "plot_subset_heatmaps",
    "draw_filmstrip",
    "draw_streams",
    "draw_bone_vectors",
    "draw_motion_arrows",
    "animate_sequence",
    "FrameAnimation",
    "DPI",
    "WIDTH",
    "use_style",
    "png_bytes",
    "plot_topology_grid",
    "shift_matrix",
    "plot_shift_table",
    "plot_receptive_field",
    "plot_interpolation_weights",
    "plot_time_ratios",
    "plot_shift_patterns",
    "plot_gate_by_part",
    "plot_joint_gates",
    "plot_subset_refinements",
    "draw_scale_rows",
    "draw_window_graph",
    "heatmaps_shared_scale",
    "plot_contraction_costs",
    "plot_power_magnitudes",
    "plot_weight_shares",
    "plot_shift_sources",
    "plot_training_curves",
    "plot_seed_study",
    "plot_pipelines",
    "plot_preprocessing_steps",
    "plot_fixed_length",
]
