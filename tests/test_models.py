"""Full models: exact parameter counts, shapes, EfficientGCN scaling, and official checkpoint loading.

Loading is checked two ways: (1) an original-format state_dict, written here from the original key layout
converts back to exactly the stviz state_dict; (2) a golden block's original weights placed
at one sub-block of an original checkpoint land in the right stviz sub-block, which then reproduces the
original's recorded output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from stviz import official, set_seed
from stviz.models import MODEL_NAMES, EfficientGCN, build_model, efficientgcn_block_args

GOLDEN = Path(os.environ.get("STVIZ_GOLDEN", Path(__file__).resolve().parent / "golden"))
TRAINABLE = {
    "stgcn": 3_098_832,
    "ctrgcn": 1_446_672,
    "shiftgcn": 693_107,
    "msg3d": 3_194_595,
    "efficientgcn-b0": 345_333,
    "efficientgcn-b2": 814_401,
    "efficientgcn-b4": 2_055_585,
}
EDGE_PARAMS = 11 * 3 * 25 * 25  # EfficientGCN's edge importance, invisible to thop
# Shift-GCN's original stores an inert xpos beside each temporal shift's ypos (two shifts of C_out per layer);
# stviz's core model leaves it out and stviz.official adds it back.
SHIFTGCN_XPOS = 2 * (4 * 64 + 3 * 128 + 3 * 256)


def meta_model(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(name)


@pytest.mark.parametrize("name", list(TRAINABLE))
def test_trainable_parameters_equal_the_originals(name):
    inert = SHIFTGCN_XPOS if name == "shiftgcn" else 0
    assert sum(p.numel() for p in meta_model(name).parameters() if p.requires_grad) == TRAINABLE[name] - inert


def test_official_shiftgcn_adds_back_exactly_the_inert_xpos():
    with torch.device("meta"):
        model = official.build("shiftgcn", "Model")
    xpos = [p.numel() for name, p in model.named_parameters() if name.endswith(".xpos")]
    assert len(xpos) == 20 and sum(xpos) == SHIFTGCN_XPOS
    assert sum(p.numel() for p in model.parameters()) == TRAINABLE["shiftgcn"]


@pytest.mark.parametrize("level", [0, 2, 4])
def test_efficientgcn_thop_parameters_miss_exactly_the_edge_importance(level):
    from stviz.cost import count_model

    cost = count_model(meta_model(f"efficientgcn-b{level}"), frames=16)
    assert cost.params - cost.thop_params == EDGE_PARAMS


def test_efficientgcn_scaling_rounds_half_to_even():
    assert efficientgcn_block_args(0) == [(48, 1, 0), (32, 1, 0), (64, 2, 1), (128, 2, 1)]
    assert efficientgcn_block_args(2) == [(64, 1, 1), (32, 1, 1), (96, 2, 2), (192, 2, 2)]
    assert efficientgcn_block_args(4) == [(96, 1, 2), (48, 1, 2), (128, 2, 3), (272, 2, 3)]
    b0 = EfficientGCN(level=0)
    assert not any("tcn" in name for name, _ in b0.branches[0].named_children() if name.startswith("block"))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_shape_and_persons(name):
    set_seed(0)
    model = build_model(name, num_classes=7).eval()
    shape = (2, 3, 6, 16, 25, 2) if name.startswith("efficientgcn") else (2, 3, 16, 25, 2)
    x = torch.randn(shape)
    with torch.no_grad():
        out = model(x)
        swapped = model(x.flip(-1))  # the persons' order does not matter after the mean over M ...
    assert out.shape == (2, 7)
    if name != "stgcn":  # ... except through a data BN whose statistics are per person
        return
    torch.testing.assert_close(out, swapped, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["stgcn", "ctrgcn"])
def test_bad_input_names_the_expected_shape(name):
    model = build_model(name)
    with pytest.raises(ValueError, match=r"\(N, C, T, V, M\)"):
        model(torch.zeros(1, 3, 8, 25))
    with pytest.raises(ValueError, match="V=18 joints, but the graph has 25"):
        model(torch.zeros(1, 3, 8, 18, 2))
    with pytest.raises(ValueError, match=r"\(N, I, C, T, V, M\)"):
        build_model("efficientgcn-b0")(torch.zeros(1, 3, 8, 25, 2))


# ---------------------------------------------------------------------------- original key layouts


def to_original(repo: str, sd: dict) -> dict:
    """stviz keys -> the original model's keys, written from the original layouts (independent of the adapters)."""
    out = {}
    for key, value in sd.items():
        k = key
        if repo == "stgcn":
            k = re.sub(r"^layers\.(\d+)\.gcn\.edge_importance$", r"edge_importance.\1", k)
            k = k.replace("layers.", "st_gcn_networks.").replace("classifier.", "fcn.")
        elif repo == "ctrgcn":
            k = re.sub(r"^layers\.(\d+)", lambda m: f"l{int(m.group(1)) + 1}", k)
            for ours, theirs in (("embed_u", "conv1"), ("embed_v", "conv2"), ("value", "conv3"), ("expand", "conv4")):
                k = k.replace(f".{ours}.", f".{theirs}.")
            k = k.replace("gcn1.topology", "gcn1.PA").replace("gcn1.residual.", "gcn1.down.")
            k = re.sub(r"^(l\d+)\.residual\.0\.", r"\1.residual.conv.", k)
            k = re.sub(r"^(l\d+)\.residual\.1\.", r"\1.residual.bn.", k)
        elif repo == "shiftgcn":
            k = re.sub(r"^layers\.(\d+)", lambda m: f"l{int(m.group(1)) + 1}", k)
            k = re.sub(r"gcn1\.weight$", "gcn1.Linear_weight", k)
            k = re.sub(r"gcn1\.bias$", "gcn1.Linear_bias", k)
            k = k.replace("gcn1.feature_mask", "gcn1.Feature_Mask")
            k = k.replace("tcn1.bn_in.", "tcn1.bn.").replace("tcn1.pointwise.", "tcn1.temporal_linear.")
            k = k.replace("tcn1.bn_out.", "tcn1.bn2.").replace("gcn1.residual.", "gcn1.down.")
            k = re.sub(r"^(l\d+)\.residual\.0\.", r"\1.residual.conv.", k)
            k = re.sub(r"^(l\d+)\.residual\.1\.", r"\1.residual.bn.", k)
        elif repo == "msg3d":
            k = re.sub(r"^stages\.(\d)\.(gcn3d|tcn)\.", lambda m: f"{m.group(2)}{int(m.group(1)) + 1}.", k)
            k = re.sub(r"^stages\.(\d)\.sgcn\.", lambda m: f"sgcn{int(m.group(1)) + 1}.", k)
            k = re.sub(r"blocks\.(\d)\.graph_conv\.", r"gcn3d.\1.gcn3d.1.", k)
            k = re.sub(r"blocks\.(\d)\.collapse\.", r"gcn3d.\1.out_conv.", k)
            k = re.sub(r"blocks\.(\d)\.bn\.", r"gcn3d.\1.out_bn.", k)
            k = re.sub(r"(gcn3d\.1\.|sgcn\d\.0\.)conv\.", r"\1mlp.layers.0.", k)
            k = re.sub(r"(gcn3d\.1\.|sgcn\d\.0\.)bn\.", r"\1mlp.layers.1.", k)
            k = k.replace(".residual.0.", ".residual.conv.").replace(".residual.1.", ".residual.bn.")
            if k.endswith(".offset"):
                k, value = k.replace(".offset", ".A_res"), value.reshape(-1, value.shape[-1])
        elif repo == "effgcn":
            k = k.replace("branches.", "input_branches.").replace("main_stream.", "main_stream.")
            k = re.sub(r"block(\d+)\.tcn(\d+)", r"block-\1_tcn-\2", k)
            k = re.sub(r"block(\d+)\.(scn|att)", r"block-\1_\2", k)
            k = k.replace("conv.conv.", "conv.gcn.").replace("conv.edge_importance", "conv.edge")
            k = k.replace("attention.squeeze.", "att.fcn.").replace("attention.frame_gate.", "att.conv_t.")
            k = k.replace("attention.joint_gate.", "att.conv_v.")
            k = "classifier.fc." + k[3:] if k.startswith("fc.") else k
        out[k] = value
    return out


CASES = {  # model name -> (repo, original class, build kwargs)
    "stgcn": ("stgcn", "Model", {}),
    "ctrgcn": ("ctrgcn", "Model", {"graph": "graph.ntu_rgb_d.Graph"}),
    "shiftgcn": ("shiftgcn", "Model", {"graph": "graph.ntu_rgb_d.Graph"}),
    "msg3d": ("msg3d", "Model", {}),
    "efficientgcn-b0": ("effgcn", "EfficientGCN", {"model_type": "EfficientGCN-B0"}),
    "efficientgcn-b2": ("effgcn", "EfficientGCN", {"model_type": "EfficientGCN-B2"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_original_checkpoint_converts_to_every_key(name):
    repo, cls, kwargs = CASES[name]
    set_seed(0)
    model = official.build(repo, cls, **kwargs)
    ours = {k: v + torch.rand_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    original = to_original(repo, ours)
    if repo == "stgcn":
        original["A"] = official.adjacency("stgcn")
    if repo == "shiftgcn":  # the int64 index tables the original stores
        widths = (64,) * 4 + (128,) * 3 + (256,) * 3
        for i, (c_in, c_out) in enumerate(zip((3, *widths[:-1]), widths, strict=True)):
            tables = (official.shift_indices(c_in)["shift_in"], official.shift_indices(c_out)["shift_out"])
            original[f"l{i + 1}.gcn1.shift_in"], original[f"l{i + 1}.gcn1.shift_out"] = tables
    converted = official.convert_state_dict(repo, cls, original, **kwargs)
    parallel = official.convert_state_dict(repo, cls, {f"module.{k}": v for k, v in original.items()}, **kwargs)
    assert set(converted) == set(ours) == set(parallel)  # nn.DataParallel checkpoints load too
    for key, value in ours.items():
        torch.testing.assert_close(converted[key], value, msg=key)
    model.load_state_dict(converted, strict=True)


# (model, golden file, original prefix of the sub-block, how to reach the stviz sub-block)
GOLDEN_SUBBLOCKS = [
    ("stgcn", "stgcn_st_gcn_64_64_k9.pt", "st_gcn_networks.1.", lambda m: m.layers[1]),
    ("ctrgcn", "ctrgcn_TCN_GCN_unit_64_64.pt", "l2.", lambda m: m.layers[1]),
    ("shiftgcn", "shiftgcn_Shift_gcn_64_64.pt", "l2.gcn1.", lambda m: m.layers[1].gcn1),
    ("shiftgcn", "shiftgcn_Shift_tcn_64_64_s1.pt", "l3.tcn1.", lambda m: m.layers[2].tcn1),
    ("msg3d", "msg3d_MS_TCN_96_96_default.pt", "tcn1.", lambda m: m.stages[0].tcn),
    ("efficientgcn-b0", "effgcn_Temporal_Basic_Layer_64_k5_s1.pt", "input_branches.1.stem_tcn.",
     lambda m: m.branches[1].stem_tcn),
    ("efficientgcn-b0", "effgcn_Attention_Layer_stja_64.pt", "main_stream.block-0_att.",
     lambda m: m.main_stream.block0.att),
    ("efficientgcn-b2", "effgcn_Temporal_Sep_Layer_64_k5_e2_s1.pt", "input_branches.0.block-0_tcn-0.",
     lambda m: m.branches[0].block0.tcn0),
]  # fmt: skip


@pytest.mark.parametrize("name, golden, prefix, reach", GOLDEN_SUBBLOCKS, ids=[g[1][:-3] for g in GOLDEN_SUBBLOCKS])
def test_golden_block_weights_land_in_the_right_sub_block(name, golden, prefix, reach):
    if not (GOLDEN / golden).exists():
        pytest.skip(f"no golden case {golden} at {GOLDEN}")
    case = torch.load(GOLDEN / golden, weights_only=True)
    repo, cls, kwargs = CASES[name]
    set_seed(0)
    model = official.build(repo, cls, **kwargs)
    original = to_original(repo, model.state_dict())
    original = {k: v for k, v in original.items() if not k.startswith(prefix)}
    original.update({prefix + k: v for k, v in case["state_dict"].items()})
    if repo == "shiftgcn":
        original = {
            k: v for k, v in original.items() if not k.endswith(("shift_in", "shift_out")) or k.startswith(prefix)
        }
    model.load_state_dict(official.convert_state_dict(repo, cls, original, **kwargs), strict=True)
    block = reach(model).eval()
    args = case.get("forward_args", [])
    if repo == "stgcn":  # the model applies its own A * importance; the case passes the official A
        torch.testing.assert_close(args[0], official.adjacency("stgcn"))
        args = []
    with torch.no_grad():
        out = block(case["input"], *args)
    torch.testing.assert_close(out, case["output"], atol=1e-4, rtol=1e-4)


def test_efficientgcn_adapter_returns_logits_and_feature():
    model = official.build("effgcn", "EfficientGCN", model_type="EfficientGCN-B0", data_shape=[3, 6, 16, 25, 2])
    logits, feature = model.eval()(torch.randn(2, 3, 6, 16, 25, 2))
    assert logits.shape == (2, 60) and feature.shape == (2, 128, 4, 25, 2)
