"""Project exceptions: errors a user can cause carry a one-line message."""

from __future__ import annotations


class TaggerError(Exception):
    """An error the user can act on; the CLI prints ``str(err)`` without a traceback."""


class ConfigError(TaggerError):
    """Bad configuration value, file or environment variable."""


class UnreadableFileError(TaggerError):
    """A file that cannot be read as audio or as tags."""


class DecodeError(UnreadableFileError):
    """Audio that cannot be decoded."""


class Cancelled(TaggerError):
    """Long work stopped because the caller asked it to."""


class CalibrationError(TaggerError):
    """Calibration data that cannot be used (wrong shapes, too few labels, bad values)."""
