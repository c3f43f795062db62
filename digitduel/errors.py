"""Errors a user can fix. The CLI prints them as one line (`error: ...`) and exits non-zero;
the engine raises them and never prints."""

from __future__ import annotations


class DigitduelError(Exception):
    """Base: a clear one-line message and an exit code."""

    code = 1

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class DataError(DigitduelError):
    """Missing, truncated or corrupt MNIST data, or no source available."""


class ConfigError(DigitduelError):
    """Bad settings or preset (unknown key, wrong type, unknown model): a usage error."""

    code = 2


class DeviceError(DigitduelError):
    """A device that this machine does not have (`--device cuda` without CUDA): a usage
    error, exit 2, like an unknown device name."""

    code = 2
