"""Every block and model of the seven networks against the original's forward: eval and training step, interleaved.

Run: ``.venv/bin/python benchmarks/originals.py [--threads 2] [--budget 1.0] [--only TEXT] [--save RUN.json]``.
``--save`` also writes the run (settings, machine, every row) as JSON; ``benchmarks/originals_table.py`` makes the
README's table from such files (``benchmarks/results/``).

Each configuration that ST-GCN, CTR-GCN, Shift-GCN, MS-G3D and EfficientGCN-B0/B2/B4 use (every layer's
in/out channels and stride, at the number of frames the layer sees in a 64-frame clip) is built through
``stviz.official.build``, and the original's forward, written out op by op in ``original_forwards.py``, runs on
the same module's weights. The two are timed call by call in turns (the order alternates), in eval mode under
``no_grad`` and as a training step (train mode, forward, backward from a fixed output gradient, the input
requiring grad as it does inside a model). A configuration's ratio is stviz's fastest call over the original's
fastest call (the calls least disturbed by other load); the ``pairs`` column is the median of the per-pair
ratios, a second opinion. Below 1 means stviz is faster. The goal is 1.0 (0.7 for MS-G3D's graph blocks);
the script prints every ratio and the worst one, and exits with status 1 when a ratio is above its goal.

On Linux each case and mode is timed in a process of its own, forked from this one (which times nothing), that first
checks that its threads work and allocates and frees one 31 MiB block: every case starts from the same allocator
state, that of a process that has freed a large tensor, whatever ran before it (``--in-process``, and other systems,
time them all in this process instead). Blocks run on N=8 sequences (4 clips of 2 persons), V=25; the full models on 2
clips of 2 persons, T=64.
The machine is shared: compare ratios within a run, and take several runs before concluding anything.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from stviz import cpu, official, set_seed
from stviz.cost import interleaved_times, keep_freed_memory

_spec = importlib.util.spec_from_file_location("original_forwards", Path(__file__).with_name("original_forwards.py"))
orig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(orig)

CASE_TIMEOUT_S = 900  # a model's training case takes under a minute
THREADS_TIMEOUT_S = 30  # a forked process's first multi-threaded ops take milliseconds, unless they never return
MSG3D_GRAPH_GOAL = 0.7  # MS-G3D's graph blocks: the contraction order leaves room for much more than parity
GOAL = 1.0


@dataclass(frozen=True)
class Case:
    """One configuration: ``make()`` gives (module, stviz call, original call, input shape)."""

    name: str
    goal: float
    make: Callable[[], tuple[nn.Module, Callable, Callable, tuple[int, ...]]]


def _block(name: str, goal: float, build: Callable[[], nn.Module], theirs, shape, call=None) -> Case:
    """A case whose stviz call is ``call(m, x)`` (default ``m(x)``) and whose original call is ``theirs(m, x)``."""

    def make():
        m = build()
        ours = (lambda x: call(m, x)) if call else m
        return m, ours, (lambda x: theirs(m, x)), shape

    return Case(name, goal, make)


def _first(m, *args):
    return m(*args)[0]


# ---------------------------------------------------------------------------- the configurations

# (in, out, stride, residual, frames divisor) of the ten layers shared by ST-GCN, CTR-GCN and Shift-GCN (deduplicated)
_TEN = (
    (3, 64, 1, False, 1),
    (64, 64, 1, True, 1),
    (64, 128, 2, True, 1),
    (128, 128, 1, True, 2),
    (128, 256, 2, True, 2),
    (256, 256, 1, True, 4),
)
# EfficientGCN-B0/B2/B4 block args [channels, stride, depth] (compound scaling of the base config, round half even)
_EFFGCN_ARGS = {
    "B0": ((48, 1, 0), (32, 1, 0), (64, 2, 1), (128, 2, 1)),
    "B2": ((64, 1, 1), (32, 1, 1), (96, 2, 2), (192, 2, 2)),
    "B4": ((96, 1, 2), (48, 1, 2), (128, 2, 3), (272, 2, 3)),
}


def stgcn_cases(n: int, t: int) -> list[Case]:
    A = official.adjacency("stgcn")
    cases = []
    for c_in, c_out, s, res, div in _TEN:
        shape = (n, c_in, t // div, 25)
        cases.append(
            _block(
                f"stgcn ConvTemporalGraphical {c_in}->{c_out} T{t // div}",
                GOAL,
                lambda c_in=c_in, c_out=c_out: official.build(
                    "stgcn", "ConvTemporalGraphical", in_channels=c_in, out_channels=c_out, kernel_size=3
                ),
                lambda m, x: orig.conv_temporal_graphical(m, x, A.to(x.dtype)),
                shape,
                call=lambda m, x: m(x, A.to(x.dtype))[0],
            )
        )
        cases.append(
            _block(
                f"stgcn st_gcn {c_in}->{c_out} s{s} T{t // div}",
                GOAL,
                lambda c_in=c_in, c_out=c_out, s=s, res=res: official.build(
                    "stgcn",
                    "st_gcn",
                    in_channels=c_in,
                    out_channels=c_out,
                    kernel_size=(9, 3),
                    stride=s,
                    dropout=0.5 if res else 0.0,
                    residual=res,
                ),
                lambda m, x: orig.st_gcn(m, x, A.to(x.dtype)),
                shape,
                call=lambda m, x: m(x, A.to(x.dtype))[0],
            )
        )
    return cases


def _perturbed_unit(unit):
    """A trained-looking unit_gcn: alpha and the BN weight away from their zero / 1e-6 init."""
    with torch.no_grad():
        unit.alpha.fill_(0.5)
        unit.bn.weight.fill_(1.0)
    return unit


def ctrgcn_cases(n: int, t: int) -> list[Case]:
    A = official.adjacency("ctrgcn")
    cases = []
    for c_in, c_out, s, res, div in _TEN:
        shape = (n, c_in, t // div, 25)
        cases.append(
            _block(
                f"ctrgcn CTRGC {c_in}->{c_out} T{t // div}",
                GOAL,
                lambda c_in=c_in, c_out=c_out: official.build("ctrgcn", "CTRGC", in_channels=c_in, out_channels=c_out),
                lambda m, x: orig.ctrgc(m, x, A[1].to(x.dtype), 0.5),
                shape,
                call=lambda m, x: m(x, A[1].to(x.dtype), 0.5),
            )
        )
        cases.append(
            _block(
                f"ctrgcn unit_gcn {c_in}->{c_out} T{t // div}",
                GOAL,
                lambda c_in=c_in, c_out=c_out: _perturbed_unit(
                    official.build("ctrgcn", "unit_gcn", in_channels=c_in, out_channels=c_out, A=A)
                ),
                orig.unit_gcn,
                shape,
            )
        )
        cases.append(
            _block(
                f"ctrgcn TCN_GCN_unit {c_in}->{c_out} s{s} T{t // div}",
                GOAL,
                lambda c_in=c_in, c_out=c_out, s=s, res=res: official.build(
                    "ctrgcn", "TCN_GCN_unit", in_channels=c_in, out_channels=c_out, A=A, stride=s, residual=res
                ),
                orig.ctrgcn_tcn_gcn_unit,
                shape,
            )
        )
        if c_in != 3:  # the layer's temporal part: out -> out with the layer's stride
            cases.append(
                _block(
                    f"ctrgcn MultiScale_TemporalConv {c_out}->{c_out} s{s} T{t // div}",
                    GOAL,
                    lambda c_out=c_out, s=s: official.build(
                        "ctrgcn",
                        "MultiScale_TemporalConv",
                        in_channels=c_out,
                        out_channels=c_out,
                        kernel_size=5,
                        stride=s,
                        dilations=(1, 2),
                        residual=False,
                    ),
                    orig.multiscale_temporal_conv,
                    (n, c_out, t // div, 25),
                )
            )
    for c_in, c_out, s in ((96, 192, 2), (96, 96, 1)):  # the configurations, the class's defaults
        cases.append(
            _block(
                f"ctrgcn MultiScale_TemporalConv(k3, d1-4) {c_in}->{c_out} s{s} T{t}",
                GOAL,
                lambda c_in=c_in, c_out=c_out, s=s: official.build(
                    "ctrgcn", "MultiScale_TemporalConv", in_channels=c_in, out_channels=c_out, stride=s
                ),
                orig.multiscale_temporal_conv,
                (n, c_in, t, 25),
            )
        )
    return cases


def shiftgcn_cases(n: int, t: int) -> list[Case]:
    cases = []
    for c_in, c_out, s, _, div in _TEN:
        cases.append(
            _block(
                f"shiftgcn Shift_gcn {c_in}->{c_out} T{t // div}",
                GOAL,
                lambda c_in=c_in, c_out=c_out: official.build(
                    "shiftgcn", "Shift_gcn", in_channels=c_in, out_channels=c_out
                ),
                orig.shift_gcn,
                (n, c_in, t // div, 25),
            )
        )
        cases.append(
            _block(
                f"shiftgcn Shift_tcn {c_out}->{c_out} s{s} T{t // div}",
                GOAL,
                lambda c_out=c_out, s=s: official.build(
                    "shiftgcn", "Shift_tcn", in_channels=c_out, out_channels=c_out, stride=s
                ),
                orig.shift_tcn,
                (n, c_out, t // div, 25),
            )
        )
    return cases


def _effgcn_layers(t: int) -> dict[str, tuple]:
    """Every (kind, channels, stride, frames) EfficientGCN-B0/B2/B4 use, deduplicated."""
    layers = {("Spatial_Graph_Layer", 6, 64, 1, t), ("Temporal_Basic_Layer", 64, 64, 1, t)}
    for args in _EFFGCN_ARGS.values():
        last, frames = 64, t
        for i, (width, stride, depth) in enumerate(args):
            if i == 2:
                last = 3 * last  # the three input branches are concatenated
            layers.add(("Spatial_Graph_Layer", last, width, 1, frames))
            for j in range(depth):
                s = stride if j == 0 else 1
                layers.add(("Temporal_Sep_Layer", width, width, s, frames))
                frames = (frames - 1) // s + 1
            layers.add(("Attention_Layer", width, width, 1, frames))
            last = width
    return sorted(layers)


def effgcn_cases(n: int, t: int) -> list[Case]:
    A = official.adjacency("effgcn")
    builders = {
        "Spatial_Graph_Layer": (
            lambda c_in, c_out, s: official.build(
                "effgcn",
                "Spatial_Graph_Layer",
                in_channel=c_in,
                out_channel=c_out,
                max_graph_distance=2,
                bias=True,
                act="swish",
                A=A,
            ),
            orig.spatial_graph_layer,
        ),
        "Temporal_Basic_Layer": (
            lambda c_in, c_out, s: official.build(
                "effgcn", "Temporal_Basic_Layer", channel=c_in, temporal_window_size=5, bias=True, stride=s
            ),
            orig.temporal_basic_layer,
        ),
        "Temporal_Sep_Layer": (
            lambda c_in, c_out, s: official.build(
                "effgcn",
                "Temporal_Sep_Layer",
                channel=c_in,
                temporal_window_size=5,
                bias=True,
                expand_ratio=2,
                stride=s,
            ),
            orig.temporal_sep_layer,
        ),
        "Attention_Layer": (
            lambda c_in, c_out, s: official.build("effgcn", "Attention_Layer", out_channel=c_in),
            orig.attention_layer,
        ),
        "Temporal_Bottleneck_Layer": (
            lambda c_in, c_out, s: official.build(
                "effgcn",
                "Temporal_Bottleneck_Layer",
                channel=c_in,
                temporal_window_size=5,
                bias=True,
                reduct_ratio=4,
                stride=s,
            ),
            orig.temporal_bottleneck_layer,
        ),
        "Temporal_SG_Layer": (
            lambda c_in, c_out, s: official.build(
                "effgcn", "Temporal_SG_Layer", channel=c_in, temporal_window_size=5, bias=True, reduct_ratio=4, stride=s
            ),
            orig.temporal_sg_layer,
        ),
    }
    # the other temporal layer types, which no B-level uses by default, at 64 channels
    extra = [("Temporal_Bottleneck_Layer", 64, 64, 1, t), ("Temporal_SG_Layer", 64, 64, 1, t)]
    cases = []
    for kind, c_in, c_out, s, frames in [*_effgcn_layers(t), *extra]:
        build, theirs = builders[kind]
        label = f"{c_in}->{c_out}" if c_in != c_out else f"{c_in}"
        cases.append(
            _block(
                f"effgcn {kind} {label}{f' s{s}' if s != 1 else ''} T{frames}",
                GOAL,
                lambda build=build, c_in=c_in, c_out=c_out, s=s: build(c_in, c_out, s),
                theirs,
                (n, c_in, frames, 25),
            )
        )
    return cases


def _no_final_act(m):
    m.act = nn.Identity()  # MS-G3D's model: ``sgcn[-1].act = nn.Identity()``
    return m


def msg3d_cases(n: int, t: int) -> list[Case]:
    A = official.adjacency("msg3d")
    g = MSG3D_GRAPH_GOAL
    cases = []
    # (in, out, stride, frames in) per stage: G3D pathway in -> out; spatial pathway's graph conv keeps `in`
    stages = ((3, 96, 1, t), (96, 192, 2, t), (192, 384, 2, t // 2))
    for c_in, c_out, s, frames in stages:
        gcn_out = c_out if c_in == 3 else c_in
        cases.append(
            _block(
                f"msg3d MultiScale_GraphConv(13) {c_in}->{gcn_out} T{frames}",
                g,
                lambda c_in=c_in, gcn_out=gcn_out: official.build(
                    "msg3d", "MultiScale_GraphConv", num_scales=13, in_channels=c_in, out_channels=gcn_out, A_binary=A
                ),
                orig.multiscale_graph_conv,
                (n, c_in, frames, 25),
            )
        )
        cases.append(
            _block(
                f"msg3d MultiWindow_MS_G3D {c_in}->{c_out} s{s} T{frames}",
                g,
                lambda c_in=c_in, c_out=c_out, s=s: official.build(
                    "msg3d",
                    "MultiWindow_MS_G3D",
                    in_channels=c_in,
                    out_channels=c_out,
                    A_binary=A,
                    num_scales=6,
                    window_stride=s,
                ),
                orig.multiwindow_ms_g3d,
                (n, c_in, frames, 25),
            )
        )
        frames_out = (frames - 1) // s + 1
        for w in (3, 5):
            cases.append(
                _block(
                    f"msg3d MS_G3D(w{w}) {c_in}->{c_out} s{s} T{frames}",
                    g,
                    lambda c_in=c_in, c_out=c_out, s=s, w=w: official.build(
                        "msg3d",
                        "MS_G3D",
                        in_channels=c_in,
                        out_channels=c_out,
                        A_binary=A,
                        num_scales=6,
                        window_size=w,
                        window_stride=s,
                        window_dilation=1,
                    ),
                    orig.ms_g3d,
                    (n, c_in, frames, 25),
                )
            )
            cases.append(
                _block(
                    f"msg3d SpatialTemporal_MS_GCN(w{w}) {c_in}->{gcn_out} T'{frames_out}",
                    g,
                    lambda c_in=c_in, gcn_out=gcn_out, w=w: official.build(
                        "msg3d",
                        "SpatialTemporal_MS_GCN",
                        in_channels=c_in,
                        out_channels=gcn_out,
                        A_binary=A,
                        num_scales=6,
                        window_size=w,
                    ),
                    orig.spatial_temporal_ms_gcn,
                    (n, c_in, frames_out, w * 25),
                )
            )
            cases.append(
                _block(
                    f"msg3d UnfoldTemporalWindows(w{w}) C{c_in} s{s} T{frames}",
                    GOAL,
                    lambda w=w, s=s: official.build("msg3d", "UnfoldTemporalWindows", window_size=w, window_stride=s),
                    orig.unfold_temporal_windows,
                    (n, c_in, frames, 25),
                )
            )
        # spatial pathway: MS-TCN(gcn_out -> out, stride), MS-TCN(out, out) without its final ReLU; then tcn(out, out)
        cases.append(
            _block(
                f"msg3d MultiScale_TemporalConv {gcn_out}->{c_out} s{s} T{frames}",
                GOAL,
                lambda gcn_out=gcn_out, c_out=c_out, s=s: official.build(
                    "msg3d", "MultiScale_TemporalConv", in_channels=gcn_out, out_channels=c_out, stride=s
                ),
                orig.multiscale_temporal_conv,
                (n, gcn_out, frames, 25),
            )
        )
        cases.append(
            _block(
                f"msg3d MultiScale_TemporalConv {c_out} T{frames_out}",
                GOAL,
                lambda c_out=c_out: official.build(
                    "msg3d", "MultiScale_TemporalConv", in_channels=c_out, out_channels=c_out
                ),
                orig.multiscale_temporal_conv,
                (n, c_out, frames_out, 25),
            )
        )
        cases.append(
            _block(
                f"msg3d MultiScale_TemporalConv {c_out} no final act T{frames_out}",
                GOAL,
                lambda c_out=c_out: _no_final_act(
                    official.build("msg3d", "MultiScale_TemporalConv", in_channels=c_out, out_channels=c_out)
                ),
                orig.multiscale_temporal_conv,
                (n, c_out, frames_out, 25),
            )
        )
    # the extra configurations, and docs/numbers.md's, at 64 channels
    cases.append(
        _block(
            f"msg3d MultiScale_GraphConv(13) 64->64 T{t}",
            g,
            lambda: official.build(
                "msg3d", "MultiScale_GraphConv", num_scales=13, in_channels=64, out_channels=64, A_binary=A
            ),
            orig.multiscale_graph_conv,
            (n, 64, t, 25),
        )
    )
    cases.append(
        _block(
            f"msg3d MultiScale_GraphConv(4, powers) 64->64 T{t}",
            g,
            lambda: official.build(
                "msg3d",
                "MultiScale_GraphConv",
                num_scales=4,
                in_channels=64,
                out_channels=64,
                A_binary=A,
                disentangled_agg=False,
            ),
            orig.multiscale_graph_conv,
            (n, 64, t, 25),
        )
    )
    cases.append(
        _block(
            f"msg3d MultiScale_TemporalConv(d1,2) 64 T{t}",
            GOAL,
            lambda: official.build(
                "msg3d", "MultiScale_TemporalConv", in_channels=64, out_channels=64, dilations=(1, 2)
            ),
            orig.multiscale_temporal_conv,
            (n, 64, t, 25),
        )
    )
    return cases


def model_cases(clips: int, t: int) -> list[Case]:
    shape = (clips, 3, t, 25, 2)
    effgcn_shape = (clips, 3, 6, t, 25, 2)
    cases = [
        _block("model ST-GCN", GOAL, lambda: official.build("stgcn", "Model"), orig.stgcn_model, shape),
        _block("model CTR-GCN", GOAL, lambda: official.build("ctrgcn", "Model"), orig.ctrgcn_model, shape),
        _block("model Shift-GCN", GOAL, lambda: official.build("shiftgcn", "Model"), orig.shiftgcn_model, shape),
        _block("model MS-G3D", GOAL, lambda: official.build("msg3d", "Model"), orig.msg3d_model, shape),
    ]
    for level in ("B0", "B2", "B4"):
        cases.append(
            _block(
                f"model EfficientGCN-{level}",
                GOAL,
                lambda level=level: official.build(
                    "effgcn", "EfficientGCN", model_type=f"EfficientGCN-{level}", data_shape=(3, 6, t, 25, 2)
                ),
                orig.efficientgcn_model,
                effgcn_shape,
                call=_first,
            )
        )
    return cases


def all_cases(n: int = 8, t: int = 64, clips: int = 2) -> dict[str, Case]:
    """Every configuration, by name (duplicates collapse)."""
    families = (stgcn_cases, ctrgcn_cases, shiftgcn_cases, effgcn_cases, msg3d_cases)
    cases = [c for family in families for c in family(n, t)] + model_cases(clips, t)
    return {c.name: c for c in cases}


# ---------------------------------------------------------------------------- timing


def _runner(fn, x: torch.Tensor, params: list[nn.Parameter], grad: torch.Tensor | None):
    """A zero-argument call: ``fn(x)`` under no_grad (eval), or a training step when ``grad`` is given."""
    if grad is None:

        def run():
            with torch.no_grad():
                fn(x)

        return run

    def step():
        for p in params:
            p.grad = None
        x.grad = None
        fn(x).backward(grad)

    return step


@dataclass(frozen=True)
class Timing:
    """Fastest call of each side (the least disturbed by other load) and the median of the per-pair ratios."""

    ours_ms: float
    theirs_ms: float
    pair_median: float
    pairs: int

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.theirs_ms


def measure(case: Case, mode: str, budget: float, clock=time.perf_counter, min_pairs: int = 10) -> Timing:
    """Time one case in ``mode`` ('eval' or 'train')."""
    set_seed(0)
    module, ours, theirs, shape = case.make()
    module.train(mode == "train")
    x = torch.randn(shape)
    grad = None
    if mode == "train":
        x.requires_grad_(not case.name.startswith("model "))  # a block's input comes from earlier layers
        with torch.no_grad():
            grad = torch.randn_like(ours(x))
    params = [p for p in module.parameters() if p.requires_grad]
    budget *= 4 if case.name.startswith("model ") else 1
    a, b = interleaved_times(
        _runner(ours, x, params, grad), _runner(theirs, x, params, grad), budget, min_pairs, clock=clock
    )
    pair_median = statistics.median(x / y for x, y in zip(a, b, strict=True))
    return Timing(1e3 * min(a), 1e3 * min(b), pair_median, len(a))


@dataclass(frozen=True)
class Settings:
    """How :func:`measure` times every case: seconds and fewest pairs per case and mode, clock, threads."""

    budget: float
    pairs: int
    clock: str  # "wall" or "cpu"
    threads: int


def measure_with(case: Case, mode: str, settings: Settings) -> Timing:
    """:func:`measure` of ``case`` with ``settings``, in this process."""
    torch.set_num_threads(settings.threads)
    clock = time.perf_counter if settings.clock == "wall" else time.process_time
    return measure(case, mode, settings.budget, clock, settings.pairs)


def settled_measure(case: Case, mode: str, settings: Settings) -> Timing:
    """:func:`measure_with` after one 31 MiB block was allocated and freed. A new process's glibc maps every block
    over 128 kB afresh (page faults on each call) until it frees one, and then serves blocks up to the largest freed
    one from its heap; after this, every case starts as in a process that has freed a large tensor."""
    torch.empty(31 * 2**20, dtype=torch.uint8)
    return measure_with(case, mode, settings)


def run_threaded_ops(threads: int) -> None:
    """A reduction and a matrix product on ``threads`` threads, each large enough to run in parallel."""
    torch.set_num_threads(threads)
    torch.ones(1 << 20).sum()
    torch.ones(256, 256) @ torch.ones(256, 256)


def in_fresh_process(case: Case, mode: str, settings: Settings) -> Timing:
    """:func:`settled_measure` in a child forked from this process, which times nothing itself: every case starts from
    the same heap, whatever ran before it (the heap left by earlier cases otherwise moves a ratio by up to 30%).

    Threads do not survive a fork. With GNU OpenMP (PyTorch's Linux wheels), once this process has run a multi-threaded
    CPU op the child's first multi-threaded op waits forever for threads it does not have: the child runs a few
    first (:func:`run_threaded_ops`) and, if they do not return within :data:`THREADS_TIMEOUT_S`, reports it and
    exits. Likewise autograd's device threads: the caller must not have run a backward pass with an accelerator
    visible. A child that fails, dies or takes more than :data:`CASE_TIMEOUT_S` raises here, naming the case."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    name = case.name

    reported = threading.Lock()  # in the child: its first report, from the watchdog or from the measurement, is sent

    def stuck() -> None:  # in the child, on a thread of its own, while its main thread waits on the lost threads
        if reported.acquire(blocking=False):
            sender.send(
                RuntimeError(
                    f"{name} ({mode}): its forked process hung in its first {settings.threads}-thread op: the process "
                    "that forked it had run multi-threaded CPU work, and OpenMP's threads do not survive a fork. Time "
                    "the cases from a process that has run nothing multi-threaded (python benchmarks/originals.py, or "
                    "keep it on one thread until it forks), or with --in-process"
                )
            )
            os._exit(1)

    def child() -> None:
        watchdog = threading.Timer(THREADS_TIMEOUT_S, stuck)
        watchdog.daemon = True
        watchdog.start()
        try:
            run_threaded_ops(settings.threads)
            watchdog.cancel()
            result = astuple(settled_measure(case, mode, settings))  # plain values: any loader
        except BaseException:
            watchdog.cancel()
            result = RuntimeError(f"{name} ({mode}) failed in its process:\n{traceback.format_exc()}")
        if reported.acquire(blocking=False):  # else the watchdog fired as the first ops returned, and exits
            sender.send(result)

    process = context.Process(target=child, daemon=True)
    process.start()
    sender.close()  # the child holds the only sending end: if it dies, recv raises EOFError
    if not receiver.poll(CASE_TIMEOUT_S):
        process.kill()
        process.join()
        raise RuntimeError(f"{name} ({mode}): no result after {CASE_TIMEOUT_S} s; its process was killed")
    try:
        result = receiver.recv()
    except EOFError:
        result = None
    process.join()
    if result is None:
        raise RuntimeError(f"{name} ({mode}): its process died (exit code {process.exitcode})")
    if isinstance(result, BaseException):
        raise result
    return Timing(*result)


def run_record(rows: list[tuple[Case, str, Timing]], args: argparse.Namespace, seconds: float) -> dict:
    """What ``--save`` writes: when the run finished (UTC), the processor (name, vendor, family/model, the instruction
    set torch uses, and the kernel stviz's 1x1 convolutions took), torch, the run's seconds and settings, and every row
    with its goal."""
    settings = "threads frames batch clips budget pairs clock keep_freed_memory in_process modes only".split()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cpu": cpu.cpu_name(),
        "cpu_vendor": cpu.cpu_vendor(),
        "cpu_family_model": cpu.cpu_family_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "pointwise_kernel": cpu.POINTWISE_KERNEL,
        "seconds": round(seconds),
        "settings": {k: getattr(args, k) for k in settings},
        "rows": [
            {
                "name": case.name,
                "mode": mode,
                "stviz_ms": t.ours_ms,
                "original_ms": t.theirs_ms,
                "ratio": t.ratio,
                "pair_median": t.pair_median,
                "pairs": t.pairs,
                "goal": case.goal,
            }
            for case, mode, t in rows
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64, help="frames of the clip (layers see T, T/2, T/4)")
    parser.add_argument("--batch", type=int, default=8, help="sequences per block input (clips x persons)")
    parser.add_argument("--clips", type=int, default=2, help="clips of 2 persons per full-model input")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per case and mode (models x4)")
    parser.add_argument("--modes", nargs="+", default=["eval", "train"], choices=["eval", "train"])
    parser.add_argument(
        "--pairs",
        type=int,
        default=10,
        help="fewest timed pairs per case and mode (the largest blocks take 0.1-0.5 s a call: with fewer pairs their "
        "fastest calls, and so their ratios, move by 10-20%% between runs)",
    )
    parser.add_argument("--only", nargs="*", default=[], help="run the cases whose name contains any of these")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time (the goal); cpu: this process's CPU time, less disturbed by other processes on a "
        "busy machine (with --threads 1 it is the work done)",
    )
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="ask glibc to keep freed memory (stviz.cost.keep_freed_memory): neither side then pays page faults for "
        "its large temporaries, as with jemalloc or tcmalloc; by default glibc's defaults stand, as for most users",
    )
    parser.add_argument(
        "--pointwise-kernel",
        choices=["matmul", "conv"],
        help="run stviz's 1x1 convolutions as MKL products or as oneDNN convolutions (stviz.cpu.POINTWISE_KERNEL); "
        "by default, as stviz.cpu chooses for this CPU",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="time every case in this process, one after another (each case's ratio then depends on what ran before "
        "it); by default, on Linux, each case and mode runs in a child forked from this process, from a settled "
        "allocator (elsewhere always in this process)",
    )
    parser.add_argument(
        "--save",
        type=Path,
        metavar="RUN.json",
        help="also write the run (date, machine, settings, every row) to this JSON file, for "
        "benchmarks/originals_table.py",
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: at least 1")
    if args.save and not args.save.parent.is_dir():  # before the run, not after it
        parser.error(f"--save: no folder {args.save.parent}")
    if args.pointwise_kernel:  # forked children inherit it
        cpu.POINTWISE_KERNEL = args.pointwise_kernel
    started = time.perf_counter()
    settings = Settings(args.budget, args.pairs, args.clock, args.threads)
    kept = keep_freed_memory() if args.keep_freed_memory else False  # forked children inherit it
    cases = all_cases(args.batch, args.frames, args.clips)
    if args.only:
        cases = {k: c for k, c in cases.items() if any(s in k for s in args.only)}
        if not cases:
            parser.error(f"--only {' '.join(args.only)}: no configuration's name contains any of these")
    fresh = not args.in_process and sys.platform.startswith("linux")  # glibc's allocator, and a safe fork
    timed = in_fresh_process if fresh else measure_with
    heap = "kept" if kept else "the allocator's defaults"
    where = "a fresh process per case and mode" if fresh else "one process"
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.clock} clock, freed memory: {heap}, {where}; "
        f"1x1 convolutions: {cpu.POINTWISE_KERNEL}; blocks: N={args.batch}, V=25, "
        f"T as in a {args.frames}-frame clip; models: {args.clips} clips x 2 persons; ms: fastest of the interleaved "
        f"calls; ratio: stviz / original; pairs: median of the per-pair ratios"
    )
    print(
        f"{'configuration':58s} {'mode':5s} {'stviz ms':>9s} {'orig ms':>9s} {'ratio':>6s} {'pairs':>6s} {'goal':>5s}"
    )
    rows = []
    for case in cases.values():
        for mode in args.modes:
            r = timed(case, mode, settings)
            rows.append((case, mode, r))
            flag = "" if r.ratio <= case.goal else "  OVER"
            print(
                f"{case.name:58s} {mode:5s} {r.ours_ms:9.2f} {r.theirs_ms:9.2f} {r.ratio:6.2f} {r.pair_median:6.2f} "
                f"{case.goal:5.1f}{flag}",
                flush=True,
            )
    by_margin = sorted(rows, key=lambda row: -row[2].ratio / row[0].goal)  # worst first
    over = [(case, mode, r) for case, mode, r in by_margin if r.ratio > case.goal]
    case, mode, r = by_margin[0]
    print(f"\nworst: {case.name} ({mode}) {r.ratio:.2f} against a goal of {case.goal}")
    print(f"{len(over)} of {len(rows)} over their goal")
    for case, mode, r in over:
        print(f"  {case.name} ({mode}) {r.ratio:.2f} > {case.goal}")
    if args.save:
        record = run_record(rows, args, time.perf_counter() - started)
        args.save.write_text(json.dumps(record, indent=1) + "\n")
        print(f"saved to {args.save}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
