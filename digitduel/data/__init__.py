"""MNIST digits and the course's pair protocol.

data = load_mnist()                 # dir -> $DIGITDUEL_DATA -> cache -> download -> embedded
pairs = draw_pairs(data, n=1000, seed=0).to(device)
x, t, c = augment_batch(x, t, c, ["swap", "crop_flip"], generator)
"""

from digitduel.data.augment import augment_batch, repair_pairs
from digitduel.data.digits import DigitSplit, MnistData
from digitduel.data.download import DEFAULT_MIRRORS, FILES, OFFICIAL_MD5, download_mnist
from digitduel.data.pairs import PairData, PairSet, draw_pairs, fold_split
from digitduel.data.sources import cache_dir, load_mnist

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
