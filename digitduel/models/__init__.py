"""The model zoo: one registry of every architecture in the five reports.

Importing this package registers every built-in model: it imports the report modules below,
whose `@register` decorators fill the registry (as timm's `models/__init__.py` does). The
registry itself imports no model file, so the report modules can import it without a cycle.
A model defined elsewhere (a plug-in, a test) registers itself when its module is imported.
"""

# The report modules, imported for their @register (in the order `digitduel models` lists).
from digitduel.models import banjac, borba, cappelletti, convnet_ws_aux, jomeau  # noqa: F401
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
