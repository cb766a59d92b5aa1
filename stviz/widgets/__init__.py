"""ipywidgets controls for the notebooks, one module per topic.

Each function builds the controls, wires ``observe(..., names="value")`` to a
plain drawing or data function, and returns an object whose controls are
attributes, so a test (or the next notebook cell) can set ``.value`` and check
what changed.
"""
