"""The library's own error types: one home for every problem a user can fix.

Each is a problem the user can fix (a bad value, file, folder, dataset or
architecture), and its message is one line that names the problem and the fix.
The ``glit`` command prints exactly these as one line; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

__all__ = ["GlitError", "ConfigError", "DataError", "OutputError", "CheckpointError",
           "BudgetError", "ArchitectureError", "WeightsError", "ReplayError", "ShippedFileError"]


class GlitError(Exception):
    """Base of every error whose message tells the user what to change."""


class ConfigError(GlitError, ValueError):
    """A setting out of range or of the wrong type (a flag, a config file field)."""


class DataError(GlitError, ValueError):
    """A dataset that is missing, malformed, too small or does not fit the space."""


class OutputError(GlitError):
    """An output folder that cannot be used (in use, not ours, not writable, full)."""


class CheckpointError(GlitError, ValueError):
    """A checkpoint or result file that cannot be used; the message says how to fix it."""


class BudgetError(GlitError, ValueError):
    """A MACs limit no architecture of the path space can meet."""


class ArchitectureError(GlitError, ValueError):
    """An architecture or search space that cannot exist; the message says why."""


class WeightsError(GlitError, ValueError):
    """A weights file or state dict that does not fit the model."""


class ReplayError(GlitError, ValueError):
    """A candidate list that is not the record of a search (empty, unscored, out of order)."""


class ShippedFileError(GlitError, FileNotFoundError):
    """A result the chapters read that this install of glitlib does not carry."""
