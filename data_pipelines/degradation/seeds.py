"""Stateless, counter-based random numbers of the degradation and its per-example seeds.

The paper (Schlett, Rathgeb, Busch, section III-B) asks for "fully random hole generation" with
"individual hole parameters such as size and orientation ... randomized", per-pixel random noise
and randomised hole values; it fixes no generator. Here ``seed`` is an int tensor ``[2]`` or
``[B, 2]`` (:func:`example_seeds`, :func:`index_seeds`, :func:`seed_word`); each part (PART_*)
hashes a row's four 32-bit words into two 32-bit keys (:func:`_part_keys`) and its ``n``-th
number is ``fmix32(fmix32(n * 0x9E3779B9 + k1) ^ k2)`` (:func:`_bits`, MurmurHash3's finaliser,
SplitMix-style), so a batch equals its examples degraded one at a time and the plain graph and
XLA give identical bits. See the package docstring for the full contract.
"""

from __future__ import annotations

import tensorflow as tf


PART_OUTLINE, PART_RANDOM, PART_NOISE, PART_HELPER = 1, 2, 3, 4


def _check_seed(seed, single, name="seed"):
    s = tf.convert_to_tensor(seed)
    if not s.dtype.is_integer:
        raise TypeError(f"{name} must be an integer tensor of shape [2] or [B, 2], got "
                        f"{s.dtype.name} with shape {s.shape}")
    if s.shape.rank not in (1, 2) or s.shape[-1] != 2 or (single and s.shape.rank != 1):
        want = "[2]" if single else "[2] or [B, 2]"
        raise ValueError(f"{name} must have shape {want}, got {s.shape}")
    return tf.cast(s, tf.int64)


def example_seeds(seed, batch_size):
    """Per-example seeds (B, 2) int64 of a batch: ``index_seeds(seed_word(seed), range(B))`` for a
    [2] seed (``seed_word`` hashes both words into one 63-bit integer), ``seed`` itself for a
    [B, 2] one. Degrading example ``i`` alone as an (H, W) image with ``example_seeds(seed, B)[i]``
    reproduces its row of the batch."""
    s = _check_seed(seed, False)
    if s.shape.rank == 2:
        return s
    return index_seeds(seed_word(s), tf.range(batch_size))


def seed_word(seed):
    """One non-negative int64 from a [2] seed: two chained :func:`_fmix32` hashes of its four
    32-bit words, 31 + 32 bits (distinct seeds collide with probability ~2^-63)."""
    s = _check_seed(seed, True)
    k = _hash_words(s[None], (0x243F6A88, 0xB7E15162))[0]
    hi = tf.cast(tf.bitwise.right_shift(k[0], _u32(1)), tf.int64)
    return hi * (1 << 32) + tf.cast(k[1], tf.int64)


def index_seeds(seed, indices):
    """Seeds ``[(seed, index) for index in indices]``: pass as ``seed`` to make an example's
    degradation depend only on ``(seed, global example index)`` (batching-independent)."""
    indices = tf.cast(tf.convert_to_tensor(indices), tf.int64)
    return tf.stack([tf.fill(tf.shape(indices), tf.cast(seed, tf.int64)), indices], axis=-1)


def _seed_rows(seed, x, single):
    """(B, 2) int64 per-example seeds of the (B,H,W) batch ``x`` (see the module doc)."""
    if single:
        return seed[None]
    batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
    if seed.shape.rank == 1:
        return example_seeds(seed, batch)
    if seed.shape[0] is not None and isinstance(batch, int) and seed.shape[0] != batch:
        raise ValueError(f"seed: [B, 2] seeds need one row per example, got seed shape "
                         f"{seed.shape} for a batch of {batch}")
    return seed


_GOLDEN = 0x9E3779B9                      # 2^32 / golden ratio (Weyl increment)
_FMIX_M1, _FMIX_M2 = 0x85EBCA6B, 0xC2B2AE35


def _u32(v):
    return tf.constant(v, tf.uint32)


def _fmix32(x):
    """MurmurHash3's 32-bit finaliser on uint32: a bijection with full avalanche (each input bit
    flips each output bit with probability ~1/2)."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))
    x = x * _u32(_FMIX_M1)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(13)))
    x = x * _u32(_FMIX_M2)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))


def _hash_words(rows, inits):
    """(B, 2) int64 seed rows -> (B, len(inits)) uint32: per init value, a chain
    ``h = fmix32(h ^ w)`` over the rows' four 32-bit words (low, high of each int64)."""
    words = []
    for j in range(2):
        v = rows[:, j]
        words += [tf.cast(v, tf.uint32), tf.cast(tf.bitwise.right_shift(v, 32), tf.uint32)]
    out = []
    for init in inits:
        h = tf.fill(tf.shape(rows)[:1], _u32(init))
        for w in words:
            h = _fmix32(tf.bitwise.bitwise_xor(h, w))
        out.append(h)
    return tf.stack(out, axis=-1)


def _part_keys(rows, part):
    """Two uint32 keys (B, 2) of one part (PART_*) from the (B, 2) int64 seed rows."""
    return _hash_words(rows, (part * 0x01000193 ^ 0x6A09E667, part * 0x01000193 ^ 0xBB67AE85))


def _bits(keys, counters):
    """uint32 random bits ``fmix32(fmix32(c * GOLDEN + k1) ^ k2)`` for the uint32 counters ``c``:
    (B, *counters.shape) from (B, 2) keys. A Weyl sequence through two finaliser rounds (the
    SplitMix construction): counter-based, so any element is computed independently, in one
    fused loop under XLA."""
    expand = [-1] + [1] * counters.shape.rank
    k1 = tf.reshape(keys[:, 0], expand)
    k2 = tf.reshape(keys[:, 1], expand)
    return _fmix32(tf.bitwise.bitwise_xor(_fmix32(counters[None] * _u32(_GOLDEN) + k1), k2))


def _uniform(keys, shape):
    """(B, *shape) float32 uniform on [0, 1) with 24-bit resolution (k / 2^24)."""
    n = 1
    for d in shape:
        n = n * d
    counters = tf.reshape(tf.cast(tf.range(n), tf.uint32), shape)
    top = tf.bitwise.right_shift(_bits(keys, counters), _u32(8))
    return tf.cast(top, tf.float32) * (1.0 / (1 << 24))
