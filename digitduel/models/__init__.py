"""The model zoo: one registry of every architecture in the five reports."""

from digitduel.models.registry import (
    REPORTS,
    ModelOutput,
    ModelSpec,
    UnknownModelError,
    get_spec,
    list_specs,
    register,
)

__all__ = [
    "REPORTS",
    "ModelOutput",
    "ModelSpec",
    "UnknownModelError",
    "get_spec",
    "list_specs",
    "register",
]
