"""06 · Contrast: pick models and a frame count; see params, MACs and the time ratio to a reference model.

The time ratio is measured interleaved in the same call (:func:`stviz.cost.speed_ratio`), so load from other
processes hits both models alike; it is the only timing shown.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from stviz.checks import check_choice, check_in_range
from stviz.cost import model_input, speed_ratio
from stviz.models import MODEL_NAMES, build_model
from stviz.reconcile import model_cost
from stviz.widgets import WIDE_LABELS, PictureBox, picture, show_figure
from stviz.widgets.choice import Choice

__all__ = ["CostExplorer", "cost_explorer"]

MIN_FRAMES, MAX_FRAMES, FRAME_STEP = 16, 288, 16


class CostExplorer(PictureBox):
    """Controls ``models`` (multi-select), ``reference`` (dropdown) and ``frames`` (slider).

    After each change ``rows`` holds one dict per chosen model and the reference: ``params`` (trainable),
    ``GMAC`` per sample of ``frames`` frames and 2 persons, ``MAC ratio`` and ``time ratio`` to the reference
    (the time ratio is the median over ``budget_s`` seconds of interleaved forward pairs, batch 1, no grad, on one
    thread, which is steadier on a shared machine).
    """

    def __init__(
        self,
        models: tuple[str, ...] = ("ctrgcn", "shiftgcn"),
        reference: str = "stgcn",
        frames: int = 32,
        budget_s: float = 0.2,
    ):
        check_choice(reference, MODEL_NAMES, "reference", "cost_explorer")
        for name in models:
            check_choice(name, MODEL_NAMES, "models", "cost_explorer")
        check_in_range(frames, MIN_FRAMES, MAX_FRAMES, "frames", "cost_explorer", step=FRAME_STEP)
        self.budget_s = budget_s
        self._built: dict[str, torch.nn.Module] = {}
        self.models = widgets.SelectMultiple(options=MODEL_NAMES, value=tuple(models), rows=len(MODEL_NAMES),
                                             description="models")  # fmt: skip
        self.reference = Choice(options=MODEL_NAMES, value=reference, description="reference", style=WIDE_LABELS)
        self.frames = widgets.IntSlider(value=frames, min=MIN_FRAMES, max=MAX_FRAMES, step=FRAME_STEP,
                                        description="frames", continuous_update=False)  # fmt: skip
        self.summary = widgets.Label()
        self.image = picture()
        super().__init__([widgets.HBox([self.models, widgets.VBox([self.reference, self.frames])]), self.summary,
                          self.image])  # fmt: skip
        for control in (self.models, self.reference, self.frames):
            control.observe(self.redraw, names="value")
        self.redraw()

    def _model(self, name: str) -> torch.nn.Module:
        """Model ``name`` on the CPU, built once, for timing."""
        if name not in self._built:
            torch.manual_seed(0)
            self._built[name] = build_model(name).eval()
        return self._built[name]

    def _row(self, name: str, reference_cost, reference_forward) -> dict:
        model, t = self._model(name), self.frames.value
        cost = model_cost(name, t)  # counted on shapes, once per (model, T)
        x = model_input(model, t, 2).tensor()
        with torch.no_grad():
            time_ratio = 1.0 if reference_forward is None else speed_ratio(
                lambda: model(x), reference_forward, budget_s=self.budget_s, threads=1)  # fmt: skip
        mac_ratio = 1.0 if reference_cost is None else cost.macs / reference_cost.macs
        return {"model": name, "params": cost.params, "GMAC": cost.macs / 1e9, "MAC ratio": mac_ratio,
                "time ratio": time_ratio, "cost": cost}  # fmt: skip

    def redraw(self, change=None) -> None:
        reference, t = self.reference.value, self.frames.value
        base = self._row(reference, None, None)
        ref_model = self._model(reference)
        x_ref = model_input(ref_model, t, 2).tensor()
        chosen = [name for name in self.models.value if name != reference]
        self.rows = [base] + [self._row(name, base["cost"], lambda: ref_model(x_ref)) for name in chosen]
        for row in self.rows:
            del row["cost"]
        self.summary.value = f"T = {t}, 2 persons, batch 1; ratios are to {reference}, timed interleaved just now"
        names = [row["model"] for row in self.rows]
        fig, axes = plt.subplots(1, 3, figsize=(10, 3), layout="constrained")
        axes[0].bar(names, [row["params"] / 1e6 for row in self.rows], color="tab:blue")
        axes[0].set(ylabel="trainable parameters (M)", title="parameters")
        axes[1].bar(names, [row["GMAC"] for row in self.rows], color="tab:orange")
        axes[1].set(ylabel="GMAC per sample", title=f"MACs at T = {t}")
        at = np.arange(len(names))
        axes[2].bar(at - 0.2, [row["MAC ratio"] for row in self.rows], 0.4, label="MACs", color="tab:orange")
        axes[2].bar(at + 0.2, [row["time ratio"] for row in self.rows], 0.4, label="time", color="tab:green")
        axes[2].axhline(1, color="black", lw=0.8)
        axes[2].set_xticks(at, names)
        axes[2].set(ylabel=f"ratio to {reference}", title="MACs and time, relative")
        axes[2].legend(fontsize=8)
        for ax in axes:
            ax.tick_params(axis="x", labelrotation=20)
        show_figure(self.image, fig)


def cost_explorer(
    models: tuple[str, ...] = ("ctrgcn", "shiftgcn"), reference: str = "stgcn", frames: int = 32, budget_s: float = 0.2
) -> CostExplorer:
    """The notebook's one-call widget."""
    return CostExplorer(models, reference, frames, budget_s)
