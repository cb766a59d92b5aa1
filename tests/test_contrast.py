"""``python -m stviz.contrast``: both tables, one row per block and per model, numbers that match the counts."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from stviz.contrast import BLOCKS, Block, block_rows, contraction_rows, format_table, main, model_rows
from stviz.cost import count_model
from stviz.graph import SkeletonGraph
from stviz.models import MODEL_NAMES, build_model
from stviz.multiscale import contraction_macs
from stviz.reconcile import FIGURES, Convention, Figure, counted, model_cost, original_order, reconcile


@pytest.fixture(scope="module")
def printed():
    """What ``python -m stviz.contrast --no-latency`` prints (its ``main``, run in this process)."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        main(["--no-latency"])
    return out.getvalue()


def test_command_prints_one_line_per_block_and_model(printed):
    lines = printed.split("Published figures")[0].splitlines()
    for block in BLOCKS:
        assert sum(block.name in line for line in lines) == 1, block.name
    for name in MODEL_NAMES:
        assert sum(line.startswith(name + " ") for line in lines) == 1, name
    assert "3,098,832" in printed and "345,333" in printed and "324,708" in printed  # trainable and thop params


def test_every_axis_is_covered():
    assert {b.axis for b in BLOCKS} == {"spatial", "spatial + temporal", "temporal", "channel", "multi-scale", "shift"}


def test_st_gcn_layer_is_listed_under_both_axes_it_models():
    (layer,) = [b for b in BLOCKS if b.name == "ST-GCN: st_gcn"]
    block = layer.build(SkeletonGraph("ntu-rgb+d"))
    temporal = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (9, 1)]
    assert temporal and layer.axis == "spatial + temporal"  # the layer holds its 9x1 temporal convolution


def test_rows_carry_the_counts():
    models = {r["model"]: r for r in model_rows(frames=64)}
    assert models["ctrgcn"]["params"] == 1_446_672
    assert models["ctrgcn"]["GMAC"] < 1.9  # stviz's cheaper order; the original's count is below
    assert models["msg3d"]["einsum/matmul GMAC"] > 0 and "graph GMAC" not in models["msg3d"]
    assert models["stgcn"]["conv GMAC"] == pytest.approx(3.462, abs=1e-3)
    blocks = {r["block"]: r for r in block_rows(latency=False)}
    assert blocks["TSM: TemporalShift (fold_div=8)"]["params"] == 0
    assert blocks["TSM: TemporalShift (fold_div=8)"]["MMAC"] == 0


def test_model_cost_counts_each_model_once_as_count_model_does():
    first = model_cost("efficientgcn-b0", 32)
    assert model_cost("efficientgcn-b0", 32) is first  # counted once per process
    with torch.device("meta"):
        model = build_model("efficientgcn-b0")
    assert first == count_model(model, frames=32)
    assert model_cost("efficientgcn-b0", 32, classes=120).params == first.params + 129 * 60  # 60 more classes


def test_latency_column_when_asked(capsys, monkeypatch):
    monkeypatch.setattr("stviz.contrast.BLOCKS", BLOCKS[-1:])
    monkeypatch.setattr("stviz.contrast.MODEL_NAMES", ("efficientgcn-b0",))
    main(["--repeat", "1", "--frames", "8"])
    out = capsys.readouterr().out
    assert " ms" in out and "TSM: TemporalShift" in out and "efficientgcn-b0" in out


def test_format_table_aligns_columns():
    table = format_table([{"a": "x", "n": 1000}, {"a": "longer", "n": 5}])
    header, rule, first, second = table.splitlines()
    assert len(rule.split()) == 2 and first.endswith("1,000") and second.endswith("    5")


class _NoMetaKernel(torch.nn.Module):
    """A 1x1 conv whose forward uses an op without a meta kernel (data-dependent nonzero)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(64, 64, 1)

    def forward(self, x):
        torch.nonzero(x[0, 0, 0])  # no meta implementation
        return self.conv(x)


def test_counting_falls_back_to_cpu_without_a_meta_kernel(monkeypatch):
    block = Block("temporal", "test: no meta kernel", "1x1 conv", "-", "W", "-", lambda g: _NoMetaKernel())
    monkeypatch.setattr("stviz.contrast.BLOCKS", (block,))
    (row,) = block_rows(latency=False)
    assert row["params"] == 64 * 64 + 64
    assert row["MMAC"] == pytest.approx(64 * 64 * 64 * 25 / 1e6)


# the README's full-model table: the original code's GMAC, T=64, one sample of 2 persons
ORIGINAL_GMAC = {"stgcn": 3.646, "ctrgcn": 1.939, "shiftgcn": 0.761, "msg3d": 6.991,
                 "efficientgcn-b0": 0.795, "efficientgcn-b2": 1.478, "efficientgcn-b4": 3.509}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ORIGINAL_GMAC))
def test_original_order_gives_the_original_codes_counts(name):
    """docs/numbers.md and the README: FlopCounterMode on the original code, one sample of 2 persons."""
    original = counted(name, Convention("MACs", 64, original_order=True))
    assert original / 1e9 == pytest.approx(ORIGINAL_GMAC[name], abs=1e-3)
    assert counted(name, Convention("MACs", 64)) <= original


def test_original_order_gives_msg3d_published_counts_at_300_frames():
    assert counted("msg3d", Convention("MACs", 300, original_order=True)) / 1e9 == pytest.approx(32.77, abs=0.01)
    assert counted("msg3d", Convention("conv MACs", 300, original_order=True)) / 1e9 == pytest.approx(24.25, abs=0.01)


@pytest.mark.parametrize("name", ["ctrgcn", "stgcn", "efficientgcn-b0", "msg3d"])
def test_original_order_leaves_results_and_the_model_unchanged(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(1, 3, 6, 16, 25, 2) if name.startswith("efficientgcn") else torch.randn(1, 3, 16, 25, 2)
    with torch.no_grad():
        before = model(x)
        with original_order(model):
            inside = model(x)
        after = model(x)
    torch.testing.assert_close(inside, before, rtol=1e-4, atol=1e-5)
    assert torch.equal(after, before)
    assert not any("forward" in vars(module) for module in model.modules())  # the class's forward again


def test_ctrgcn_ntu120_head_is_the_published_count():
    ntu60 = counted("ctrgcn", Convention("params"))
    assert ntu60 == 1_446_672
    assert counted("ctrgcn", Convention("params", classes=120)) == ntu60 - (256 * 60 + 60) + (256 * 120 + 120)


def test_reconcile_matches_at_the_published_precision_only():
    rows = {(r["model"], r["published"]): r for r in reconcile()}
    assert len(rows) == len(FIGURES)
    assert rows["ctrgcn", "1.46M"]["match"] == "yes" and rows["msg3d", "2.8M"]["match"] == "yes"
    assert rows["ctrgcn", "1.97G"]["match"] == "no"  # 1.939 rounds to 1.94
    assert rows["efficientgcn-b4", "1.1M"]["match"] == "no"
    one = Figure("stgcn", "3.10M", "test", Convention("params"))  # 3,098,832 rounds to 3.10
    assert reconcile((one,))[0]["match"] == "yes"
    two = Figure("stgcn", "3.098M", "test", Convention("params"))  # rounds to 3.099
    assert reconcile((two,))[0]["match"] == "no"


def test_reconcile_rows_show_the_count_rounded_as_the_figure_is_written():
    rows = {(r["model"], r["published"]): r for r in reconcile()}
    assert rows["msg3d", "24G"]["rounded"] == "24G" and rows["msg3d", "24G"]["gap %"] < 0  # 24.25 G: a match
    assert rows["msg3d", "5.22G"]["rounded"] == "5.17G" and rows["msg3d", "5.22G"]["gap %"] > 0  # 5.173 G: none
    assert rows["efficientgcn-b0", "0.32M"]["rounded"] == "0.32M"  # 324,708 parameters
    one = reconcile((Figure("stgcn", "3.10M", "test", Convention("params")),))[0]
    assert (one["rounded"], one["match"]) == ("3.10M", "yes")


def test_a_figure_that_is_not_a_number_with_unit_is_refused():
    with pytest.raises(ValueError, match="'1.46 M'"):
        Figure("ctrgcn", "1.46 M", "test", Convention("params"))


def test_contraction_rows_give_each_layers_order_and_the_cheaper_one():
    with torch.device("meta"):
        model = build_model("msg3d")
    rows = contraction_rows(model, frames=64)
    assert len(rows) == 9  # 3 stages: one MS-GCN and two G3D windows each
    for row in rows:
        cheaper = "project-first" if row["project-first MMAC"] < row["aggregate-first MMAC"] else "aggregate-first"
        assert row["order"] == cheaper, row
    first = rows[0]
    assert first["layer"] == "stages.0.gcn3d.blocks.0" and first["graph channels"] == "3 -> 96"
    widened = rows[3]  # G3D 96 -> 192: the window collapse widens, after the graph contraction
    assert widened["layer"] == "stages.1.gcn3d.blocks.0" and widened["graph channels"] == "96 -> 96"
    per_frame = contraction_macs(3, 96, first["scales"], 25, 3)
    assert first["aggregate-first MMAC"] == pytest.approx(64 * per_frame["aggregate-first"] / 1e6)
    assert "would need" in first["why"]
    assert {r["order"] for r in rows if r["kind"] == "MS-GCN"} == {"aggregate-first"}


def test_cost_ratio_plot_labels_every_point_and_refuses_ragged_input():

    from stviz.viz.contrast import plot_cost_ratios

    ax = plot_cost_ratios(["a", "b"], [0.5, 2.0], [1.5, 3.0], "ref")
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "ref"]
    assert all(not t.get_annotation_clip() for t in ax.texts)
    low, high = ax.get_xlim()
    assert low < 0.5 and high > 3.0
    with pytest.raises(ValueError, match="lengths 2, 1, 2"):
        plot_cost_ratios(["a", "b"], [0.5], [1.0, 2.0], "ref")


def test_published_accuracy_plot_has_one_marker_per_figure():

    from stviz.viz.contrast import plot_published_accuracies
    from stviz.zoo.published import PUBLISHED

    ax = plot_published_accuracies(PUBLISHED)
    assert sum(len(c.get_offsets()) for c in ax.collections) == sum(r.xsub is not None for r in PUBLISHED)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(dict.fromkeys(r.model for r in PUBLISHED))


@pytest.mark.parametrize("bottom", [None, 35])
def test_published_accuracy_labels_keep_apart_on_a_wide_axis(bottom):
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from stviz.viz.contrast import plot_published_accuracies
    from stviz.zoo.published import PUBLISHED

    fig, ax = plt.subplots(figsize=(4, 3.6), layout="constrained")
    plot_published_accuracies(PUBLISHED, ax=ax)
    ax.set_ylim(bottom, 100)  # e.g. the scale of a seed study beside it: 2.5 points are a few pixels
    fig.canvas.draw()
    boxes = [Text.get_window_extent(t) for t in ax.texts]
    assert len(boxes) == 6
    assert not [(i, j) for i in range(6) for j in range(i + 1, 6) if boxes[i].overlaps(boxes[j])]
    plt.close(fig)
