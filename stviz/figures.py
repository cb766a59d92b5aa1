"""The README and notebook figures: ``python -m stviz.figures img`` writes them as PNGs.

Each figure is a function returning a :class:`~matplotlib.figure.Figure`, so a
notebook can draw the same picture; :data:`FIGURES` maps file names to them.
Output is deterministic (no randomness, no software version in the metadata).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from stviz import official, viz
from stviz.graph import SkeletonGraph
from stviz.viz.style import WIDTH

__all__ = [
    "FIGURES",
    "REPO_GRAPHS",
    "skeleton_joints",
    "layouts",
    "normalisations",
    "stgcn_partitions",
    "repo_adjacency",
    "hop_distances",
    "write_all",
]

# What each repository's A holds and how its einsum reads it (docs/pitfalls.md 1-3, 9).
REPO_GRAPHS = {
    "stgcn": ("ST-GCN: sum of 3 'spatial' subsets", "column_target"),
    "ctrgcn": ("CTR-GCN: I + inward + outward", "row_target"),
    "effgcn": ("EfficientGCN: sum of the used A[:3]", "column_target"),
    "msg3d": ("MS-G3D: binary A (normalised per scale)", "row_target"),
}


def skeleton_joints() -> Figure:
    """The NTU RGB+D skeleton with joint names and 1-based indices, the centre joint 21 marked."""
    graph = SkeletonGraph()
    fig, (names, indices) = plt.subplots(1, 2, figsize=(10, 6), layout="constrained")
    viz.draw_skeleton(graph, ax=names, labels="name", highlight={graph.center: "tab:red"}, title="NTU RGB+D: 25 joints")
    viz.draw_skeleton(
        graph, ax=indices, labels="number", highlight={graph.center: "tab:red"}, title="1-based numbers (J21 red)"
    )
    return fig


def layouts() -> Figure:
    """The three layouts side by side: NTU-25 (numbers J1..J25), OpenPose-18, COCO-17 (0-based ids), centres in red."""
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 4.2), layout="constrained")
    for ax, name in zip(axes, ("ntu-rgb+d", "openpose", "coco"), strict=True):
        graph = SkeletonGraph(name)
        ntu = name == "ntu-rgb+d"  # NTU: 1-based numbers as in its files; the others: their own 0-based keypoint ids
        centre = f"J{graph.center + 1}" if ntu else f"{graph.center} (0-based ids)"
        viz.draw_skeleton(
            graph, ax=ax, labels="number" if ntu else "index", highlight={graph.center: "tab:red"},
            title=f"{name}: V={graph.num_nodes}, {len(graph.edges)} bones, centre {centre}",
        )  # fmt: skip
        ax.title.set_fontsize(9)
    return fig


def normalisations() -> Figure:
    """A + I normalised by columns ('digraph': ST-GCN, CTR-GCN, EfficientGCN) and symmetrically (MS-G3D)."""
    graph = SkeletonGraph()
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 4.8), layout="constrained")
    viz.adjacency_heatmap(
        graph.normalized("digraph"), ax=axes[0], convention="column_target", columns="number",
        title="column-normalised A + I ('digraph'): columns sum to 1",
    )  # fmt: skip
    viz.adjacency_heatmap(
        graph.normalized("symmetric"), ax=axes[1], convention="row_target", columns="number",
        title="symmetric D^-1/2 (A + I) D^-1/2 (MS-G3D)",
    )  # fmt: skip
    return fig


def stgcn_partitions() -> Figure:
    """ST-GCN's 'spatial' partition on NTU: official (max_hop=1 quirk) above, true BFS distance below."""
    graph = SkeletonGraph()
    fig, axes = plt.subplots(2, 3, figsize=(WIDTH, 8.0), layout="constrained")
    for row, variant in zip(axes, ("official", "bfs"), strict=True):
        a = graph.stgcn_partition("spatial", centre_distance=variant)
        viz.plot_partitions(a, graph, names=[f"{variant} A[{k}]" for k in range(3)], axes=list(row))
    fig.suptitle("ST-GCN 'spatial' partition, arrows source -> target (columns of A are targets)")
    return fig


def repo_adjacency() -> Figure:
    """Each repository's NTU adjacency (summed over its subsets) as a heatmap, with its target axis."""
    fig, axes = plt.subplots(2, 2, figsize=(WIDTH, 9.4), layout="constrained")
    for ax, (repo, (title, convention)) in zip(axes.flat, REPO_GRAPHS.items(), strict=True):
        a = official.adjacency(repo)
        shape = tuple(a.shape)
        if repo == "effgcn":
            a = a[:3]
        summed = a.sum(0) if a.dim() == 3 else a
        viz.adjacency_heatmap(summed, ax=ax, convention=convention, columns="number",
                              title=f"{title}\nofficial.adjacency: {shape}")  # fmt: skip
    return fig


def hop_distances() -> Figure:
    """Hop distance between every pair of NTU joints (networkx shortest paths)."""
    graph = SkeletonGraph()
    fig, ax = plt.subplots(figsize=(6.5, 6.0), layout="constrained")
    viz.adjacency_heatmap(
        graph.hop_distance(), ax=ax, cmap="magma", cbar_label="hops", annotate=False,
        title=f"hop distance (diameter {graph.diameter})",
    )  # fmt: skip
    ax.set_xlabel("joint (column)")
    ax.set_ylabel("joint (row)")
    return fig


FIGURES: dict[str, Callable[[], Figure]] = {
    "skeleton_joints.png": skeleton_joints,
    "layouts.png": layouts,
    "normalisations.png": normalisations,
    "stgcn_partitions.png": stgcn_partitions,
    "repo_adjacency.png": repo_adjacency,
    "hop_distances.png": hop_distances,
}


def write_all(out_dir: str | Path, dpi: int = 100) -> list[Path]:
    """Write every figure of :data:`FIGURES` into ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in FIGURES.items():
        fig = make()
        path = out_dir / name
        fig.savefig(path, dpi=dpi, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder for the PNG files, e.g. img")
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args()
    for path in write_all(args.out_dir, args.dpi):
        print(path)


if __name__ == "__main__":
    main()
