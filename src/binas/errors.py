"""Exceptions raised for anything a user can get wrong.

The CLI turns every :class:`BinasError` into one red line on stderr and exit code 2.
"""

__all__ = ["BinasError", "SpaceError", "ArchitectureError", "FileFormatError", "DataError"]


class BinasError(Exception):
    """Base class of every error caused by user input (one-sentence message)."""


class SpaceError(BinasError):
    """A search-space definition is invalid or unknown."""


class ArchitectureError(BinasError, ValueError):
    """An architecture (string, JSON or value) is malformed or outside the space."""


class FileFormatError(BinasError):
    """A file is missing, corrupt, of the wrong format/version, or made for another space."""


class DataError(BinasError):
    """A dataset is missing or malformed."""
