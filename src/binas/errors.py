"""Exceptions raised for anything a user can get wrong.

The CLI turns every :class:`BinasError` into one red line on stderr and exit code 2.
"""

__all__ = ["ArchitectureError", "AutoBuildError", "BinasError", "ConfigError", "DataError", "ExportError",
           "FileFormatError", "NotFittedError", "OutputError", "ResumeError", "SearchError", "SpaceError"]


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


class NotFittedError(DataError, AttributeError):
    """A predictor was used before ``fit``."""


class ExportError(BinasError):
    """ONNX export or its verification failed."""


class SearchError(BinasError):
    """A search request that cannot be answered (unknown resource, infeasible budget, ...)."""


class ConfigError(BinasError):
    """A training configuration value is invalid."""


class OutputError(BinasError):
    """An output path cannot be written (a folder, under a file, not writable, or locked by another run)."""


class AutoBuildError(BinasError):
    """An AutoBuild request that cannot be answered (missing LUT, infeasible budget, ...)."""


class ResumeError(BinasError):
    """A run cannot be resumed: nothing to resume, or a setting differs from the saved run."""
