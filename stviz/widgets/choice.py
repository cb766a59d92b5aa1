"""Selection controls whose invalid selection names the value and the valid options.

ipywidgets' own message is ``Invalid selection: value not found``; :class:`Choice` (a dropdown) and
:class:`ToggleChoice` (toggle buttons) raise a ``TraitError`` that says which value was set and which were valid.
"""

from __future__ import annotations

import ipywidgets as widgets
from traitlets import TraitError, validate

__all__ = ["Choice", "ToggleChoice"]


class _NamedSelection:
    """Mixin for ipywidgets' single-selection widgets: a clear error for a value that is not an option."""

    @validate("value")
    def _validate_value(self, proposal):
        valid = list(self._options_values)
        if proposal.value is not None and proposal.value not in valid:
            what = self.description or type(self).__name__
            raise TraitError(f"{what}: {proposal.value!r} is not a valid option; expected one of {valid}")
        return super()._validate_value(proposal)


class Choice(_NamedSelection, widgets.Dropdown):
    """``ipywidgets.Dropdown`` with a clear invalid-selection error."""


class ToggleChoice(_NamedSelection, widgets.ToggleButtons):
    """``ipywidgets.ToggleButtons`` with a clear invalid-selection error."""
