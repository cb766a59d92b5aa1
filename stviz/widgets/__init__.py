"""ipywidgets controls for the notebooks, one module per topic.

Each function builds the controls, wires ``observe(..., names="value")`` to a
plain drawing or data function, and returns an object whose controls are
attributes, so a test (or the next notebook cell) can set ``.value`` and check
what changed.
"""

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["show_figure"]


def show_figure(image: widgets.Image, fig: Figure, dpi: int = 80) -> None:
    """Render ``fig`` as PNG into the ``image`` widget and close it.

    An ``Image`` widget (rather than an ``Output``) keeps the picture in widget state, so a notebook cell's outputs
    are the same in JupyterLab, nbconvert and nbval, and the figure is not displayed a second time.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    image.value = buffer.getvalue()
