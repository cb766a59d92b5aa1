"""ipywidgets controls for the notebooks, one module per topic.

Each explorer is a :class:`PictureBox`: controls above a picture of the current figure. Its controls and state
are attributes, so a test (or the next notebook cell) can set ``.value`` and check what changed. The picture is an
``ipywidgets.Image`` shown at its natural size, and a displayed explorer's output carries the same picture as
``image/png`` beside the widget view, so a reader without a kernel (untrusted JupyterLab, GitHub, nbviewer,
``make html``) sees the figure instead of the widget's repr.
"""

from __future__ import annotations

import base64

import ipywidgets as widgets
from matplotlib.figure import Figure

from stviz.viz.style import png_bytes

__all__ = ["PictureBox", "picture", "show_figure", "WIDE_LABELS"]

# For controls whose description or option labels are longer than ipywidgets' fixed widths.
WIDE_LABELS = {"description_width": "initial"}


def picture() -> widgets.Image:
    """An empty PNG ``Image`` kept at its natural size (a box would otherwise stretch it to its own width)."""
    return widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))


def show_figure(image: widgets.Image, fig: Figure) -> None:
    """Render ``fig`` as PNG (at :data:`stviz.viz.style.DPI`) into the ``image`` widget and close it.

    An ``Image`` widget (rather than an ``Output``) keeps the picture in widget state, so a notebook cell's outputs
    are the same in JupyterLab, nbconvert and nbval, and the figure is not displayed a second time.
    """
    image.value = png_bytes(fig)


class PictureBox(widgets.VBox):
    """A VBox of controls whose ``image`` attribute holds the current picture; displays it as ``image/png`` too."""

    image: widgets.Image

    def __repr__(self) -> str:
        """The class and its controls' values, e.g. ``ShiftDiagram(fold_div=8, direction='TSM: ...')``."""
        values = (f"{c.description}={c.value:.2f}" if isinstance(c.value, float) else f"{c.description}={c.value!r}"
                  for c in _controls(self))  # fmt: skip
        return f"{type(self).__name__}({', '.join(values)})"

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.image.value:
            bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle


def _controls(box: widgets.Box) -> list[widgets.ValueWidget]:
    """The described value widgets inside ``box`` (sliders, dropdowns, toggles), in display order."""
    found = []
    for child in box.children:
        if isinstance(child, widgets.Box):
            found += _controls(child)
        elif isinstance(child, widgets.ValueWidget) and getattr(child, "description", ""):
            found.append(child)
    return found
