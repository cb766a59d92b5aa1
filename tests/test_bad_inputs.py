"""Bad inputs to blocks, models, graph parameters, official loading and widgets: each is refused with a clear error.

Every case asserts the exception type and that the message names what was expected and what was got.
(The data reader's, the shift op's and the trainer's cases live in test_bad_inputs_data.py, _shift.py, _train.py.)
"""

from __future__ import annotations

import pytest
import torch

from stviz import official
from stviz.channel import AttentionLayer, PartAttention, SpatialTemporalJointAttention
from stviz.graph import SkeletonGraph, edge_matrix, hop_distance, k_adjacency, multiscale_adjacency, normalize_symmetric
from stviz.layers import make_activation
from stviz.models import CTRGCN, STGCN, ShiftGCN, STGCNBlock, build_model, efficientgcn_block_args
from stviz.models.efficientgcn import EfficientGCN
from stviz.multiscale import G3DBlock, MultiScaleGraphConv, MultiWindowG3D, TemporalWindows
from stviz.persons import mean_over_persons, pool_persons, unfold_persons
from stviz.spatial import (
    ChannelTopologyConv,
    ChannelTopologyUnit,
    EfficientGraphLayer,
    PartitionGraphConv,
    ShiftGraphConv,
)
from stviz.temporal import MultiScaleTemporalConv, TemporalBottleneckLayer, TemporalConvBN, TemporalSepLayer

V = 25
G = SkeletonGraph()
A_ST = G.stgcn_partition("spatial", 1, centre_distance="official")
A_CTR = G.inward_outward()
A_EFF = G.hop_partition(10)
A_BIN = G.binary_adjacency()


def small_models():
    """Small instances (CPU-cheap) of the model families: (name, model, a good input)."""
    torch.manual_seed(0)
    return {
        "stgcn": (STGCN(5), torch.randn(2, 3, 8, V, 2)),
        "ctrgcn": (CTRGCN(5), torch.randn(2, 3, 8, V, 2)),
        "shiftgcn": (ShiftGCN(5), torch.randn(2, 3, 8, V, 2)),
    }


def raises(exc, call, *fragments):
    """Assert ``call()`` raises ``exc`` and its message contains every fragment (expected and got)."""
    with pytest.raises(exc) as info:
        call()
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


# ---------------------------------------------------------------------------- blocks: dtype, batch, frames, shape

BLOCKS = {
    "PartitionGraphConv": lambda: PartitionGraphConv(8, 8, A_ST),
    "STGCNBlock": lambda: STGCNBlock(8, 8, A_ST),
    "EfficientGraphLayer": lambda: EfficientGraphLayer(8, 8, A_EFF),
    "ChannelTopologyConv": lambda: ChannelTopologyConv(8, 8),
    "ChannelTopologyUnit": lambda: ChannelTopologyUnit(8, 8, A_CTR),
    "ShiftGraphConv": lambda: ShiftGraphConv(8, 8),
    "MultiScaleTemporalConv": lambda: MultiScaleTemporalConv(8, 12, 3, dilations=(1, 2)),
    "TemporalSepLayer": lambda: TemporalSepLayer(8, 5),
    "MultiScaleGraphConv": lambda: MultiScaleGraphConv(8, 8, A_BIN, 3),
    "G3DBlock": lambda: G3DBlock(8, 8, A_BIN, 2, 3),
    "AttentionLayer": lambda: AttentionLayer(8, SpatialTemporalJointAttention(8), "relu"),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_double_input_to_float_block_names_both_dtypes(name):
    block = BLOCKS[name]().eval()
    raises(TypeError, lambda: block(torch.randn(2, 8, 6, V, dtype=torch.float64)), "torch.float64", "torch.float32")


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_empty_batch_is_refused(name):
    block = BLOCKS[name]().eval()
    raises(ValueError, lambda: block(torch.randn(0, 8, 6, V)), "empty batch (N=0", "expected N >= 1")


@pytest.mark.parametrize("name", ["STGCNBlock", "TemporalSepLayer", "G3DBlock"])
def test_zero_frames_are_refused(name):
    block = BLOCKS[name]().eval()
    raises(ValueError, lambda: block(torch.randn(2, 8, 0, V)), "T=0 frames", "expected at least 1")


def test_integer_input_names_the_dtype():
    raises(
        TypeError,
        lambda: BLOCKS["STGCNBlock"]()(torch.ones(1, 8, 4, V, dtype=torch.long)),
        "floating-point",
        "torch.int64",
    )


def test_wrong_joint_count_names_both():
    raises(
        ValueError, lambda: BLOCKS["ChannelTopologyUnit"]()(torch.randn(1, 8, 4, 18)), "V=18 joints", "the graph has 25"
    )


def test_wrong_channel_count_names_both():
    raises(ValueError, lambda: BLOCKS["TemporalSepLayer"]()(torch.randn(1, 6, 4, V)), "C=6 channels", "expected 8")


def test_non_tensor_input_is_named():
    raises(TypeError, lambda: BLOCKS["ShiftGraphConv"]()([[1.0]]), "must be a torch.Tensor", "got list")


# ---------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", ["stgcn", "ctrgcn", "shiftgcn"])
def test_model_dtype_batch_and_person_checks(name):
    model, x = small_models()[name]
    model.eval()
    raises(TypeError, lambda: model(x.double()), "torch.float64", "torch.float32")
    raises(ValueError, lambda: model(x[:0]), "empty batch (N=0", "expected N >= 1")
    raises(ValueError, lambda: model(x[..., :0]), "M=0 persons", "expected M >= 1")


def test_person_count_message_says_what_the_input_has_and_what_the_model_expects():
    model, x = small_models()["ctrgcn"]
    raises(ValueError, lambda: model.eval()(torch.cat([x, x[..., :1]], -1)), "x has M=3 persons", "expected 2")


def test_shiftgcn_refuses_too_few_frames():
    model, x = small_models()["shiftgcn"]
    raises(ValueError, lambda: model.eval()(x[:, :, :3]), "T=3 frames", "expected at least 4")


def test_efficientgcn_branch_count_and_rank():
    with torch.device("meta"):
        model = EfficientGCN(0, num_classes=5)
    raises(ValueError, lambda: model(torch.empty(1, 2, 6, 8, V, 2, device="meta")), "I=2 input branches", "expected 3")
    raises(ValueError, lambda: model(torch.empty(1, 6, 8, V, 2, device="meta")), "(N, I, C, T, V, M)", "5 dims")


def test_unknown_model_and_level():
    raises(ValueError, lambda: build_model("resnet"), "unknown model 'resnet'", "'stgcn'")
    raises(ValueError, lambda: efficientgcn_block_args(-1), "level must be an integer >= 0", "got -1")
    raises(ValueError, lambda: EfficientGCN(layer_type="Dense"), "layer_type must be one of", "'Dense'")
    raises(ValueError, lambda: EfficientGCN(100), "level must be an integer in 0..8", "got 100", "num_classes")
    raises(ValueError, lambda: EfficientGCN(1.5), "level must be an integer in 0..8", "got 1.5")
    raises(ValueError, lambda: EfficientGCN(2.0), "level must be an integer in 0..8", "got 2.0")
    with torch.device("meta"):
        assert EfficientGCN(100, block_args=[(16, 1, 1)], fusion_stage=1).block_args == [(16, 1, 1)]


# ---------------------------------------------------------------------------- block construction


@pytest.mark.parametrize(
    "build, exc, fragments",
    [
        (lambda: STGCNBlock(8, 8, A_ST, temporal_kernel=4), ValueError, ["odd integer >= 1", "got 4"]),
        (lambda: TemporalSepLayer(8, 4), ValueError, ["odd integer >= 1", "got 4"]),
        (lambda: MultiScaleTemporalConv(8, 8, 6, dilations=(1, 2)), ValueError, ["odd integer", "got 6"]),
        (lambda: MultiScaleTemporalConv(8, 10, 3, dilations=(1, 2)), ValueError, ["out_channels=10", "4 branches"]),
        (lambda: TemporalBottleneckLayer(4, 5, reduct_ratio=8), ValueError, [">= 1", "got 4 // 8"]),
        (lambda: TemporalSepLayer(8, 5, stride=0), ValueError, ["stride must be an integer >= 1", "got 0"]),
        (lambda: ChannelTopologyConv(8, 8, rel_channels=0), ValueError, ["rel_channels must be an integer >= 1", "0"]),
        (lambda: ChannelTopologyUnit(8, 8, A_CTR[0]), ValueError, ["(K, V, V)", "(25, 25)"]),
        (lambda: PartitionGraphConv(8, 8, torch.zeros(3, 25, 24)), ValueError, ["(K, V, V)", "(3, 25, 24)"]),
        (lambda: EfficientGraphLayer(8, 8, A_EFF, max_graph_distance=11), ValueError, ["0..10", "got 11"]),
        (lambda: EfficientGraphLayer(8, 8, A_EFF, activation="gelu"), ValueError, ["'gelu'", "'swish'"]),
        (lambda: ShiftGraphConv(8, 8, shift="random"), ValueError, ["'cyclic' or 'local'", "'random'"]),
        (lambda: ShiftGraphConv(8, 8, num_joints=18, shift="local", graph=G), ValueError, ["18 joints", "25 joints"]),
        (lambda: PartAttention(2, reduction=4), ValueError, [">= 1", "2 // 4"]),
        (lambda: make_activation(3), ValueError, ["unknown activation 3", "'relu'"]),
    ],
)
def test_bad_block_arguments(build, exc, fragments):
    raises(exc, build, *fragments)


# ---------------------------------------------------------------------------- graph parameters


@pytest.mark.parametrize(
    "build, fragments",
    [
        (lambda: k_adjacency(A_BIN, -1), ["k (hops) must be an integer >= 0", "got -1"]),
        (lambda: k_adjacency(A_BIN, 1.5), ["k (hops) must be an integer >= 0", "got 1.5"]),
        (lambda: G.k_hop(-2), ["k (hops)", "got -2"]),
        (lambda: hop_distance(G.edges, V, -1), ["max_hop must be an integer >= 0", "got -1"]),
        (lambda: G.hop_partition(-1), ["max_hop must be an integer >= 0", "got -1"]),
        (lambda: G.hop_partition(2.0), ["max_hop must be an integer >= 0", "got 2.0"]),
        (lambda: G.within_k_hops(-1), ["max_hop", "got -1"]),
        (lambda: G.stgcn_partition("spatial", max_hop=1, dilation=0), ["dilation must be an integer >= 1", "got 0"]),
        (lambda: G.stgcn_partition("spatial", max_hop=-1), ["max_hop must be an integer >= 0", "got -1"]),
        (lambda: multiscale_adjacency(A_BIN, 0), ["num_scales must be an integer >= 1", "got 0"]),
        (lambda: multiscale_adjacency(A_BIN, -3), ["num_scales must be an integer >= 1", "got -3"]),
        (lambda: G.multiscale(2.5), ["num_scales must be an integer >= 1", "got 2.5"]),
        (lambda: multiscale_adjacency(torch.zeros(3, 4), 2), ["(V, V)", "(3, 4)"]),
        (lambda: MultiScaleGraphConv(4, 4, A_BIN, 0), ["num_scales must be an integer >= 1", "got 0"]),
        (lambda: MultiScaleGraphConv(4, 4, A_BIN, 2, dropout=1.5), ["dropout must be in [0, 1)", "1.5"]),
        (lambda: TemporalWindows(0), ["window_size must be an integer >= 1", "got 0"]),
        (lambda: TemporalWindows(3, window_dilation=0), ["window_dilation must be an integer >= 1", "got 0"]),
        (lambda: G3DBlock(4, 8, A_BIN, 2, 3, embed_factor=0), ["embed_factor must be an integer >= 1", "got 0"]),
        (lambda: SkeletonGraph("kinect"), ["unknown layout 'kinect'", "'ntu-rgb+d'"]),
    ],
)
def test_bad_graph_parameters(build, fragments):
    raises(ValueError, build, *fragments)


# ---------------------------------------------------------------------------- official loading


def test_official_unknown_repo_and_class():
    raises(ValueError, lambda: official.build("agcn", "Model"), "unknown repo 'agcn'", "'ctrgcn'")
    raises(ValueError, lambda: official.build("ctrgcn", "unit_agcn"), "no adapter for 'unit_agcn'", "'unit_gcn'")


def test_official_checkpoint_of_the_wrong_model_names_keys_both_ways():
    sd = STGCN(5).state_dict()
    raises(ValueError, lambda: official.convert_state_dict("ctrgcn", "Model", sd, num_class=5), "leftover: original",
           "missing: stviz 'layers.0.gcn1.topology' <- original 'l1.gcn1.PA'")  # fmt: skip


def test_official_checkpoint_not_a_state_dict():
    raises(TypeError, lambda: official.convert_state_dict("ctrgcn", "CTRGC", "ckpt.pt", in_channels=8, out_channels=8),
           "expected a state_dict", "got str")  # fmt: skip


def test_official_checkpoint_of_another_width_names_shapes():
    sd = official.build("ctrgcn", "CTRGC", in_channels=16, out_channels=16).state_dict()
    original = {k.replace("embed_u", "conv1").replace("embed_v", "conv2").replace("value", "conv3")
                .replace("expand", "conv4"): v for k, v in sd.items()}  # fmt: skip
    raises(ValueError, lambda: official.convert_state_dict("ctrgcn", "CTRGC", original, in_channels=8, out_channels=8),
           "shape mismatch: original 'conv3.weight' (16, 16, 1, 1)", "stviz 'value.weight' (8, 8, 1, 1)")  # fmt: skip


def test_official_graph_mismatch_is_named():
    sd = official.build("stgcn", "Model", num_class=5).state_dict()
    original = {k.replace("layers.", "st_gcn_networks.").replace("classifier.", "fcn."): v for k, v in sd.items()
                if "edge_importance" not in k}  # fmt: skip
    original["A"] = torch.zeros(3, V, V)
    raises(ValueError, lambda: official.convert_state_dict("stgcn", "Model", original, num_class=5), "A differs",
           "another graph")  # fmt: skip


def test_official_unsupported_activation_module():
    raises(ValueError, lambda: official.build("effgcn", "Temporal_Basic_Layer", channel=4, temporal_window_size=3,
                                              bias=True, act=torch.nn.GELU()), "GELU", "SiLU")  # fmt: skip


# ---------------------------------------------------------------------------- widgets


def test_widget_selections_name_value_and_options():
    pytest.importorskip("ipywidgets")
    from stviz.widgets.multiscale import hop_explorer, window_graph_explorer
    from stviz.widgets.tsm import shift_diagram

    raises(ValueError, lambda: hop_explorer(joint=30), "joint=30 is not a valid option", "[0, 1, 2")
    raises(ValueError, lambda: hop_explorer(k=40), "k (hops) must be an integer in 0..", "got 40")
    raises(ValueError, lambda: window_graph_explorer(window_size=9), "window_size must be an integer in 1..6", "got 9")
    raises(ValueError, lambda: shift_diagram(channels=16, fold_div=1), "fold_div must be an integer in 2..16", "got 1")
    from traitlets import TraitError

    explorer = hop_explorer()

    def select(value):
        explorer.joint.value = value

    raises(TraitError, lambda: select(42), "joint: 42 is not a valid option", "expected one of [0, 1, 2")
    diagram = shift_diagram()
    raises(
        TraitError, lambda: setattr(diagram.direction, "value", "up"), "'up' is not a valid option", "expected one of"
    )


def test_widget_inputs_are_checked():
    pytest.importorskip("ipywidgets")
    from stviz.widgets.spatial import topology_explorer
    from stviz.widgets.temporal import receptive_field_explorer

    unit = ChannelTopologyUnit(8, 8, A_CTR).eval()
    raises(ValueError, lambda: topology_explorer(unit, torch.randn(2, 3, 4, V)), "C=3 channels", "expected 8")
    raises(ValueError, lambda: receptive_field_explorer(num_frames=0), "num_frames must be an integer >= 1", "got 0")


def test_widget_controls_only_reach_values_their_blocks_accept():
    pytest.importorskip("ipywidgets")
    from stviz.temporal import TemporalBasicLayer
    from stviz.widgets.channel import cost_explorer
    from stviz.widgets.temporal import receptive_field_explorer

    explorer = receptive_field_explorer(num_frames=12)
    slider = explorer.kernel_size
    for k in range(slider.min, slider.max + 1, slider.step):
        MultiScaleTemporalConv(6, 6, k, dilations=(1,), residual=False)  # every reachable kernel is accepted
    costs = cost_explorer(frames=8)
    for k in range(costs.kernel_size.min, costs.kernel_size.max + 1, costs.kernel_size.step):
        for c in range(costs.channels.min, costs.channels.max + 1, costs.channels.step * 4):
            TemporalBasicLayer(c, k)
            for r in costs.reduct_ratio.options:
                TemporalBottleneckLayer(c, k, reduct_ratio=r)


# ---------------------------------------------------------------------------- inputs once accepted without an error


def test_hop_counts_refuse_a_normalised_matrix():
    normalised = G.normalized("symmetric", self_loops=False)
    raises(ValueError, lambda: k_adjacency(normalised, 2), "binary (0/1)", "0.3536")
    raises(ValueError, lambda: multiscale_adjacency(normalised, 3), "binary (0/1)")
    raises(ValueError, lambda: MultiScaleGraphConv(8, 8, normalised, 3), "a_binary must be a binary (0/1)")
    raises(ValueError, lambda: G3DBlock(8, 8, normalised, 2, 3), "binary (0/1)")
    with torch.device("meta"):  # shapes only: a meta graph has no values to check
        assert multiscale_adjacency(A_BIN.to("meta"), 3).shape == (3, V, V)


def test_graphs_given_at_forward_are_checked():
    conv, x = PartitionGraphConv(8, 8, num_subsets=3), torch.randn(2, 8, 6, V)
    raises(ValueError, lambda: conv(x, torch.randn(3, V - 1, V)), "A must have shape (K, V, V)", "(3, 24, 25)")
    raises(TypeError, lambda: conv(x, [1.0]), "A must be a torch.Tensor", "list")
    with torch.no_grad():  # a float64 or 0/1 integer graph is taken in x's dtype
        torch.testing.assert_close(conv(x, A_ST.double()), conv(x, A_ST))
        torch.testing.assert_close(conv(x, A_ST.gt(0).long()), conv(x, A_ST.gt(0).float()))
    ctr = ChannelTopologyConv(8, 8)
    raises(ValueError, lambda: ctr(x, A=A_CTR), "ChannelTopologyConv: A must have shape (V, V)", "(3, 25, 25)")
    raises(ValueError, lambda: G3DBlock(8, 8, A_CTR, 2, 3), "adjacency must have shape (V, V)", "(3, 25, 25)")
    torch.manual_seed(0)
    plain = G3DBlock(8, 8, A_BIN, 2, 3)
    torch.manual_seed(0)  # a binary graph with its self-loops is the same window graph
    looped = G3DBlock(8, 8, A_BIN + torch.eye(V), 2, 3)
    torch.testing.assert_close(looped.graph_conv.scales, plain.graph_conv.scales, atol=0, rtol=0)


def test_temporal_convolutions_refuse_bad_strides_when_built_and_take_even_kernels_as_the_originals():
    assert TemporalConvBN(8, 8, 4)(torch.randn(1, 8, 16, V)).shape == (1, 8, 15, V)  # CTR-GCN's TemporalConv: T - 1
    raises(ValueError, lambda: TemporalConvBN(8, 8, 0), "kernel_size must be an integer >= 1", "got 0")
    raises(ValueError, lambda: TemporalConvBN(8, 8, 3, dilation=0), "dilation must be an integer >= 1", "got 0")
    for stride in (0, -1, 2.0):
        raises(ValueError, lambda stride=stride: STGCNBlock(8, 8, A_ST, stride=stride), "stride must be an integer")


def test_windows_need_one_window_of_frames_and_pathways_of_one_length():
    raises(ValueError, lambda: G3DBlock(8, 8, A_BIN, 2, 2)(torch.randn(1, 8, 1, V)), "T=1 frames", "at least 2")
    raises(ValueError, lambda: TemporalWindows(2, window_dilation=3)(torch.randn(1, 8, 1, V)), "at least 2")
    assert TemporalWindows(4)(torch.randn(1, 8, 6, V)).shape == (1, 8, 5, 4 * V)  # MS-G3D's even window: T - 1
    multi = MultiWindowG3D(8, 8, A_BIN, 2, window_sizes=(3, 4))
    raises(ValueError, lambda: multi(torch.randn(1, 8, 6, V)), "[6, 5] output frames for T=6")


def test_a_model_with_per_person_statistics_refuses_another_person_count():
    model = CTRGCN(5, num_persons=1)
    raises(ValueError, lambda: model(torch.randn(1, 3, 8, V, 2)), "x has M=2 persons, expected 1")
    assert model(torch.randn(1, 3, 8, V, 1)).shape == (1, 5)


def test_model_and_layer_arguments_are_checked_when_built():
    raises(ValueError, lambda: build_model("ctrgcn", 0), "num_classes must be an integer >= 1", "got 0")
    raises(TypeError, lambda: AttentionLayer(8, "stja"), "attention must be an nn.Module", "str")
    raises(ValueError, lambda: PartAttention(8, parts=[]), "at least one body part")
    with torch.device("meta"):
        raises(ValueError, lambda: EfficientGCN(0, fusion_stage=9), "fusion_stage must be an integer in 0..4", "9")


def test_official_build_refuses_what_the_original_would_refuse_or_misread():
    raises(TypeError, lambda: official.build("stgcn", "Model", num_classes=5), "'num_classes'", "num_class,")
    raises(ValueError, lambda: official.build("effgcn", "EfficientGCN", model_type="EfficientGCN-B12"), "one digit")
    raises(ValueError, lambda: official.build("effgcn", "EfficientGCN", model_type="EfficientGCN"), "'EfficientGCN'")
    with torch.device("meta"):  # what the original reads right is read the same
        assert official.build("effgcn", "EfficientGCN", model_type="B4").block_args == efficientgcn_block_args(4)
    raises(ValueError, lambda: official.build("ctrgcn", "Model", in_channels=6), "in_channels=6 gives", "= 0 relation")
    with torch.device("meta"):
        shape = (3, 6, 288, 18, 2)
        raises(NotImplementedError, lambda: official.build("effgcn", "EfficientGCN", data_shape=shape), "num_point=18")


def test_graph_and_person_helpers_name_what_they_expect():
    raises(ValueError, lambda: edge_matrix([(0, 30)], V), "pair of node indices in 0..24", "(0, 30)")
    raises(ValueError, lambda: hop_distance([(0, 30)], V), "pair of node indices in 0..24", "(0, 30)")
    for fold_back in (unfold_persons, pool_persons, mean_over_persons):
        raises(ValueError, lambda f=fold_back: f(torch.randn(6, 3, 4, V), 4), "6 rows, expected N*M rows for N=4")
    raises(ValueError, lambda: EfficientGraphLayer(8, 8, A_EFF, max_graph_distance=True), "got True")
    raises(ValueError, lambda: PartitionGraphConv(8.5, 8, A_ST), "in_channels must be an integer >= 1", "8.5")
    stack = torch.rand(3, V, V)  # normalize_symmetric takes a stack of graphs as one graph each
    torch.testing.assert_close(normalize_symmetric(stack)[1], normalize_symmetric(stack[1]))
