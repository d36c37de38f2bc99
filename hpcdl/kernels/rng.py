"""Counter-based random numbers for dropout masks.

A mask bit depends only on (seed, global sample index, layer, unit), never on the
thread that happens to process the sample, so masks are reproducible under HOGWILD!
and the NumPy reference (reference.py) recomputes them exactly.

    key  = mix(mix(mix(seed) ^ sample) ^ (layer + 1) * GOLDEN)     # once per sample and layer
    u    = (mix(key + (unit + 1) * GOLDEN) >> 40) * 2**-24          # uniform in [0, 1)

``mix`` is the splitmix64 finalizer. ``layer`` is 0 for input dropout and h + 1 for
hidden layer h (0-based). A unit is dropped iff ``u < ratio``.
"""

import numpy as np
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S40 = np.uint64(40)
_ONE = np.uint64(1)
_INV24 = np.float32(1.0 / (1 << 24))


@njit(cache=True)
def mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def layer_key(seed, sample, layer):
    """Per (seed, sample, layer) key; seed is uint64, sample and layer int64."""
    k = mix64(seed)
    k = mix64(k ^ np.uint64(sample))
    return mix64(k ^ (np.uint64(layer) + _ONE) * GOLDEN)


@njit(cache=True)
def hidden_mask_key(seed, sample, hidden_layer, shared):
    """Key of hidden layer ``hidden_layer``'s (0-based) dropout mask for one sample.

    shared (H2O-3's behaviour, hidden_dropout_masks="Shared"): every hidden layer uses
    the first hidden layer's key, so unit j is kept or dropped in all hidden layers
    together; otherwise each layer has its own key (independent masks)."""
    return layer_key(seed, sample, 1 if shared else hidden_layer + 1)


@njit(cache=True)
def unit_uniform(key, unit):
    """Uniform float32 in [0, 1) for one unit (24 random bits, exact in float32)."""
    z = mix64(key + (np.uint64(unit) + _ONE) * GOLDEN)
    return np.float32(z >> _S40) * _INV24


def seed_to_uint64(seed: int) -> np.uint64:
    return np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)
