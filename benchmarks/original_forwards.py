"""The originals' forward passes, written out op by op, applied to an stviz module's own weights.

Each function ``f(m, x)`` computes what the original class computes, in the original's order of operations
(einsum strings, permute + ``contiguous`` copies, in-place activations and sums, ``nn.Unfold``), reading the
parameters of the stviz module ``m`` that stands in for it. They are our own transcriptions of the released
code's computation, used to time stviz against the original on the same weights (``benchmarks/originals.py``)
and checked equal to stviz in ``tests/test_benchmarks.py``. Nothing here is imported by the package.

The weights are reached through the stviz modules' attribute paths, which are their ``state_dict`` keys.
Shift-GCN's temporal ``Shift`` is CUDA-only in the original; on the CPU it is written as a gather of the two
neighbouring frames and a linear blend.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def swish_(x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN's ``Swish(inplace=True)``."""
    return x.mul_(x.sigmoid())


def _call(layer, x: torch.Tensor):
    """One layer as the originals call it: ReLU in place; a ``TemporalConv`` as its conv then its BN."""
    if isinstance(layer, nn.ReLU):
        return F.relu(x, inplace=True)
    if not isinstance(layer, nn.Sequential) and hasattr(layer, "conv") and hasattr(layer, "bn"):
        return layer.bn(layer.conv(x))
    return layer(x)


def _seq(modules, x: torch.Tensor) -> torch.Tensor:
    """An ``nn.Sequential`` of conv / BN / pool layers with in-place ReLUs, as the originals build them."""
    for layer in modules:
        x = _call(layer, x)
    return x


def _residual(res, x: torch.Tensor):
    """A residual path: none (0, the originals' ``lambda x: 0``), identity, or conv + BN."""
    return 0 if res is None else _call(res, x)


# ---------------------------------------------------------------------------- ST-GCN


def conv_temporal_graphical(m, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """ST-GCN ``ConvTemporalGraphical``: 1x1 conv to K*C, view, ``einsum('nkctv,kvw->nctw')``, contiguous."""
    x = m.conv(x)
    n, kc, t, v = x.size()
    x = x.view(n, m.num_subsets, kc // m.num_subsets, t, v)
    return torch.einsum("nkctv,kvw->nctw", (x, A)).contiguous()


def st_gcn(m, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """ST-GCN ``st_gcn``: residual first, gcn, tcn (BN, ReLU in place, conv, BN, Dropout in place), ReLU in place."""
    res = _residual(m.residual, x)
    y = conv_temporal_graphical(m.gcn, x, A)
    bn1, _, conv, bn2, drop = m.tcn
    y = bn2(conv(F.relu(bn1(y), inplace=True)))
    y = F.dropout(y, drop.p, drop.training, inplace=True) + res
    return F.relu(y, inplace=True)


def _fold_persons(x: torch.Tensor, data_bn: nn.BatchNorm1d, shared: bool = False) -> torch.Tensor:
    """data_bn over M*V*C (or V*C shared by persons, ST-GCN), then (N*M, C, T, V)."""
    n, c, t, v, m = x.size()
    x = x.permute(0, 4, 3, 1, 2).contiguous()
    x = data_bn(x.view(n * m, v * c, t) if shared else x.view(n, m * v * c, t))
    x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous()
    return x.view(n * m, c, t, v)


def stgcn_model(model, x: torch.Tensor) -> torch.Tensor:
    """ST-GCN ``Model``: data_bn over V*C, 10 st_gcn layers on ``A * importance``, avg_pool2d, mean over M, 1x1 conv."""
    n, _, _, _, persons = x.size()
    x = _fold_persons(x, model.data_bn, shared=True)
    for layer in model.layers:
        x = st_gcn(layer, x, layer.gcn.A * layer.gcn.edge_importance)
    x = F.avg_pool2d(x, x.size()[2:])
    x = x.view(n, persons, -1, 1, 1).mean(dim=1)
    return model.classifier(x).view(n, -1)


# ---------------------------------------------------------------------------- CTR-GCN


def ctrgc(m, x: torch.Tensor, A: torch.Tensor | None = None, alpha=1) -> torch.Tensor:
    """CTR-GCN ``CTRGC``: embeddings averaged over T, tanh of differences, expand, ``einsum('ncuv,nctv->nctu')``."""
    x1, x2, x3 = m.embed_u(x).mean(-2), m.embed_v(x).mean(-2), m.value(x)
    x1 = torch.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2))
    x1 = m.expand(x1) * alpha + (A.unsqueeze(0).unsqueeze(0) if A is not None else 0)
    return torch.einsum("ncuv,nctv->nctu", x1, x3)


def unit_gcn(m, x: torch.Tensor) -> torch.Tensor:
    """CTR-GCN ``unit_gcn``: the CTRGCs summed one after another, BN, ``+= down(x)``, ReLU in place."""
    y = None
    for k, conv in enumerate(m.convs):
        z = ctrgc(conv, x, m.topology[k], m.alpha)
        y = z + y if y is not None else z
    y = m.bn(y)
    y += _residual(m.residual, x)
    return F.relu(y, inplace=True)


def multiscale_temporal_conv(m, x: torch.Tensor) -> torch.Tensor:
    """CTR-GCN / MS-G3D ``MultiScale_TemporalConv``: residual, every branch, cat, ``+= res``, then the act in place.

    CTR-GCN has no activation after the sum; MS-G3D's is a ReLU (or none where the model sets ``act`` to identity).
    """
    res = _residual(m.residual, x)
    out = torch.cat([_seq(branch, x) for branch in m.branches], dim=1)
    out += res
    return F.relu(out, inplace=True) if isinstance(m.act, nn.ReLU) else out


def ctrgcn_tcn_gcn_unit(m, x: torch.Tensor) -> torch.Tensor:
    """CTR-GCN ``TCN_GCN_unit``: ``relu(tcn1(gcn1(x)) + residual(x))``."""
    return F.relu(multiscale_temporal_conv(m.tcn1, unit_gcn(m.gcn1, x)) + _residual(m.residual, x), inplace=True)


def ctrgcn_model(model, x: torch.Tensor) -> torch.Tensor:
    """CTR-GCN ``Model``: data_bn over M*V*C, l1..l10, mean over T*V then over M, dropout, fc."""
    n, _, _, _, persons = x.size()
    x = _fold_persons(x, model.data_bn)
    for layer in model.layers:
        x = ctrgcn_tcn_gcn_unit(layer, x)
    x = x.view(n, persons, x.size(1), -1).mean(3).mean(1)
    return model.fc(model.dropout(x))


# ---------------------------------------------------------------------------- Shift-GCN


def shift_gcn(m, x0: torch.Tensor) -> torch.Tensor:
    """Shift-GCN ``Shift_gcn``: index_select shift in, mask, einsum linear, shift out, BN1d, residual, ReLU."""
    n, c, t, v = x0.size()
    x = x0.permute(0, 2, 3, 1).contiguous().view(n * t, v * c)
    x = torch.index_select(x, 1, m.index_in).view(n * t, v, c)
    x = x * (torch.tanh(m.feature_mask) + 1)
    x = torch.einsum("nwc,cd->nwd", (x, m.weight)).contiguous() + m.bias
    x = torch.index_select(x.view(n * t, -1), 1, m.index_out)
    x = m.bn(x).view(n, t, v, m.out_channels).permute(0, 3, 1, 2)
    return torch.relu(x + _residual(m.residual, x0))


def temporal_shift_gather(x: torch.Tensor, ypos: torch.Tensor, stride: int) -> torch.Tensor:
    """The ``Shift`` op on the CPU: frame ``t*stride + ypos_c (+0.5 if strided)``, linear blend, zeros outside."""
    n, c, t, v = x.shape
    pos = ypos + (0.5 if stride != 1 else 0.0)
    low = torch.floor(pos.detach())
    frac = (pos - low).view(1, c, 1, 1)
    pad = int(low.abs().max().item()) + 2
    padded = F.pad(x, (0, 0, pad, pad))
    frames = torch.arange(t // stride, device=x.device) * stride
    first = (frames[None, :] + low.long()[:, None] + pad).clamp(0, t + 2 * pad - 2)  # (C, T')
    index = first.view(1, c, -1, 1).expand(n, c, -1, v)
    return padded.gather(2, index) * (1 - frac) + padded.gather(2, index + 1) * frac


def shift_tcn(m, x: torch.Tensor) -> torch.Tensor:
    """Shift-GCN ``Shift_tcn``: BN, shift in, 1x1 conv, ReLU, shift out (with the stride), BN."""
    x = m.bn_in(x)
    x = temporal_shift_gather(x, m.shift_in.ypos, 1)
    x = torch.relu(m.pointwise(x))
    x = temporal_shift_gather(x, m.shift_out.ypos, m.shift_out.stride)
    return m.bn_out(x)


def shiftgcn_tcn_gcn_unit(m, x: torch.Tensor) -> torch.Tensor:
    """Shift-GCN ``TCN_GCN_unit``: ``relu(tcn1(gcn1(x)) + residual(x))``."""
    return torch.relu(shift_tcn(m.tcn1, shift_gcn(m.gcn1, x)) + _residual(m.residual, x))


def shiftgcn_model(model, x: torch.Tensor) -> torch.Tensor:
    """Shift-GCN ``Model``: data_bn over M*V*C, l1..l10, mean over T*V then over M, fc."""
    n, _, _, _, persons = x.size()
    x = _fold_persons(x, model.data_bn)
    for layer in model.layers:
        x = shiftgcn_tcn_gcn_unit(layer, x)
    return model.fc(x.view(n, persons, x.size(1), -1).mean(3).mean(1))


# ---------------------------------------------------------------------------- EfficientGCN


def spatial_graph_conv(m, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``SpatialGraphConv``: 1x1 conv, K-major view, ``einsum('nkctv,kvw->nctw', x, A * edge)``."""
    x = m.conv(x)
    n, kc, t, v = x.size()
    x = x.view(n, m.num_subsets, kc // m.num_subsets, t, v)
    edge = 1 if m.edge_importance is None else m.edge_importance
    return torch.einsum("nkctv,kvw->nctw", (x, m.A * edge)).contiguous()


def _act_(layer, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN's activation in place: Swish as ``x.mul_(x.sigmoid())``, the others as modules."""
    return swish_(x) if isinstance(layer.act, nn.SiLU) else layer.act(x)


def spatial_graph_layer(m, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Spatial_Graph_Layer``: ``act(bn(conv(x)) + residual(x))``."""
    return _act_(m, m.bn(spatial_graph_conv(m.conv, x)) + m.residual(x))


def temporal_basic_layer(m, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_Basic_Layer``: ``act(bn(conv(x)) + residual(x))``."""
    return _act_(m, m.bn(m.conv(x)) + _residual(m.residual, x))


def temporal_bottleneck_layer(m, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_Bottleneck_Layer``: reduce, act, (k, 1) conv, act, expand, ``+ res``, act."""
    res = _residual(m.residual, x)
    x = _act_(m, m.reduct_conv(x))
    x = _act_(m, m.conv(x))
    return _act_(m, m.expand_conv(x) + res)


def temporal_sep_layer(m, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_Sep_Layer``: expand, act, depthwise, act, pointwise, ``+ res`` (no activation)."""
    res = _residual(m.residual, x)
    if m.expand_conv is not None:
        x = _act_(m, m.expand_conv(x))
    x = _act_(m, m.depth_conv(x))
    return m.point_conv(x) + res


def temporal_sg_layer(m, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_SG_Layer``: depthwise, act, reduce, expand, act, strided depthwise, ``+ res``."""
    res = _residual(m.residual, x)
    x = _act_(m, m.depth_conv1(x))
    x = m.point_conv1(x)
    x = _act_(m, m.point_conv2(x))
    return m.depth_conv2(x) + res


def st_joint_att(att, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``ST_Joint_Att``: pooled over V and T, shared squeeze (Hardswish in place), two sigmoid gates."""
    n, c, t, v = x.size()
    x_t = x.mean(3, keepdim=True)
    x_v = x.mean(2, keepdim=True).transpose(2, 3)
    conv, bn, _ = att.squeeze
    x_att = F.hardswish(bn(conv(torch.cat([x_t, x_v], dim=2))), inplace=True)
    x_t, x_v = torch.split(x_att, [t, v], dim=2)
    x_t_att = att.frame_gate(x_t).sigmoid()
    x_v_att = att.joint_gate(x_v.transpose(2, 3)).sigmoid()
    return x_t_att * x_v_att


def attention_layer(m, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Attention_Layer`` ('stja'): ``act(bn(x * att(x)) + x)``."""
    res = x
    x = x * st_joint_att(m.attention, x)
    return _act_(m, m.bn(x) + res)


def _efficientgcn_blocks(seq, x: torch.Tensor) -> torch.Tensor:
    """One ``EfficientGCN_Blocks`` stream (or one of its blocks), its modules in order, each by the original's
    forward: ``init_bn``, ``stem_scn``, ``stem_tcn``, then blocks of ``scn``, ``tcn<j>`` (Sep layers) and ``att``."""
    for name, module in seq.named_children():
        if name == "init_bn":
            x = module(x)
        elif name.startswith("block"):
            x = _efficientgcn_blocks(module, x)
        elif name.endswith("scn"):
            x = spatial_graph_layer(module, x)
        elif name == "stem_tcn":
            x = temporal_basic_layer(module, x)
        elif name == "att":
            x = attention_layer(module, x)
        else:  # tcn<j>: the default layer type, Sep
            x = temporal_sep_layer(module, x)
    return x


def efficientgcn_model(model, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN: input branches, cat, main stream, feature (N, C, T, V, M), pool, dropout, Conv3d. Logits."""
    n, i, c, t, v, persons = x.size()
    x = x.permute(1, 0, 5, 2, 3, 4).contiguous().view(i, n * persons, c, t, v)
    x = torch.cat([_efficientgcn_blocks(branch, x[j]) for j, branch in enumerate(model.branches)], dim=1)
    x = _efficientgcn_blocks(model.main_stream, x)
    _, c, t, v = x.size()
    feature = x.view(n, persons, c, t, v).permute(0, 2, 3, 4, 1)
    pooled = F.adaptive_avg_pool3d(feature, 1)
    return model.fc(F.dropout(pooled, model.dropout.p, model.dropout.training, inplace=True)).view(n, -1)


# ---------------------------------------------------------------------------- MS-G3D


def _mlp(m, x: torch.Tensor) -> torch.Tensor:
    """MS-G3D's one-layer ``MLP``: (dropout), 1x1 conv, BN, act in place."""
    if m.dropout is not None:
        x = m.dropout(x)
    x = m.bn(m.conv(x))
    return F.relu(x, inplace=True) if isinstance(m.act, nn.ReLU) else x


def multiscale_graph_conv(m, x: torch.Tensor) -> torch.Tensor:
    """MS-G3D ``MultiScale_GraphConv``: ``einsum('vu,nctu->nctv')`` on the stacked (K*V, V) graph, scale-major copy,
    MLP."""
    n, c, t, v = x.shape
    k = m.num_scales
    A = m.scales.reshape(k * v, v)
    if m.offset is not None:
        A = A + m.offset.reshape(k * v, v)
    support = torch.einsum("vu,nctu->nctv", A, x)
    support = support.view(n, c, t, k, v).permute(0, 3, 1, 2, 4).contiguous().view(n, k * c, t, v)
    return _mlp(m, support)


def unfold_temporal_windows(m, x: torch.Tensor) -> torch.Tensor:
    """MS-G3D ``UnfoldTemporalWindows``: ``nn.Unfold`` over (w, 1), view, permute, contiguous, view."""
    n, c, t, v = x.shape
    w = m.window_size
    unfold = F.unfold(x, (w, 1), dilation=(m.window_dilation, 1), stride=(m.window_stride, 1), padding=(m.padding, 0))
    x = unfold.view(n, c, w, -1, v).permute(0, 1, 3, 2, 4).contiguous()
    return x.view(n, c, -1, w * v)


def spatial_temporal_ms_gcn(m, x: torch.Tensor) -> torch.Tensor:
    """MS-G3D ``SpatialTemporal_MS_GCN``: the multi-scale aggregation on the window graph, MLP without act, ReLU."""
    n, c, t, v = x.shape
    k = m.num_scales
    A = m.scales.reshape(k * v, v)
    if m.offset is not None:
        A = A + m.offset.reshape(k * v, v)
    res = _residual(m.residual, x)
    agg = torch.einsum("vu,nctu->nctv", A, x)
    agg = agg.view(n, c, t, k, v).permute(0, 3, 1, 2, 4).contiguous().view(n, k * c, t, v)
    if m.dropout is not None:
        agg = m.dropout(agg)
    out = m.bn(m.conv(agg))
    out += res
    return F.relu(out, inplace=True)


def ms_g3d(m, x: torch.Tensor) -> torch.Tensor:
    """MS-G3D ``MS_G3D``: (in1x1), unfold, window graph conv, view, Conv3d (1, w, 1), squeeze, BN."""
    n, _, _, v = x.shape
    if m.embed is not None:
        x = _mlp(m.embed, x)
    x = spatial_temporal_ms_gcn(m.graph_conv, unfold_temporal_windows(m.windows, x))
    x = x.view(n, m.graph_conv.out_channels, -1, m.windows.window_size, v)
    return m.bn(m.collapse(x).squeeze(dim=3))


def multiwindow_ms_g3d(m, x: torch.Tensor) -> torch.Tensor:
    """MS-G3D ``MultiWindow_MS_G3D``: ``out_sum += gcn3d(x)`` over the window sizes."""
    out_sum = 0
    for block in m.blocks:
        out_sum += ms_g3d(block, x)
    return out_sum


def msg3d_model(model, x: torch.Tensor) -> torch.Tensor:
    """MS-G3D ``Model``: data_bn, three stages ``tcn(relu(sgcn(x) + gcn3d(x)))``, mean over T*V then M, fc."""
    n, _, _, _, persons = x.size()
    x = _fold_persons(x, model.data_bn)
    for stage in model.stages:
        gcn, tcn_a, tcn_b = stage.sgcn
        y = multiscale_temporal_conv(tcn_b, multiscale_temporal_conv(tcn_a, multiscale_graph_conv(gcn, x)))
        x = F.relu(y + multiwindow_ms_g3d(stage.gcn3d, x), inplace=True)
        x = multiscale_temporal_conv(stage.tcn, x)
    out = x.view(n, persons, x.size(1), -1).mean(3).mean(1)
    return model.fc(out)
