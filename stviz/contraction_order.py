"""Which contraction order an MS-G3D graph conv takes, and why: the multiply-accumulates of each order.

``W · concat_k(A_k x)`` can aggregate first and project the K*C_in stacked channels (the original's order) or
project first and aggregate the projected channels; both give the same result, and the cheaper one runs
(:mod:`stviz.multiscale`). ``explicit()`` keeps the original order for teaching.
"""

from __future__ import annotations

CONTRACTION_ORDERS = ("aggregate-first", "project-first")


def contraction_macs(
    in_channels: int, out_channels: int, num_scales: int, num_joints: int, window_size: int = 1, window_stride: int = 1
) -> dict[str, int]:
    """Multiply-accumulates of ``W · concat_k(A_k x)`` per sample and output frame, in each contraction order.

    A plain multi-scale graph conv (``window_size=1``) over V joints, C_in -> C_out, K scales:

    * aggregate-first: ``K*C_in*V*V`` (aggregation) + ``C_out*K*C_in*V`` (projection);
    * project-first: ``C_out*K*C_in*V`` (projection) + ``C_out*K*V*V`` (aggregation of the projected channels).

    G3D's window graph (w frames of V joints, windows every ``window_stride`` frames): the original aggregates
    and projects every window copy (``K*C_in*(wV)^2 + C_out*K*C_in*wV``); project-first projects each of the
    ``window_stride`` input frames per output frame once (``stride*C_out*K*C_in*V``) and aggregates the
    projections into the window (``C_out*K*wV*V*w``). The collapse convolution and BatchNorm are the same in both
    orders and are not counted.
    """
    c, o, k, v, w, s = in_channels, out_channels, num_scales, num_joints, window_size, window_stride
    nodes = w * v
    return {
        "aggregate-first": k * c * nodes * nodes + o * k * c * nodes,
        "project-first": s * o * k * c * v + o * k * nodes * v * w,
    }


def choose_contraction_order(
    in_channels: int, out_channels: int, num_scales: int, num_joints: int, window_size: int = 1, window_stride: int = 1
) -> str:
    """``"project-first"`` when it needs fewer MACs than the original order (:func:`contraction_macs`), else
    ``"aggregate-first"``. For a plain graph conv: project first exactly when C_out < C_in."""
    macs = contraction_macs(in_channels, out_channels, num_scales, num_joints, window_size, window_stride)
    return "project-first" if macs["project-first"] < macs["aggregate-first"] else "aggregate-first"
