"""Errors a user can meet. Each message is a sentence that says what to do next.

The CLI prints `str(error)` on one line and exits non-zero; the app shows it in an
`st.error` box. Internal invariants stay plain `assert`s.
"""


class LabError(Exception):
    """Base class for every error the lab reports to a person."""


class DataError(LabError):
    """A dataset is missing, unreachable, truncated or corrupt."""


class CheckpointError(LabError):
    """A model file is missing, unsafe, corrupt or does not match its card."""


class ConfigError(LabError, ValueError):
    """A setting is out of range (T <= 0, alpha outside [0, 1], zero epochs...)."""
