"""The library's own error types.

Each is a problem the user can fix (a bad value, file, folder or dataset), and
its message is one line that names the problem and the fix. The ``glit`` command
prints exactly these as one line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["GlitError", "ConfigError", "DataError", "OutputError", "CheckpointError",
           "BudgetError"]


class GlitError(Exception):
    """Base of every error whose message tells the user what to change."""


class ConfigError(GlitError, ValueError):
    """A setting out of range or of the wrong type (a flag, a config file field)."""


class DataError(GlitError, ValueError):
    """A dataset that is missing, malformed, too small or does not fit the space."""


class OutputError(GlitError):
    """An output folder that cannot be used (in use, not ours, not writable)."""


class CheckpointError(GlitError, ValueError):
    """A checkpoint or result file that cannot be used; the message says how to fix it."""


class BudgetError(GlitError, ValueError):
    """A MACs limit no architecture of the path space can meet."""
