"""Every class of the originals' model files builds through ``official.build`` with its original signature and
computes what an explicit reference computes, at several widths and strides; conversion is strict.

The references below are written from the papers' and repositories' descriptions (not from stviz's blocks): conv
and BatchNorm calls on the original-keyed weights, checked against the stviz module loaded from those weights.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stviz import official
from stviz.channel import NTU_PARTS

V = 25
TOL = dict(atol=1e-5, rtol=1e-5)

# Every class each original model file defines (activation helpers included), by repository.
ORIGINAL_CLASSES = {
    "stgcn": ["Model", "st_gcn", "ConvTemporalGraphical"],
    "ctrgcn": ["Model", "TCN_GCN_unit", "unit_gcn", "unit_tcn", "CTRGC", "MultiScale_TemporalConv", "TemporalConv"],
    "shiftgcn": ["Model", "TCN_GCN_unit", "Shift_gcn", "Shift_tcn", "tcn", "Shift"],
    "msg3d": ["Model", "MultiWindow_MS_G3D", "MS_G3D", "SpatialTemporal_MS_GCN", "UnfoldTemporalWindows",
              "MultiScale_GraphConv", "MultiScale_TemporalConv", "TemporalConv", "MLP"],
    "effgcn": ["EfficientGCN", "EfficientGCN_Blocks", "EfficientGCN_Classifier", "Spatial_Graph_Layer",
               "SpatialGraphConv", "Temporal_Basic_Layer", "Temporal_Bottleneck_Layer", "Temporal_Sep_Layer",
               "Temporal_SG_Layer", "Basic_Layer", "Zero_Layer", "Attention_Layer", "ST_Joint_Att", "Part_Att",
               "Channel_Att", "Frame_Att", "Joint_Att", "Swish", "HardSwish"],
    "tsm": ["shift"],
}  # fmt: skip


def original_weights(repo: str, name: str, seed: int = 0, **kwargs) -> dict[str, torch.Tensor]:
    """Random weights under the ORIGINAL key names for ``name`` (BN variances positive)."""
    module = official.build(repo, name, **kwargs)
    keymap = official.key_map(repo, name, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in module.state_dict().items():
        if value.is_floating_point():
            value = torch.randn(value.shape, generator=gen) * 0.3
            value = value.abs() + 0.5 if key.endswith("running_var") else value
        out[keymap.to_original(key)] = value
    return out


def loaded(repo: str, name: str, sd: dict, **kwargs) -> nn.Module:
    module = official.build(repo, name, **kwargs)
    module.load_state_dict(official.convert_state_dict(repo, name, sd, **kwargs), strict=True)
    return module.eval()


def bn(x: torch.Tensor, sd: dict, prefix: str) -> torch.Tensor:
    return F.batch_norm(
        x, sd[prefix + "running_mean"], sd[prefix + "running_var"], sd[prefix + "weight"], sd[prefix + "bias"]
    )


def conv_bn(x: torch.Tensor, sd: dict, conv: str, norm: str, k: int = 1, stride: int = 1, dilation: int = 1):
    """``BN(conv (k, 1))`` with "same" padding ``(k + (k-1)(d-1) - 1) // 2``, straight from the weights."""
    pad = (k + (k - 1) * (dilation - 1) - 1) // 2
    y = F.conv2d(x, sd[conv + "weight"], sd.get(conv + "bias"), (stride, 1), (pad, 0), (dilation, 1))
    return bn(y, sd, norm)


@pytest.mark.parametrize("repo", sorted(ORIGINAL_CLASSES))
def test_every_original_class_is_buildable(repo):
    names = {n for r, n in official.available() if r == repo}
    assert set(ORIGINAL_CLASSES[repo]) <= names, sorted(set(ORIGINAL_CLASSES[repo]) - names)


# ---------------------------------------------------------------------------- plain temporal convolutions


@pytest.mark.parametrize(
    "repo, name, c_in, c_out, k, stride, dilation",
    [
        ("ctrgcn", "TemporalConv", 16, 16, 5, 1, 2),
        ("ctrgcn", "TemporalConv", 8, 24, 3, 2, 1),
        ("msg3d", "TemporalConv", 12, 12, 3, 1, 4),
        ("msg3d", "TemporalConv", 6, 18, 5, 2, 1),
        ("ctrgcn", "unit_tcn", 8, 16, 9, 1, 1),
        ("ctrgcn", "unit_tcn", 16, 32, 1, 2, 1),
        ("shiftgcn", "tcn", 3, 64, 9, 1, 1),
        ("shiftgcn", "tcn", 64, 128, 1, 2, 1),
    ],
)
def test_temporal_conv_units_match_reference(repo, name, c_in, c_out, k, stride, dilation):
    kwargs = dict(in_channels=c_in, out_channels=c_out, kernel_size=k, stride=stride)
    if name == "TemporalConv":
        kwargs["dilation"] = dilation
    sd = original_weights(repo, name, **kwargs)
    module = loaded(repo, name, sd, **kwargs)
    x = torch.randn(2, c_in, 11, V)
    want = conv_bn(x, sd, "conv.", "bn.", k, stride, dilation)
    with torch.no_grad():
        torch.testing.assert_close(module(x), want, **TOL)
    assert want.shape == (2, c_out, (11 - 1) // stride + 1, V)


def test_unit_tcn_and_tcn_initialise_like_conv_init():
    torch.manual_seed(0)
    unit = official.build("ctrgcn", "unit_tcn", in_channels=64, out_channels=128, kernel_size=9)
    std = unit.conv.weight.std().item()
    assert abs(std / (2 / (128 * 9)) ** 0.5 - 1) < 0.05  # Kaiming-normal, fan-out
    assert torch.all(unit.conv.bias == 0) and torch.all(unit.bn.weight == 1)


# ---------------------------------------------------------------------------- MS-G3D's MLP


@pytest.mark.parametrize(
    "c_in, widths, activation, dropout", [(8, [16], "relu", 0.0), (6, [12, 4], "leakyrelu", 0.3), (5, [7], "linear", 0)]
)
def test_msg3d_mlp_matches_reference(c_in, widths, activation, dropout):
    kwargs = dict(in_channels=c_in, out_channels=widths, activation=activation, dropout=dropout)
    sd = original_weights("msg3d", "MLP", **kwargs)
    module = loaded("msg3d", "MLP", sd, **kwargs)
    acts = {"relu": F.relu, "leakyrelu": lambda h: F.leaky_relu(h, 0.2), "linear": lambda h: h}
    step, first = (4, 1) if dropout > 0.001 else (3, 0)
    h = x = torch.randn(2, c_in, 7, V)
    for i in range(len(widths)):
        conv, norm = f"layers.{step * i + first}.", f"layers.{step * i + first + 1}."
        h = acts[activation](bn(F.conv2d(h, sd[conv + "weight"], sd[conv + "bias"]), sd, norm))
    with torch.no_grad():
        torch.testing.assert_close(module(x), h, **TOL)


# ---------------------------------------------------------------------------- Shift-GCN's layer


@pytest.mark.parametrize("c_in, c_out, stride, residual", [(3, 64, 1, False), (64, 64, 1, True), (64, 128, 2, True)])
def test_shiftgcn_tcn_gcn_unit_matches_its_parts(c_in, c_out, stride, residual):
    kwargs = dict(in_channels=c_in, out_channels=c_out, stride=stride, residual=residual)
    sd = original_weights("shiftgcn", "TCN_GCN_unit", **kwargs)
    tables = official.shift_indices(c_in), official.shift_indices(c_out)
    sd.update({"gcn1.shift_in": tables[0]["shift_in"], "gcn1.shift_out": tables[1]["shift_out"]})
    unit = loaded("shiftgcn", "TCN_GCN_unit", sd, **kwargs)
    part = lambda p: {k[len(p) :]: v for k, v in sd.items() if k.startswith(p)}  # noqa: E731
    gcn = loaded("shiftgcn", "Shift_gcn", part("gcn1."), in_channels=c_in, out_channels=c_out)
    tcn = loaded("shiftgcn", "Shift_tcn", part("tcn1."), in_channels=c_out, out_channels=c_out, stride=stride)
    x = torch.randn(2, c_in, 8, V)
    with torch.no_grad():
        y = tcn(gcn(x))
        if residual and (c_in != c_out or stride != 1):
            y = y + conv_bn(x, sd, "residual.conv.", "residual.bn.", 1, stride)
        elif residual:
            y = y + x
        torch.testing.assert_close(unit(x), torch.relu(y), **TOL)


# ---------------------------------------------------------------------------- EfficientGCN's attentions


def test_st_joint_att_matches_formula():
    kwargs = dict(channel=16, reduct_ratio=4, bias=True)
    sd = original_weights("effgcn", "ST_Joint_Att", **kwargs)
    att = loaded("effgcn", "ST_Joint_Att", sd, **kwargs)
    x = torch.randn(2, 16, 9, V)
    t = x.shape[2]
    pooled = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], 2)
    h = F.hardswish(bn(F.conv2d(pooled, sd["fcn.0.weight"], sd["fcn.0.bias"]), sd, "fcn.1."))
    h_t, h_v = h[:, :, :t], h[:, :, t:]
    gate_t = torch.sigmoid(F.conv2d(h_t, sd["conv_t.weight"], sd["conv_t.bias"]))
    gate_v = torch.sigmoid(F.conv2d(h_v.transpose(2, 3), sd["conv_v.weight"], sd["conv_v.bias"]))
    with torch.no_grad():
        torch.testing.assert_close(att(x), gate_t * gate_v, **TOL)


@pytest.mark.parametrize("channels", [8, 16])
def test_channel_frame_joint_attention_match_formulas(channels):
    x = torch.randn(2, channels, 12, V)
    sd = original_weights("effgcn", "Channel_Att", channel=channels)
    gap = x.mean((2, 3), keepdim=True)
    h = F.relu(bn(F.conv2d(gap, sd["fcn.1.weight"], sd["fcn.1.bias"]), sd, "fcn.2."))
    want = torch.sigmoid(F.conv2d(h, sd["fcn.4.weight"], sd["fcn.4.bias"]))
    with torch.no_grad():
        torch.testing.assert_close(loaded("effgcn", "Channel_Att", sd, channel=channels)(x), want, **TOL)
    sd = original_weights("effgcn", "Frame_Att")
    stats = torch.stack([x.mean((1, 3)), x.amax((1, 3))], 1).unsqueeze(-1)  # (N, 2, T, 1)
    want = F.conv2d(stats, sd["conv.weight"], sd["conv.bias"], padding=(4, 0))  # linear: no sigmoid
    with torch.no_grad():
        torch.testing.assert_close(loaded("effgcn", "Frame_Att", sd)(x), want, **TOL)
    parts = [list(p) for p in NTU_PARTS]
    sd = original_weights("effgcn", "Joint_Att", parts=parts)
    h = x.transpose(1, 3).mean((2, 3), keepdim=True)  # (N, V, 1, 1)
    h = F.relu(bn(F.conv2d(h, sd["fcn.1.weight"], sd["fcn.1.bias"]), sd, "fcn.2."))
    want = torch.softmax(F.conv2d(h, sd["fcn.4.weight"], sd["fcn.4.bias"]), 1).transpose(1, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded("effgcn", "Joint_Att", sd, parts=parts)(x), want, **TOL)


def test_part_att_drops_a_matching_joint_table_and_rejects_another():
    kwargs = dict(channel=8, parts=[list(p) for p in NTU_PARTS], reduct_ratio=2, bias=True)
    sd = original_weights("effgcn", "Part_Att", **kwargs)
    table = official.build("effgcn", "Part_Att", **kwargs).joint_part
    att = loaded("effgcn", "Part_Att", {**sd, "joints": table}, **kwargs)
    x = torch.randn(2, 8, 5, V)
    h = F.relu(bn(F.conv2d(x.mean((2, 3), keepdim=True), sd["fcn.1.weight"], sd["fcn.1.bias"]), sd, "fcn.2."))
    weights = torch.softmax(F.conv2d(h, sd["fcn.4.weight"], sd["fcn.4.bias"]).view(2, 8, 1, 5), 3)
    with torch.no_grad():
        torch.testing.assert_close(att(x), weights[..., table].expand(2, 8, 5, V), **TOL)
    with pytest.raises(ValueError, match="joint -> part table"):
        official.convert_state_dict("effgcn", "Part_Att", {**sd, "joints": table.flip(0)}, **kwargs)


@pytest.mark.parametrize(
    "c_in, c_out, residual, act", [(8, 8, True, "swish"), (8, 8, False, "relu"), (6, 16, False, "hswish")]
)
def test_basic_layer_matches_reference(c_in, c_out, residual, act):
    kwargs = dict(in_channel=c_in, out_channel=c_out, residual=residual, bias=True, act=act)
    sd = original_weights("effgcn", "Basic_Layer", **kwargs)
    layer = loaded("effgcn", "Basic_Layer", sd, **kwargs)
    x = torch.randn(2, c_in, 6, V)
    h = conv_bn(x, sd, "conv.", "bn.") + (x if residual else 0)
    want = {"swish": F.silu, "relu": F.relu, "hswish": F.hardswish}[act](h)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), want, **TOL)


def test_zero_layer_and_activations():
    assert official.build("effgcn", "Zero_Layer")(torch.randn(2, 3)) == 0
    x = torch.randn(50)
    for name, want in (("Swish", x * torch.sigmoid(x)), ("HardSwish", x * F.relu6(x + 3) / 6)):
        leaf = x.clone().requires_grad_()  # the original's default inplace=False: the input is kept
        torch.testing.assert_close(official.build("effgcn", name)(leaf), want)
        assert torch.equal(leaf, x)
        inplace = x.clone()
        official.build("effgcn", name, inplace=True)(inplace)
        torch.testing.assert_close(inplace, want)


# ---------------------------------------------------------------------------- EfficientGCN's blocks and classifier


@pytest.mark.parametrize(
    "init_channel, block_args, input_channel, layer_type",
    [(16, [[16, 1, 1], [24, 2, 2]], 6, "Sep"), (32, [[48, 2, 1]], 0, "Basic"), (8, [[8, 1, 0]], 3, "SG")],
)
def test_efficientgcn_blocks_match_their_layers(init_channel, block_args, input_channel, layer_type):
    kwargs = dict(init_channel=init_channel, block_args=block_args, layer_type=layer_type, kernel_size=[5, 2],
                  input_channel=input_channel, act="swish", A=official.adjacency("effgcn"), bias=True, edge=True,
                  expand_ratio=2, reduct_ratio=4)  # fmt: skip
    sd = original_weights("effgcn", "EfficientGCN_Blocks", **kwargs)
    blocks = loaded("effgcn", "EfficientGCN_Blocks", sd, **kwargs)
    part = lambda p: {k[len(p) :]: v for k, v in sd.items() if k.startswith(p)}  # noqa: E731
    common = dict(bias=True, act="swish")
    graph = dict(max_graph_distance=2, A=official.adjacency("effgcn"), edge=True, **common)
    temporal = {"Sep": "Temporal_Sep_Layer", "Basic": "Temporal_Basic_Layer", "SG": "Temporal_SG_Layer"}[layer_type]
    x = h = torch.randn(2, input_channel or init_channel, 8, V)
    with torch.no_grad():
        last = init_channel
        if input_channel:
            h = bn(h, sd, "init_bn.")
            scn = dict(in_channel=input_channel, out_channel=init_channel, **graph)
            h = loaded("effgcn", "Spatial_Graph_Layer", part("stem_scn."), **scn)(h)
            tcn = dict(channel=init_channel, temporal_window_size=5, **common)
            h = loaded("effgcn", "Temporal_Basic_Layer", part("stem_tcn."), **tcn)(h)
        for i, (width, stride, depth) in enumerate(block_args):
            scn = dict(in_channel=last, out_channel=width, **graph)
            h = loaded("effgcn", "Spatial_Graph_Layer", part(f"block-{i}_scn."), **scn)(h)
            for j in range(depth):
                tcn = dict(channel=width, temporal_window_size=5, stride=stride if j == 0 else 1, expand_ratio=2,
                           reduct_ratio=4, **common)  # fmt: skip
                h = loaded("effgcn", temporal, part(f"block-{i}_tcn-{j}."), **tcn)(h)
            att = dict(out_channel=width, reduct_ratio=4, **common)
            h = loaded("effgcn", "Attention_Layer", part(f"block-{i}_att."), **att)(h)
            last = width
        torch.testing.assert_close(blocks(x), h, **TOL)


def test_efficientgcn_classifier_matches_reference():
    sd = original_weights("effgcn", "EfficientGCN_Classifier", curr_channel=16, num_class=7, drop_prob=0.25)
    head = loaded("effgcn", "EfficientGCN_Classifier", sd, curr_channel=16, num_class=7, drop_prob=0.25)
    feature = torch.randn(3, 16, 4, V, 2)
    pooled = feature.mean((2, 3, 4), keepdim=True)
    want = F.conv3d(pooled, sd["fc.weight"], sd["fc.bias"]).flatten(1)
    with torch.no_grad():
        torch.testing.assert_close(head(feature), want, **TOL)


# ---------------------------------------------------------------------------- strict conversion


def test_conversion_reports_missing_leftover_and_mismatched_keys_with_both_names():
    kwargs = dict(in_channels=64, out_channels=64, A=official.adjacency("ctrgcn"))
    sd = original_weights("ctrgcn", "unit_gcn", **kwargs)
    del sd["convs.1.conv3.weight"]
    sd["convs.0.conv9.weight"] = torch.zeros(1)
    sd["PA"] = torch.zeros(3, 24, 24)
    with pytest.raises(ValueError) as err:
        official.convert_state_dict("ctrgcn", "unit_gcn", sd, **kwargs)
    text = str(err.value)
    assert "missing: stviz 'convs.1.value.weight' <- original 'convs.1.conv3.weight'" in text
    assert "leftover: original 'convs.0.conv9.weight' -> stviz 'convs.0.conv9.weight'" in text
    assert "shape mismatch: original 'PA' (3, 24, 24) -> stviz 'topology' (3, 25, 25)" in text


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
    ],
    ids=["state_dict", "model+module", "module"],
)
def test_common_checkpoint_wrappers_are_unwrapped(wrap):
    kwargs = dict(in_channels=16, out_channels=16, kernel_size=5)
    sd = original_weights("ctrgcn", "unit_tcn", **kwargs)
    converted = official.convert_state_dict("ctrgcn", "unit_tcn", wrap(sd), **kwargs)
    assert set(converted) == {k for k in sd} and all(torch.equal(converted[k], sd[k]) for k in sd)


def test_a_checkpoint_that_is_not_a_state_dict_is_named():
    with pytest.raises(TypeError, match=r"expected a state_dict .* got list"):
        official.convert_state_dict("ctrgcn", "unit_tcn", [1, 2], in_channels=4, out_channels=4)
    with pytest.raises(TypeError, match=r"entries \['epoch'\] are not tensors"):
        official.convert_state_dict("ctrgcn", "unit_tcn", {"epoch": 3}, in_channels=4, out_channels=4)


@pytest.mark.parametrize(
    "repo, name, kwargs",
    [
        ("stgcn", "Model", {}),
        ("ctrgcn", "Model", {}),
        ("shiftgcn", "Model", {}),
        ("effgcn", "EfficientGCN", {"model_type": "EfficientGCN-B2"}),
        ("msg3d", "MultiWindow_MS_G3D", dict(in_channels=3, out_channels=12, A_binary=official.adjacency("msg3d"),
                                              num_scales=2)),
    ],
)  # fmt: skip
def test_key_maps_invert_each_other(repo, name, kwargs):
    keymap = official.key_map(repo, name, **kwargs)
    keys = list(official.build(repo, name, **kwargs).state_dict())
    originals = [keymap.to_original(k) for k in keys]
    assert len(set(originals)) == len(keys)  # one original key per stviz key
    assert [keymap.to_stviz(k) for k in originals] == keys
