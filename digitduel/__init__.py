"""digitduel: train, time and compare neural networks on the MNIST digit-pair task."""

__version__ = "0.1.0"

# `from digitduel import register, ModelOutput` for users' model files. Resolved lazily, so
# `import digitduel` (every CLI start) does not import torch.
_LAZY = {
    "register": "digitduel.models.user",
    "ModelOutput": "digitduel.models.registry",
}
__all__ = ["ModelOutput", "__version__", "register"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'digitduel' has no attribute {name!r}")
