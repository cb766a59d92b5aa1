"""The package's layout rules, checked: what imports what, the model interface, the shared conventions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

import stviz
from stviz import official
from stviz.baselines import BASELINES, TopologyClassifier, build_baseline
from stviz.cost import count_model, model_input
from stviz.models import MODELS, SkeletonModel, build_model
from stviz.models.base import INTERFACE, check_interface

ROOT = Path(stviz.__file__).resolve().parent
TOP_FLOOR = (
    "stviz.official",
    "stviz.figures",
    "stviz.contrast",
    "stviz.widgets",
    "stviz.viz",
    "stviz.golden",
    "stviz.zoo",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stviz_imports(path: Path) -> set[str]:
    """Every ``stviz...`` module a file imports (``from stviz import x`` counts as ``stviz.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("stviz")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stviz"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}
IMPORTS = {name: {m for m in stviz_imports(p) if m in MODULES} for name, p in MODULES.items()}


def test_nothing_that_official_builds_on_imports_it():
    seen, todo = set(), [m for m in MODULES if m.startswith("stviz.official")]
    while todo:
        for dep in IMPORTS[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    core = sorted(m for m in seen if not m.startswith(TOP_FLOOR))
    assert "stviz.models" in core and "stviz.spatial" in core  # the scan does follow the imports
    offenders = {m: sorted(d for d in IMPORTS[m] if d.startswith("stviz.official")) for m in core}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_only_the_top_floor_imports_official():
    users = sorted(m for m, deps in IMPORTS.items() if any(d.startswith("stviz.official") for d in deps))
    assert users and all(m.startswith(TOP_FLOOR) for m in users), users


def test_modules_stay_near_400_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_has_the_interface(name):
    with torch.device("meta"):
        model = build_model(name, num_classes=5)
    assert isinstance(model, SkeletonModel)
    check_interface(model)
    want = (model.in_channels, model.min_frames, model.num_joints, 2)
    shape = model_input(model, frames=model.min_frames).shape()
    assert shape[-4:] == want and len(shape) == (5 if model.input_branches is None else 6)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_have_the_interface(name):
    model = build_baseline(name, num_classes=4, hidden=4)
    check_interface(model)
    assert count_model(model, frames=8).params == sum(p.numel() for p in model.parameters())
    check_interface(TopologyClassifier(4, official.adjacency("ctrgcn"), channels=(8,)))


def test_interface_violations_are_named():
    class NoJoints(nn.Module):
        in_channels = 3

    with pytest.raises(TypeError, match=r"num_joints \(got 'nothing'\).*Subclass stviz.models.SkeletonModel"):
        check_interface(NoJoints())
    with pytest.raises(TypeError, match="in_channels: int"):
        model_input(nn.Linear(2, 2))
    assert set(INTERFACE) == {"in_channels", "num_joints", "input_branches", "min_frames"}


def test_unknown_model_name_lists_the_registry():
    with pytest.raises(ValueError, match=r"unknown model 'stgcnn'; expected one of \['ctrgcn', 'efficientgcn-b0'"):
        build_model("stgcnn")


def residual_kinds() -> dict[str, set[str]]:
    """Every ``residual`` attribute in every registered model, by the kind of module it holds."""
    kinds: dict[str, set[str]] = {}
    for name in MODELS:
        with torch.device("meta"):
            model = build_model(name)
        for path, module in model.named_modules():
            assert not hasattr(module, "down"), f"{name}: {path} keeps a residual under 'down'"
            if hasattr(module, "residual"):
                res = module.residual
                if res is None:
                    kind = "none"
                elif isinstance(res, nn.Identity):
                    kind = "identity"
                else:
                    assert isinstance(res, nn.Sequential) and [type(m) for m in res] == [nn.Conv2d, nn.BatchNorm2d]
                    kind = "projection"
                kinds.setdefault(kind, set()).add(type(module).__name__)
    return kinds


def test_one_residual_convention():
    kinds = residual_kinds()
    assert set(kinds) == {"none", "identity", "projection"}
    assert {"STGCNBlock", "ChannelTopologyBlock", "ShiftGCNUnit", "EfficientGraphLayer"} <= kinds["projection"]


def test_blocks_are_initialised_alone_as_in_their_model():
    """EfficientGCN's blocks initialise themselves: a block built alone draws like the same block in the model."""
    from stviz.spatial import EfficientGraphLayer

    torch.manual_seed(0)
    alone = EfficientGraphLayer(96, 64, official.adjacency("effgcn"))  # main stream: 3 branches x 32 -> 64
    torch.manual_seed(0)
    inside = build_model("efficientgcn-b0").main_stream.block0.scn
    for (key, a), (_, b) in zip(alone.state_dict().items(), inside.state_dict().items(), strict=True):
        if a.is_floating_point() and a.numel() > 64 and b.std() > 0:
            assert 0.8 < (a.std() / b.std()).item() < 1.25, key
        elif a.is_floating_point():
            assert torch.equal(a, b), key  # constant inits (edge importance 1, BN 1 / 0)
    fan_out = alone.conv.conv.weight.shape[0]
    expected = (2.0 / fan_out) ** 0.5  # kaiming-normal, fan-out, leaky-relu gain with slope 0
    assert abs(alone.conv.conv.weight.std().item() / expected - 1) < 0.1
    assert torch.equal(alone.bn.weight, torch.ones(64))
