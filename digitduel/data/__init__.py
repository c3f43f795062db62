"""MNIST digits and the course's pair protocol.

data = load_mnist()                 # dir -> $DIGITDUEL_DATA -> cache -> download -> embedded
pairs = draw_pairs(data, n=1000, seed=0).to(device)
x, t, c = augment_batch(x, t, c, ["swap", "crop_flip"], generator)
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digitduel.data.augment import augment_batch, repair_pairs
    from digitduel.data.digits import DigitSplit, MnistData
    from digitduel.data.download import DEFAULT_MIRRORS, FILES, OFFICIAL_MD5, download_mnist
    from digitduel.data.pairs import PairData, PairSet, draw_pairs, fold_split
    from digitduel.data.sources import cache_dir, load_mnist

# Loaded on first use (PEP 562): `digitduel data info` reads digitduel.data.sources without
# importing torch, which the tensor modules (augment, digits, pairs) need.
_WHERE = {
    "augment_batch": "augment",
    "repair_pairs": "augment",
    "DigitSplit": "digits",
    "MnistData": "digits",
    "DEFAULT_MIRRORS": "download",
    "FILES": "download",
    "OFFICIAL_MD5": "download",
    "download_mnist": "download",
    "PairData": "pairs",
    "PairSet": "pairs",
    "draw_pairs": "pairs",
    "fold_split": "pairs",
    "cache_dir": "sources",
    "load_mnist": "sources",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_MIRRORS",
    "FILES",
    "OFFICIAL_MD5",
    "DigitSplit",
    "MnistData",
    "PairData",
    "PairSet",
    "augment_batch",
    "cache_dir",
    "download_mnist",
    "draw_pairs",
    "fold_split",
    "load_mnist",
    "repair_pairs",
]
