"""One resolution and one width for every picture the notebooks store, and compact PNGs.

Inline figures, widget pictures and animation frames are all rendered at :data:`DPI`; the widest figure is
:data:`WIDTH` inches, so no stored picture is wider than ``WIDTH * DPI`` pixels (720) and none is scaled by the
browser. Every stored PNG is reduced to a 256-colour palette (line art and colour maps survive it; the file is
about a third of matplotlib's RGBA PNG), which keeps each notebook with outputs under 600 kB.
:func:`use_style` applies both to the figures a notebook shows itself.
"""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from PIL import Image

__all__ = [
    "DPI",
    "WIDTH",
    "STREAM_COLOURS",
    "STREAM_MARKERS",
    "stream_label",
    "plain_log_ticks",
    "use_style",
    "png_bytes",
]

DPI = 72
WIDTH = 10.0
STREAM_COLOURS = {1: "tab:blue", 2: "tab:orange", 4: "tab:purple"}  # one colour per number of fused streams
STREAM_MARKERS = {1: "o", 2: "s", 4: "D"}


def stream_label(streams: int) -> str:
    """Legend text for a number of fused streams: ``'1 stream'``, ``'4 streams'``."""
    return f"{streams} stream{'s' * (streams != 1)}"


def plain_log_ticks(axis: Axis) -> None:
    """A log axis ticked at 0.2, 0.5, 1, 2, 5, ... written as plain numbers, not as powers of 10."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _palette_png(png: bytes) -> bytes:
    """An RGBA PNG as a 256-colour palette PNG (no dithering, so flat areas stay flat and compress well)."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _figure_png(fig: Figure, dpi: int = DPI, tight: bool = False) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None, metadata={"Software": None})
    return _palette_png(buffer.getvalue())


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """``fig`` as a palette PNG at ``dpi``; the figure is closed so that it is not shown a second time."""
    png = _figure_png(fig, dpi)
    plt.close(fig)
    return png


def use_style() -> None:
    """Render new figures at :data:`DPI` and, in IPython, show them as palette PNGs (call once, in a setup cell)."""
    plt.rcParams["figure.dpi"] = DPI
    plt.rcParams["savefig.dpi"] = DPI
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    if "inline" in matplotlib.get_backend():
        # the inline backend registers its own PNG formatter when first loaded: load it now, then replace that
        import matplotlib_inline.backend_inline  # noqa: F401
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: _figure_png(fig, tight=True))
