"""Degradation synthesis for face depth enhancement (Schlett, Rathgeb, Busch; sec. III-B, Fig. 5).

A clean face depth map (ground truth) becomes a sensor-like input in the paper's order:

1. holes, two generators rasterised together in one step: *outline holes* (ellipse blobs centred
   on the face outline, so the silhouette "erodes") and *random holes* (ellipses anywhere);
2. per-pixel noise on every non-hole pixel, 15 mm (the D435's error at 2 m);
3. blur of non-hole pixels only (normalised convolution: holes never contribute);
4. optional deep-learning "helper" degradations for training only: hole values fully
   randomised, or randomised within a depth range and then blurred ("blurred hole background").

Conventions of this module
- Depth is float32 **millimetres** with **0 = hole** (RealSense SDK convention). Accepted shapes:
  one image ``(H, W)``, a batch ``(B, H, W)`` or ``(B, H, W, 1)``; outputs keep the input's shape.
  The paper's own convention (holes = 65535 = the maximum, section IV-J) is applied only by
  :func:`to_paper_convention` / :func:`from_paper_convention` and :func:`to_uint16` /
  :func:`from_uint16`.
- Ellipses: centre ``(y, x)`` in pixel coordinates (pixel ``(r, c)`` has its centre at
  ``y = r, x = c``), semi-axes ``(a, b)`` in pixels with ``a`` along the angle, angle in radians
  from the +x (column) axis towards +y (down the rows). A pixel is a hole when its centre lies
  inside or on the ellipse: the rasterisation is exact on the pixel grid, not a polygon.
- Randomness: stateless and counter-based. ``seed`` is an integer tensor of shape ``[2]`` or
  ``[B, 2]``. Example ``i`` of a batch uses the seed row ``seed[i]`` of a ``[B, 2]`` seed, or
  ``(seed_word(seed), i)`` for a ``[2]`` seed (:func:`example_seeds`); a single ``(H, W)`` image
  uses ``seed`` itself. Each part (PART = 1 outline, 2 random holes, 3 noise, 4 helper) hashes the
  row's four 32-bit words into two 32-bit keys, and its ``n``-th number is
  ``fmix32(fmix32(n * 0x9E3779B9 + k1) ^ k2)`` (MurmurHash3's finaliser, SplitMix-style; 24-bit
  uniforms; Gaussian noise takes one word per pixel and splits it into two 16-bit uniforms,
  :func:`_noise`). So a batch equals its examples degraded one at a time, a part gives the same
  numbers alone or inside :func:`degrade`, the plain graph and XLA give identical bits, and
  with ``seed[i] = (seed, global_index)`` (:func:`index_seeds`) an example's degradation does not
  depend on how the stream is batched. (Earlier versions drew from ``tf.random.stateless_*``
  once per example and part; the hash is ~20x faster under XLA and needs no per-example ops.)

Choices the paper leaves open (defaults in :class:`DegradationConfig`, sized for 256x256 faces):
outline holes 16-48 blobs per face with semi-major axis 2-10 px; random holes 0-10 per image
with semi-major axis 2-16 px; semi-minor / semi-major in [0.3, 1]; angle uniform in [0, pi);
Gaussian noise (sigma 15 mm; uniform with the same std as an option); 5x5 box blur; helper values
uniform over [near, near + 250 mm] (the normalisation window), the blurred helper with a 9x9 box.

Implementation: batched graph ops only, no per-example loop: the hash generator above, the
outline's erosion on 16-pixel bit words and two-level counting to pick outline pixels, exact
row-interval ellipse rasterisation (one scatter of interval marks + a blocked-matmul cumsum for
all ellipses of the batch), one-hash-per-pixel Box-Muller noise, two-pass shifted-slice box sums
(int8 counts) for the normalised blur; under XLA four clusters (:func:`_stages`). Benchmark:
``python -m benchmarks.bench_degradation`` (for speed on CPU run TF with
``TF_CPU_ALLOCATOR_USE_BFC=true``, as the benchmark does: see BUILD_NOTES, "Speed").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Tuple

import tensorflow as tf

# Section IV-J hole codes: one home, data_pipelines.conventions (re-exported for callers).
from data_pipelines.conventions import (PAPER_HOLE_CODE, UNIT_HOLE,  # noqa: F401
                                        VALID_MAX_CODE, VALID_MAX_NORMALISED)

FACE_RANGE_MM = 250.0           # section IV-J: "a 25 cm range starting at the closest depth value"

PART_OUTLINE, PART_RANDOM, PART_NOISE, PART_HELPER = 1, 2, 3, 4
_HELPERS = ("none", "random", "blurred")
_DISTRIBUTIONS = ("gaussian", "uniform")
_PLACEMENTS = ("image", "face")

Range = Tuple[float, float]


# ----------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DegradationConfig:
    """All degradation parameters (paper section III-B); every field maps onto a flag.

    Counts are inclusive integer ranges drawn uniformly per image; sizes are semi-major axes in
    pixels drawn uniformly; ``aspect_range`` is semi-minor / semi-major; angles in radians.
    """

    outline_holes: bool = True
    outline_count_range: Tuple[int, int] = (16, 48)
    outline_size_range: Range = (2.0, 10.0)
    random_holes: bool = True
    random_count_range: Tuple[int, int] = (0, 10)
    random_size_range: Range = (2.0, 16.0)
    random_placement: str = "image"          # 'image': anywhere (paper); 'face': on valid pixels
    aspect_range: Range = (0.3, 1.0)
    angle_range: Range = (0.0, math.pi)
    noise: bool = True
    noise_sigma_mm: float = 15.0
    noise_distribution: str = "gaussian"
    blur: bool = True
    blur_kernel_size: int = 5
    helper: str = "none"                     # 'none' | 'random' | 'blurred' (training only)
    helper_offset_range_mm: Range = (0.0, FACE_RANGE_MM)
    helper_blur_kernel_size: int = 9
    min_depth_mm: float = 1.0                # noise never turns a valid pixel into a hole

    def __post_init__(self):
        for f in dataclasses.fields(self):   # lists from flags -> tuples (hashable config)
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        for name in ("outline_count_range", "random_count_range"):
            lo, hi = getattr(self, name)
            if int(lo) != lo or int(hi) != hi or not 0 <= lo <= hi:
                raise ValueError(f"DegradationConfig.{name} must be integers 0 <= lo <= hi, "
                                 f"got {getattr(self, name)}")
        for name in ("outline_size_range", "random_size_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"DegradationConfig.{name} must satisfy 0 < lo <= hi, got "
                                 f"{getattr(self, name)}")
        lo, hi = self.aspect_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"DegradationConfig.aspect_range must satisfy 0 < lo <= hi <= 1, got "
                             f"{self.aspect_range}")
        if self.angle_range[0] > self.angle_range[1]:
            raise ValueError(f"DegradationConfig.angle_range must be (lo, hi) with lo <= hi, got "
                             f"{self.angle_range}")
        if self.random_placement not in _PLACEMENTS:
            raise ValueError(f"DegradationConfig.random_placement must be one of {_PLACEMENTS}, "
                             f"got {self.random_placement!r}")
        if self.noise_sigma_mm < 0:
            raise ValueError(f"DegradationConfig.noise_sigma_mm must be >= 0, got "
                             f"{self.noise_sigma_mm}")
        if self.noise_distribution not in _DISTRIBUTIONS:
            raise ValueError(f"DegradationConfig.noise_distribution must be one of "
                             f"{_DISTRIBUTIONS}, got {self.noise_distribution!r}")
        for name in ("blur_kernel_size", "helper_blur_kernel_size"):
            _check_kernel(getattr(self, name), f"DegradationConfig.{name}")
        if self.helper not in _HELPERS:
            raise ValueError(f"DegradationConfig.helper must be one of {_HELPERS}, got "
                             f"{self.helper!r}")
        if self.helper_offset_range_mm[0] > self.helper_offset_range_mm[1]:
            raise ValueError(f"DegradationConfig.helper_offset_range_mm must be (lo, hi) with "
                             f"lo <= hi, got {self.helper_offset_range_mm}")


def _check_kernel(k, name):
    if int(k) != k or k < 1 or k % 2 == 0:
        raise ValueError(f"{name} must be an odd positive integer, got {k}")


def _check_range(r, name, positive=False):
    if len(r) != 2 or r[0] > r[1] or (positive and r[0] <= 0):
        raise ValueError(f"{name} must be (lo, hi) with {'0 < ' if positive else ''}lo <= hi, "
                         f"got {r}")


# ----------------------------------------------------------------------------------------------
# input handling and seeds
# ----------------------------------------------------------------------------------------------
def _as_batch(depth, name="depth"):
    """(H,W) | (B,H,W) | (B,H,W,1) floating -> ((B,H,W) float32, restore, is_single)."""
    x = tf.convert_to_tensor(depth)
    rank = x.shape.rank
    shape = x.shape.as_list() if rank is not None else "unknown rank"
    if not x.dtype.is_floating:
        raise TypeError(f"{name} must be a floating tensor (float32 depth), got {x.dtype.name} "
                        f"with shape {shape}; cast it first, e.g. tf.cast({name}, tf.float32)")
    if rank == 2:
        return tf.cast(x, tf.float32)[None], (lambda y: y[0]), True
    if rank == 3:
        return tf.cast(x, tf.float32), (lambda y: y), False
    if rank == 4 and x.shape[-1] == 1:
        return tf.cast(x[..., 0], tf.float32), (lambda y: y[..., None]), False
    raise ValueError(f"{name} must have shape (H, W), (B, H, W) or (B, H, W, 1), got {shape}")


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


def _spatial(x):
    """(H, W) of a (B,H,W) tensor: Python ints when static, else a tensor."""
    if x.shape[1] is not None and x.shape[2] is not None:
        return int(x.shape[1]), int(x.shape[2])
    return tf.shape(x)[1], tf.shape(x)[2]


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


# ----------------------------------------------------------------------------------------------
# random numbers: a counter-based hash generator, stateless and vectorised over the batch
# ----------------------------------------------------------------------------------------------
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


def _require_face(valid, name):
    """All examples must have at least one valid pixel (eager: ValueError; graph: assertion)."""
    has = tf.reduce_any(valid, axis=[1, 2])
    msg = (f"{name}: every image must contain at least one valid (non-hole, > 0) pixel; got an "
           f"all-hole image in a batch of shape {valid.shape.as_list()}")
    if tf.executing_eagerly():
        if not bool(tf.reduce_all(has)):
            raise ValueError(msg)
        return []
    return [tf.debugging.Assert(tf.reduce_all(has), [msg])]


def _nearest(x, valid):
    """Nearest valid depth per image, [B]."""
    return tf.reduce_min(tf.where(valid, x, tf.constant(float("inf"))), axis=[1, 2])


# ----------------------------------------------------------------------------------------------
# geometry: outline, exact ellipse rasterisation, normalised box sums
# ----------------------------------------------------------------------------------------------
def face_outline(valid):
    """Outline of a (B,H,W) bool valid mask: valid pixels with a hole among their 8 neighbours.

    Morphological boundary ``valid & ~erode3x3(valid)``, the erosion as a separable AND of shifted
    slices (a min-pool); pixels outside the image do not count as holes, so a face cut by the image
    border has no outline there.
    """
    h, w = tf.shape(valid)[1], tf.shape(valid)[2]
    p = tf.pad(valid, [[0, 0], [1, 1], [1, 1]], constant_values=True)
    rows = p[:, 0:h] & p[:, 1:h + 1] & p[:, 2:h + 2]
    eroded = rows[:, :, 0:w] & rows[:, :, 1:w + 1] & rows[:, :, 2:w + 2]
    return valid & tf.logical_not(eroded)


def _sample_pixels(mask, u):
    """Pixel (y, x) of the floor(u * n)-th True pixel of each (B,H,W) mask in raster order.

    ``u`` is (B,K) uniform in [0,1), so positions are uniform over the mask's pixels (with
    replacement). Two-level counting (rows, then within the row): no full-image cumsum and no
    searchsorted, so it also compiles with XLA. Returns float (B,K,2) centres and (B,) counts.
    """
    return _sample_rows(_row_counts(mask), lambda row: tf.gather(mask, row, batch_dims=1), u)


def _sample_rows(row_counts, gather_rows, u):
    """:func:`_sample_pixels` from the (B,H) int32 row counts of the mask and a function giving
    the mask's (B,K,W) bool rows at (B,K) row indices."""
    row_cum = tf.cumsum(row_counts, axis=1)                       # (B,H)
    n = row_cum[:, -1]                                            # (B,)
    nf = tf.cast(n, tf.float32)[:, None]
    rank = tf.minimum(tf.cast(tf.floor(u * nf), tf.int32), tf.maximum(n[:, None] - 1, 0))
    # first row whose cumulative count exceeds rank = number of rows with cum <= rank
    row = tf.reduce_sum(tf.cast(row_cum[:, None, :] <= rank[..., None], tf.int32), axis=2)
    row = tf.minimum(row, tf.shape(row_counts)[1] - 1)
    before = tf.gather(row_cum, row, batch_dims=1) - tf.gather(row_counts, row, batch_dims=1)
    rows = tf.cast(gather_rows(row), tf.float32)                  # (B,K,W)
    col_cum = _cumsum_last(rows)
    col = tf.reduce_sum(tf.cast(col_cum <= tf.cast(rank - before, tf.float32)[..., None],
                                tf.int32), axis=2)
    col = tf.minimum(col, tf.shape(rows)[2] - 1)
    return tf.cast(tf.stack([row, col], axis=-1), tf.float32), n


def _sample_outline(valid, u):
    """:func:`_sample_pixels` of ``face_outline(valid)``, computed on 16-pixel words when the
    width is a static multiple of 16 (:func:`_outline_words`): the full-resolution outline mask
    is never formed, only its row counts (popcounts) and the K sampled rows (unpacked)."""
    w = valid.shape[2]
    if w is None or w % 16:
        return _sample_pixels(face_outline(valid), u)
    words = _outline_words(valid)
    counts = tf.reduce_sum(tf.cast(tf.raw_ops.PopulationCount(x=words), tf.int32), axis=2)
    return _sample_rows(counts, lambda row: _unpack16(tf.gather(words, row, batch_dims=1), w), u)


def _pack16(bits):
    """(B,H,W) bool with W a multiple of 16 -> (B,H,W/16) int32 words, bit i of word j = column
    16 j + i."""
    b, h, w = tf.shape(bits)[0], tf.shape(bits)[1], bits.shape[2]
    v = tf.reshape(tf.cast(bits, tf.int32), tf.stack([b, h, w // 16, 16]))
    return tf.reduce_sum(v * tf.bitwise.left_shift(1, tf.range(16)), axis=3)   # sum = OR here


def _unpack16(words, width):
    """Inverse of :func:`_pack16` on the last axis: (..., W/16) int32 -> (..., W) bool."""
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(words[..., None], tf.range(16)), 1)
    return tf.reshape(bits > 0, tf.concat([tf.shape(words)[:-1], [width]], 0))


def _outline_words(valid):
    """:func:`face_outline` of a (B,H,W) bool mask as :func:`_pack16` words: the 3x3 erosion is
    bit shifts within 16-pixel words (with the neighbour words' edge bits carried in) and ANDs
    of neighbouring rows, outside the image counting as valid. One pass over the pixels (the
    packing) instead of a padded copy, the erosion and a 4-byte count per pixel."""
    v = _pack16(valid)
    one = tf.ones_like(v[:, :, :1])
    prev_top = tf.concat([one, tf.bitwise.right_shift(v[:, :, :-1], 15)], 2)   # column 16j - 1
    next_low = tf.concat([tf.bitwise.bitwise_and(v[:, :, 1:], 1), one], 2)     # column 16j + 16
    left = tf.bitwise.bitwise_or(tf.bitwise.left_shift(v, 1), prev_top)        # bit i: c - 1
    right = tf.bitwise.bitwise_or(tf.bitwise.right_shift(v, 1),
                                  tf.bitwise.left_shift(next_low, 15))         # bit i: c + 1
    rows = tf.bitwise.bitwise_and(tf.bitwise.bitwise_and(v, left), right)
    full = tf.fill(tf.shape(rows[:, :1]), 0xFFFF)
    up = tf.concat([full, rows[:, :-1]], 1)
    down = tf.concat([rows[:, 1:], full], 1)
    eroded = tf.bitwise.bitwise_and(tf.bitwise.bitwise_and(rows, up), down)
    return tf.bitwise.bitwise_and(v, tf.bitwise.invert(eroded))


def _row_counts(mask):
    """Number of True pixels per row of a (B,H,W) bool mask, int32 (B,H). Summed in int8 over
    groups of 16 columns first when W is a static multiple of 16: XLA:CPU does not fuse a
    convert into a reduction, so this materialises a 1-byte copy of the mask, not a 4-byte one."""
    w = mask.shape[2]
    if w is None or w % 16:
        return tf.reduce_sum(tf.cast(mask, tf.int32), axis=2)
    m8 = tf.reshape(tf.cast(mask, tf.int8), tf.stack([tf.shape(mask)[0], tf.shape(mask)[1],
                                                      w // 16, 16]))
    return tf.reduce_sum(tf.cast(tf.reduce_sum(m8, axis=3), tf.int32), axis=2)


def rasterize_ellipses(height, width, centers, semi_axes, angles, active, max_semi_axis):
    """Exact (B,H,W) bool union of filled ellipses on the pixel grid.

    Args:
      height, width: image size.
      centers: (B,K,2) float ``(y, x)``; semi_axes: (B,K,2) float ``(a, b)`` > 0 with ``a`` along
        ``angles`` (B,K) radians from +x towards +y; active: (B,K) bool, inactive ones are skipped.
      max_semi_axis: Python float bound on ``a`` and ``b``; sets the static row window.

    A pixel centre (x, y) is inside when
    ``((dx cos t + dy sin t) / a)^2 + ((-dx sin t + dy cos t) / b)^2 <= 1``. Per ellipse and
    row the inside columns form one interval, solved in closed form; the intervals become +1/-1
    marks in a (B,H,W) difference array (one segment sum for all ellipses of the batch) whose
    running sum along x counts covering ellipses. Semi-axes above ``max_semi_axis`` get clipped
    rows, so keep it >= every semi-axis.
    """
    starts, ends = _interval_marks(height, width,
                                   _ellipse_coeffs(centers, semi_axes, angles, active),
                                   max_semi_axis)
    return _cover(height, width, tf.shape(centers)[0], [starts], [ends])


def _cover(height, width, b_size, starts, ends, xla=False):
    """Union mask from the interval marks of :func:`_interval_marks` (lists over groups): +1 at
    every start, -1 at every end index (index -1 = no mark) in a flat difference array, then the
    running sum along x. ``xla``: the marks are added group by group with in-place scatters of
    the (B,K,J) index arrays as they are (XLA drops the out-of-range -1s); the plain graph sums
    all marks in one segment sum of the flattened, concatenated indices (negative ids dropped).
    Flattening and concatenating the ragged (B,K,J) index arrays costs XLA an integer division
    per index (it was ~10 % of the degradation), hence the two forms."""
    n = b_size * height * width
    if xla:
        diff = tf.zeros(tf.reshape(n, [1]), tf.float32)
        for part, sign in [(p, 1.0) for p in starts] + [(p, -1.0) for p in ends]:
            diff = tf.tensor_scatter_nd_add(diff, part[..., None],
                                            tf.fill(tf.shape(part), sign))
    else:
        flat = [tf.reshape(p, [-1]) for p in starts + ends]
        marks = [tf.fill(tf.shape(f), sign) for f, sign in
                 zip(flat, [1.0] * len(starts) + [-1.0] * len(ends))]
        diff = tf.math.unsorted_segment_sum(tf.concat(marks, 0), tf.concat(flat, 0), n)
    cover = _cumsum_last(tf.reshape(diff, tf.stack([b_size, height, width])))
    return cover > 0.5


def _ellipse_coeffs(centers, semi_axes, angles, active):
    """Per-ellipse (B,K) quantities of the row intervals: centre ``(cy, cx)``, the quadratic form
    ``qa x^2 + 2 qb x y + qc y^2 <= 1`` of the rotated ellipse, and ``active``. Kept apart from
    :func:`_interval_marks` so that the XLA stages can materialise these few numbers instead of
    recomputing them (random draws, cos, sin) for every row of every ellipse."""
    centers = tf.cast(centers, tf.float32)
    semi_axes = tf.cast(semi_axes, tf.float32)
    angles = tf.cast(angles, tf.float32)
    ia2 = 1.0 / tf.square(semi_axes[..., 0])
    ib2 = 1.0 / tf.square(semi_axes[..., 1])
    c, s = tf.cos(angles), tf.sin(angles)
    qa = c * c * ia2 + s * s * ib2                                  # x^2 coefficient
    qb = c * s * (ia2 - ib2)                                        # half the xy coefficient
    qc = s * s * ia2 + c * c * ib2                                  # y^2 coefficient
    return centers[..., 0], centers[..., 1], qa, qb, qc, active


def _interval_marks(height, width, coeffs, max_semi_axis):
    """(start, end) flat difference-array indices of the ellipses' row intervals from their
    :func:`_ellipse_coeffs`, (B,K,J) each (index -1: no mark), over a static window of
    J = 2 ceil(max_semi_axis) + 3 rows per ellipse."""
    cy, cx, qa, qb, qc, active = coeffs
    r = int(math.ceil(max_semi_axis)) + 1
    b_size = tf.shape(cy)[0]
    offs = tf.range(-r, r + 1, dtype=tf.float32)
    y = tf.round(cy)[..., None] + offs                              # (B,K,J) row centres
    dy = y - cy[..., None]
    qa, qb, qc = qa[..., None], qb[..., None], qc[..., None]
    disc = tf.square(qb * dy) - qa * (qc * tf.square(dy) - 1.0)
    root = tf.sqrt(tf.maximum(disc, 0.0))
    x0 = tf.math.ceil(cx[..., None] + (-qb * dy - root) / qa)
    x1 = tf.floor(cx[..., None] + (-qb * dy + root) / qa) + 1.0     # exclusive end
    wf = tf.cast(width, tf.float32)
    x0 = tf.clip_by_value(x0, 0.0, wf)
    x1 = tf.clip_by_value(x1, 0.0, wf)
    ok = (active[..., None] & (disc >= 0.0) & (x0 < x1) & (y >= 0.0)
          & (y < tf.cast(height, tf.float32)))
    yi = tf.clip_by_value(tf.cast(y, tf.int32), 0, height - 1)
    base = (tf.range(b_size)[:, None, None] * height + yi) * width        # int32 flat indices
    end_ok = ok & (x1 < wf)              # an interval ending at the right border needs no -1
    # a mark that is not made gets index -1, which the scatter drops: the mark values are then
    # the constants +1 / -1 and only the indices depend on the ellipses
    return (tf.where(ok, base + tf.cast(x0, tf.int32), -1),
            tf.where(end_ok, base + tf.cast(x1, tf.int32), -1))


def _cumsum_last(x, block=16):
    """Inclusive cumulative sum over the last axis of a float (B,H,W) tensor, blocked as two small
    triangular matmuls (exact for the small integer counts used here; faster than a scan on CPU).
    """
    b, h = tf.shape(x)[0], tf.shape(x)[1]
    static_w = x.shape[-1]
    if static_w is None:
        return tf.cumsum(x, axis=-1)
    nb = -(-static_w // block)
    xp = tf.pad(x, [[0, 0], [0, 0], [0, nb * block - static_w]])
    tri = tf.constant([[1.0 if i <= j else 0.0 for j in range(block)] for i in range(block)])
    within = tf.reshape(tf.reshape(xp, [-1, block]) @ tri, tf.stack([b * h, nb, block]))
    strict = tf.constant([[1.0 if i < j else 0.0 for j in range(nb)] for i in range(nb)])
    offsets = within[:, :, -1] @ strict                                  # (B*H, nb)
    out = tf.reshape(within + offsets[:, :, None], tf.stack([b, h, nb * block]))
    return out[:, :, :static_w]


def _box_sum(x, k):
    """Sum over a k x k window (zero outside the image) of (B,H,W): shifted slices of one padded
    copy, rows then columns (XLA fuses them into a few vectorised loops)."""
    if k == 1:
        return x
    r = k // 2
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    return _box_sum_padded(tf.pad(x, [[0, 0], [r, r], [r, r]]), k, h, w)


def _box_sum_padded(p, k, h, w):
    """k x k window sums of the (B, h + k - 1, w + k - 1) padded ``p``: (B, h, w)."""
    return _shifted_sum(_shifted_sum(p, k, 1, h), k, 2, w)


def _shifted_sum(p, k, axis, n):
    """``sum_{i<k} p[i:i + n]`` along ``axis`` (1 or 2) of a (B, ., .) tensor, in order of i."""
    def part(i):
        return p[:, i:i + n] if axis == 1 else p[:, :, i:i + n]
    acc = part(0)
    for i in range(1, k):
        acc = acc + part(i)
    return acc


def _blur_positive(y, k, valid=None):
    """:func:`_normalised_blur` of ``y`` over its positive pixels (``weight_mask = y > 0``), in
    two passes (:func:`_blur_rows`, :func:`_blur_cols`). ``valid`` defaults to ``y > 0``."""
    return _blur_cols(_blur_rows(y, k), k, y > 0 if valid is None else valid)


def _blur_rows(y, k):
    """First pass: on one zero-padded copy ``p`` of ``max(y, 0)``, the k-row sums of ``p`` (the
    numerator: zeros add nothing, so it is exactly the sum over the positive pixels; float32)
    and of ``p > 0`` (the count; int8 up to k <= 11, else int32: a quarter of the bytes), each
    (B, H, W + k - 1). (Under XLA the padded copy is materialised once: a pad fused into the
    shifted sums costs a bounds check per tap and measured ~2x slower.)"""
    r = k // 2
    h = tf.shape(y)[1]
    p = tf.pad(tf.maximum(y, 0.0), [[0, 0], [r, r], [r, r]])   # one padded copy for both sums
    count_type = tf.int8 if k * k <= 127 else tf.int32
    return _shifted_sum(p, k, 1, h), _shifted_sum(tf.cast(p > 0, count_type), k, 1, h)


def _blur_cols(row_sums, k, valid):
    """Second pass: k-column sums of :func:`_blur_rows`' sums, numerator / count at ``valid``
    pixels, 0 elsewhere."""
    num, den = row_sums
    w = tf.shape(num)[2] - (k - 1)
    num = _shifted_sum(num, k, 2, w)
    den = tf.cast(_shifted_sum(den, k, 2, w), tf.float32)
    return tf.where(valid, num / tf.maximum(den, 1.0), 0.0)


def _normalised_blur(x, weight_mask, k):
    """sum(x over mask) / count(mask) in a k x k window, at mask pixels; 0 elsewhere. Numerator
    and count go through one box sum, stacked along the batch axis (one pass, not two)."""
    m = tf.cast(weight_mask, tf.float32)
    sums = _box_sum(tf.concat([x * m, m], axis=0), k)
    num, den = tf.split(sums, 2, axis=0)
    return tf.where(weight_mask, num / tf.maximum(den, 1.0), 0.0)


# ----------------------------------------------------------------------------------------------
# random draws (batched, from per-example part keys) and their deterministic use
# ----------------------------------------------------------------------------------------------
def _k_max(count_range):
    return int(count_range[1])


def _draw_outline(keys, cfg):
    """(B, 1 + 4K) uniforms of the outline holes: count, then K positions, sizes, aspects,
    angles."""
    return {"outline_u": _uniform(keys, [1 + 4 * _k_max(cfg.outline_count_range)])}


def _draw_random(keys, cfg):
    """(B, 1 + 5K) uniforms of the random holes: count, then K x, y, sizes, aspects, angles."""
    return {"random_u": _uniform(keys, [1 + 5 * _k_max(cfg.random_count_range)])}


def _noise(keys, height, width, distribution, xla=False):
    """(B,H,W) zero-mean unit-variance noise from the (B, 2) noise keys, one hash per pixel.

    Pixel ``(r, c)`` uses the 32-bit word ``_bits(keys, r * W + c)``. Gaussian: its two 16-bit
    halves ``(hi, lo)`` give ``u1 = (hi + 1/2) / 2^16`` and ``u2 = (lo + 1/2) / 2^16`` and
    ``z = sqrt(-2 ln u1) * sin(pi (u2 - 1/2))``: Box-Muller's ``R sin(Theta)`` with the angle on
    half a turn (``sin`` of an angle uniform on (-pi/2, pi/2) has the arcsine law of
    ``sin(Theta)``, Theta uniform on the full turn), so one hash makes one N(0, 1) value with no
    trig op and no pairing across pixels; |z| <= sqrt(2 ln 2^17) = 4.85 (P(|N| > 4.85) ~ 1e-6).
    Uniform: ``sqrt(3) (2u - 1)`` with the pixel's 24-bit uniform, i.e. U(-sqrt(3), sqrt(3)).
    ``xla``: the log is :func:`_log_positive` (fused into the noise loop) instead of TF's log
    kernel (one kernel in the plain graph); the two agree to float32 rounding.
    """
    counters = tf.reshape(tf.cast(tf.range(height * width), tf.uint32), tf.stack([height, width]))
    bits = _bits(keys, counters)
    if distribution == "uniform":
        u = tf.cast(tf.bitwise.right_shift(bits, _u32(8)), tf.float32) * (1.0 / (1 << 24))
        return math.sqrt(3.0) * (2.0 * u - 1.0)
    hi = tf.cast(tf.bitwise.right_shift(bits, _u32(16)), tf.float32)
    lo = tf.cast(tf.bitwise.bitwise_and(bits, _u32(0xFFFF)), tf.float32)
    log = _log_positive if xla else tf.math.log
    radius = tf.sqrt(-2.0 * log((hi + 0.5) * (1.0 / 65536)))
    return radius * _sin_half_turn((lo + 0.5) * (1.0 / 65536) - 0.5)


# ln(1 + s) = s - s^2/2 + s^3 r(s) on [sqrt(1/2) - 1, sqrt(2) - 1]: r's coefficients (lowest
# first) from a degree-6 Chebyshev least-squares fit (abs. error < 1e-7 on that range)
_LOG_R = (0.3333341, -0.25000922, 0.19985129, -0.16592855, 0.14676379, -0.14118432, 0.09272283)


def _log_positive(v):
    """Natural log of positive, normal float32 ``v`` (no zero / inf / NaN handling): exponent
    from the bits, mantissa reduced to [sqrt(1/2), sqrt(2)) and a polynomial (relative error
    < 3e-7 in float32, tested). The noise's only transcendental under XLA, where XLA:CPU's
    general log took ~30 % of the noise stage."""
    bits = tf.bitcast(v, tf.int32)
    e = tf.bitwise.right_shift(bits, 23) - 127
    m = tf.bitcast(tf.bitwise.bitwise_or(tf.bitwise.bitwise_and(bits, 0x7FFFFF), 0x3F800000),
                   tf.float32)                                      # [1, 2)
    big = m > math.sqrt(2.0)
    m = tf.where(big, 0.5 * m, m)
    e = tf.cast(e + tf.cast(big, tf.int32), tf.float32)
    x = m - 1.0
    r = _LOG_R[-1]
    for c in _LOG_R[-2::-1]:
        r = r * x + c
    return e * math.log(2.0) + (x - 0.5 * x * x + x * x * x * r)


def _sin_half_turn(t):
    """sin(pi t) for |t| <= 1/2: odd Taylor polynomial to degree 11 (error < 6e-8), the same ops
    in the plain graph and under XLA."""
    f = t * math.pi
    f2 = f * f
    return f * (1.0 + f2 * (-1 / 6 + f2 * (1 / 120 + f2 * (-1 / 5040 + f2 * (
        1 / 362880 - f2 / 39916800)))))


def _draw_helper(keys, shape):
    return {"helper_u": _uniform(keys, list(shape))}


def _counts_active(u_count, k, count_range):
    lo, hi = int(count_range[0]), int(count_range[1])
    count = tf.minimum(lo + tf.cast(tf.floor(u_count * (hi - lo + 1)), tf.int32), hi)  # (B,)
    return tf.range(k)[None, :] < count[:, None]


def _shape_params(u_size, u_aspect, u_angle, size_range, cfg):
    a = size_range[0] + u_size * (size_range[1] - size_range[0])
    b = a * (cfg.aspect_range[0] + u_aspect * (cfg.aspect_range[1] - cfg.aspect_range[0]))
    t = cfg.angle_range[0] + u_angle * (cfg.angle_range[1] - cfg.angle_range[0])
    return tf.stack([a, b], -1), t


def _outline_ellipses(valid, u, cfg):
    k = _k_max(cfg.outline_count_range)
    active = _counts_active(u[:, 0], k, cfg.outline_count_range)
    u_pos, u_size, u_asp, u_ang = (u[:, 1 + i * k:1 + (i + 1) * k] for i in range(4))
    centers, n = _sample_outline(valid, u_pos)
    axes, angles = _shape_params(u_size, u_asp, u_ang, cfg.outline_size_range, cfg)
    return centers, axes, angles, active & (n[:, None] > 0)


def _random_ellipses(valid, u, height, width, cfg):
    k = _k_max(cfg.random_count_range)
    active = _counts_active(u[:, 0], k, cfg.random_count_range)
    u_x, u_y, u_size, u_asp, u_ang = (u[:, 1 + i * k:1 + (i + 1) * k] for i in range(5))
    if cfg.random_placement == "image":   # centres uniform over the image area
        centers = tf.stack([u_y * tf.cast(height, tf.float32) - 0.5,
                            u_x * tf.cast(width, tf.float32) - 0.5], -1)
    else:                                 # centres uniform over the valid (face) pixels
        centers, n = _sample_pixels(valid, u_x)
        active = active & (n[:, None] > 0)
    axes, angles = _shape_params(u_size, u_asp, u_ang, cfg.random_size_range, cfg)
    return centers, axes, angles, active


def _hole_ellipses(x, draws, cfg, use_outline, use_random):
    """:func:`_ellipse_coeffs` of each enabled generator, in order (outline, random)."""
    valid = x > 0
    h, w = _spatial(x)
    groups = []
    if use_outline and _k_max(cfg.outline_count_range) > 0:
        groups.append(_ellipse_coeffs(*_outline_ellipses(valid, draws["outline_u"], cfg)))
    if use_random and _k_max(cfg.random_count_range) > 0:
        groups.append(_ellipse_coeffs(*_random_ellipses(valid, draws["random_u"], h, w, cfg)))
    return groups


def _group_axes(cfg, use_outline, use_random):
    """The maximum semi-axis (row window) of each group of :func:`_hole_ellipses`."""
    axes = []
    if use_outline and _k_max(cfg.outline_count_range) > 0:
        axes.append(cfg.outline_size_range[1])
    if use_random and _k_max(cfg.random_count_range) > 0:
        axes.append(cfg.random_size_range[1])
    return axes


def _raster_groups(x, groups, max_axes, xla=False):
    """Union mask (B,H,W) of the ellipse groups, rasterised in one step; each generator's
    intervals use its own row window (its maximum semi-axis)."""
    h, w = _spatial(x)
    if not groups:
        return tf.zeros_like(x > 0)
    marks = [_interval_marks(h, w, g, a) for g, a in zip(groups, max_axes)]
    return _cover(h, w, tf.shape(x)[0], [m[0] for m in marks], [m[1] for m in marks], xla)


def _hole_mask(x, draws, cfg, use_outline, use_random):
    """Union of outline and random holes, rasterised in one step (Fig. 5, step 1)."""
    return _raster_groups(x, _hole_ellipses(x, draws, cfg, use_outline, use_random),
                          _group_axes(cfg, use_outline, use_random))


def _apply_noise(x, noise, sigma, min_depth):
    valid = x > 0
    return tf.where(valid, tf.maximum(x + sigma * noise, min_depth), 0.0)


def _helper_values(near, u, offset_range):
    lo = near[:, None, None] + offset_range[0]
    return lo + u * (offset_range[1] - offset_range[0])


# ----------------------------------------------------------------------------------------------
# public parts
# ----------------------------------------------------------------------------------------------
def _cfg(**kw):
    return DegradationConfig(**kw)


def outline_holes(depth, seed, count_range=(16, 48), size_range=(2.0, 10.0),
                  aspect_range=(0.3, 1.0), angle_range=(0.0, math.pi)):
    """Holes along the face outline (section III-B, "outline holes"; Fig. 5).

    The outline is the boundary of the valid (> 0) mask (:func:`face_outline`). Per image
    ``count ~ U{count_range}`` ellipse centres are drawn uniformly among the outline pixels (with
    replacement); semi-major ``a ~ U(size_range)`` px, semi-minor ``a * U(aspect_range)``, angle
    ``~ U(angle_range)``. Every hole pixel therefore lies within ``size_range[1]`` px of the
    original outline. Returns depth of the input's shape with the new holes set to 0.
    """
    cfg = _cfg(outline_count_range=tuple(count_range), outline_size_range=tuple(size_range),
               aspect_range=tuple(aspect_range), angle_range=tuple(angle_range))
    x, restore, single = _as_batch(depth)
    s = _check_seed(seed, single)
    keys = _part_keys(_seed_rows(s, x, single), PART_OUTLINE)
    holes = _hole_mask(x, _draw_outline(keys, cfg), cfg, True, False)
    return restore(tf.where(holes, 0.0, x))


def random_holes(depth, seed, count_range=(0, 10), size_range=(2.0, 16.0),
                 aspect_range=(0.3, 1.0), angle_range=(0.0, math.pi), placement="image"):
    """Randomly placed elliptical holes (section III-B, "random holes"; Fig. 5).

    Per image ``count ~ U{count_range}``; centres uniform over the image area (``placement=
    'image'``, the paper's wording) or over the valid pixels (``'face'``); semi-major
    ``a ~ U(size_range)`` px, semi-minor ``a * U(aspect_range)``, angle ``~ U(angle_range)``
    radians. Exact rasterisation (:func:`rasterize_ellipses`). Returns depth with holes = 0.
    """
    cfg = _cfg(random_count_range=tuple(count_range), random_size_range=tuple(size_range),
               aspect_range=tuple(aspect_range), angle_range=tuple(angle_range),
               random_placement=placement)
    x, restore, single = _as_batch(depth)
    s = _check_seed(seed, single)
    keys = _part_keys(_seed_rows(s, x, single), PART_RANDOM)
    holes = _hole_mask(x, _draw_random(keys, cfg), cfg, False, True)
    return restore(tf.where(holes, 0.0, x))


def random_hole_parameters(seed, height, width, count_range=(0, 10), size_range=(2.0, 16.0),
                           aspect_range=(0.3, 1.0), angle_range=(0.0, math.pi)):
    """The ellipses :func:`random_holes` draws for one image with ``placement='image'``.

    Returns ``(centers (K,2) yx, semi_axes (K,2), angles (K,), active (K,))``.
    """
    cfg = _cfg(random_count_range=tuple(count_range), random_size_range=tuple(size_range),
               aspect_range=tuple(aspect_range), angle_range=tuple(angle_range))
    s = _check_seed(seed, True)
    u = _draw_random(_part_keys(s[None], PART_RANDOM), cfg)["random_u"]
    c, a, t, act = _random_ellipses(None, u, height, width, cfg)
    return c[0], a[0], t[0], act[0]


def add_noise(depth, seed, sigma_mm=15.0, distribution="gaussian", min_depth_mm=1.0):
    """Per-pixel noise on non-hole pixels only (section III-B: 15 mm, the D435 error at 2 m).

    The paper does not say which distribution; ``'gaussian'`` (default) adds N(0, sigma^2),
    ``'uniform'`` adds U(-sqrt(3) sigma, sqrt(3) sigma) (same standard deviation). Holes stay 0;
    noisy valid pixels are clamped to ``>= min_depth_mm`` so noise never creates a hole.
    """
    cfg = _cfg(noise_sigma_mm=float(sigma_mm), noise_distribution=distribution,
               min_depth_mm=float(min_depth_mm))
    x, restore, single = _as_batch(depth)
    s = _check_seed(seed, single)
    shape = _spatial(x)
    keys = _part_keys(_seed_rows(s, x, single), PART_NOISE)
    noise = _noise(keys, shape[0], shape[1], cfg.noise_distribution)
    return restore(_apply_noise(x, noise, cfg.noise_sigma_mm, cfg.min_depth_mm))


def blur_valid(depth, kernel_size=5):
    """Blur of non-hole pixels only (section III-B: "averaged over an area per pixel").

    Normalised convolution with a ``kernel_size`` square box: each valid pixel becomes the mean of
    the valid pixels in its window (sum of valid neighbours / count of valid neighbours). Hole
    pixels (0) stay exactly 0 and never contribute; pixels outside the image do not count.
    """
    _check_kernel(kernel_size, "blur_valid: kernel_size")
    x, restore, _ = _as_batch(depth)
    return restore(_blur_positive(x, int(kernel_size)))


def randomize_hole_values(depth, seed, offset_range_mm=(0.0, FACE_RANGE_MM), hole_mask=None):
    """DL helper (training only): every hole value drawn uniformly at random (section III-B).

    Hole values ~ U(near + offset_range_mm[0], near + offset_range_mm[1]) with ``near`` the
    image's nearest valid depth; the default spans exactly the 250 mm normalisation window, so in
    the network's normalised [0, 1] input the holes are fully random. ``hole_mask`` (same shape as
    ``depth``, True = hole) defaults to ``depth == 0``; valid pixels are unchanged.
    """
    _check_range(offset_range_mm, "randomize_hole_values: offset_range_mm")
    x, restore, single = _as_batch(depth)
    holes = _hole_arg(hole_mask, x)
    deps = _require_face(~holes, "randomize_hole_values: depth")
    s = _check_seed(seed, single)
    with tf.control_dependencies(deps):
        near = _nearest(x, ~holes)
    keys = _part_keys(_seed_rows(s, x, single), PART_HELPER)
    vals = _helper_values(near, _draw_helper(keys, _spatial(x))["helper_u"], offset_range_mm)
    return restore(tf.where(holes, vals, x))


def randomize_hole_values_blurred(depth, seed, depth_range_mm=(0.0, FACE_RANGE_MM),
                                  kernel_size=9, hole_mask=None):
    """DL helper (training only): "blurred hole background" (section III-B).

    Hole values are drawn uniformly within ``[near + depth_range_mm[0], near + depth_range_mm[1]]``
    (``near`` = nearest valid depth of the image), then blurred with a ``kernel_size`` box over
    hole pixels only (normalised convolution), so the background stays inside the range and valid
    depth neither bleeds into it nor changes.
    """
    _check_range(depth_range_mm, "randomize_hole_values_blurred: depth_range_mm")
    _check_kernel(kernel_size, "randomize_hole_values_blurred: kernel_size")
    x, restore, single = _as_batch(depth)
    holes = _hole_arg(hole_mask, x)
    deps = _require_face(~holes, "randomize_hole_values_blurred: depth")
    s = _check_seed(seed, single)
    with tf.control_dependencies(deps):
        near = _nearest(x, ~holes)
    keys = _part_keys(_seed_rows(s, x, single), PART_HELPER)
    vals = _normalised_blur(_helper_values(near, _draw_helper(keys, _spatial(x))["helper_u"],
                                           depth_range_mm), holes,
                            int(kernel_size))
    return restore(tf.where(holes, vals, x))


def _hole_arg(hole_mask, x):
    if hole_mask is None:
        return tf.logical_not(x > 0)
    m = tf.convert_to_tensor(hole_mask)
    if m.dtype != tf.bool:
        raise TypeError(f"hole_mask must be bool, got {m.dtype.name} with shape {m.shape}")
    if m.shape.rank == 4:
        m = m[..., 0]
    elif m.shape.rank == 2:
        m = m[None]
    if m.shape.rank != 3:
        raise ValueError(f"hole_mask must match depth's shape, got {m.shape}")
    return m


# ----------------------------------------------------------------------------------------------
# the full degradation
# ----------------------------------------------------------------------------------------------
def _draws(keys, cfg):
    draws = {}
    if "outline" in keys:
        draws.update(_draw_outline(keys["outline"], cfg))
    if "random" in keys:
        draws.update(_draw_random(keys["random"], cfg))
    return draws


def _holes_and_noise(x, holes, keys, cfg, xla=False):
    """Steps 1 (apply) and 2 of :func:`degrade`: synthetic holes set to 0, then noise."""
    y = tf.where(holes, 0.0, x)
    if cfg.noise and cfg.noise_sigma_mm > 0:
        h, w = _spatial(x)
        noise = _noise(keys["noise"], h, w, cfg.noise_distribution, xla)
        y = _apply_noise(y, noise, cfg.noise_sigma_mm, cfg.min_depth_mm)
    return y


def _blurs(cfg):
    return cfg.blur and cfg.blur_kernel_size > 1


def _finish(x, y, row_sums, keys, cfg):
    """Steps 3 (second pass of the blur, see :func:`_blur_positive`) and 4 of :func:`degrade`
    on the noisy, holed ``y`` (``x`` is the clean input)."""
    valid = y > 0
    if row_sums is not None:
        y = _blur_cols(row_sums, cfg.blur_kernel_size, valid)
    hole = tf.logical_not(valid)
    if cfg.helper != "none":
        near = _nearest(x, x > 0)
        u = _draw_helper(keys["helper"], _spatial(x))["helper_u"]
        vals = _helper_values(near, u, cfg.helper_offset_range_mm)
        if cfg.helper == "blurred":
            vals = _normalised_blur(vals, hole, cfg.helper_blur_kernel_size)
        y = tf.where(hole, vals, y)
    return y, hole


def _stages(cfg, xla=False):
    """:func:`degrade` as four stages, each a function of the previous stages' tensors: ellipse
    coefficients (random draws, outline, sampling); rasterised synthetic holes applied + noise;
    the blur's row sums; the blur's column sums + the helper. The plain graph runs them
    in sequence; with ``jit_compile`` each is its own XLA cluster, because inside one cluster
    XLA:CPU fuses every stage into its consumers and recomputes it per use (the coefficients
    for every row of every ellipse, the noise for every blur tap), which measured 1.5-2x slower
    than materialising the stage outputs (BUILD_NOTES, "Speed"). ``xla`` selects the XLA forms
    of the scatter (:func:`_cover`) and the log (:func:`_noise`)."""
    use = (cfg.outline_holes, cfg.random_holes)
    axes = _group_axes(cfg, *use)
    blur = _blurs(cfg)
    return {
        "ellipses": lambda x, k: _hole_ellipses(x, _draws(k, cfg), cfg, *use),
        "noise": lambda x, g, k: _holes_and_noise(x, _raster_groups(x, g, axes, xla), k, cfg, xla),
        "rows": (lambda y: _blur_rows(y, cfg.blur_kernel_size)) if blur else None,
        "finish": lambda x, y, rows, k: _finish(x, y, rows, k, cfg),
    }


_JIT_CACHE = {}


def _compiled(cfg):
    """The XLA-compiled :func:`_stages` of a config (cached)."""
    fns = _JIT_CACHE.get(cfg)
    if fns is None:
        fns = {name: fn and tf.function(fn, jit_compile=True, autograph=False)
               for name, fn in _stages(cfg, xla=True).items()}
        _JIT_CACHE[cfg] = fns
    return fns


def _run_stages(x, keys, fns):
    y = fns["noise"](x, fns["ellipses"](x, keys), keys)
    rows = fns["rows"](y) if fns["rows"] is not None else None
    return fns["finish"](x, y, rows, keys)


def degrade(depth, seed, config: Optional[DegradationConfig] = None, jit_compile=False):
    """Degrade clean face depth as in section III-B / Fig. 5: holes -> noise -> blur -> helper.

    Args:
      depth: float mm, 0 = hole; (H,W), (B,H,W) or (B,H,W,1). Outline holes trace its outline.
      seed: int [2] or [B,2] (see the module doc for per-example seeds).
      config: :class:`DegradationConfig`; each part is switched by its boolean.
      jit_compile: XLA-compile the four stages of :func:`_stages` as four clusters. The same
        computation as the plain graph (the hash gives the same bits; the marks' scatter and
        the noise's log take XLA-friendly forms), so the output equals the plain graph's up to
        float32 rounding (~1e-3 mm) with identical hole masks. Several times the plain graph's
        speed on CPU.

    Returns:
      ``(degraded, hole_mask)``: degraded depth in mm of the input's shape (holes 0, or the
      helper's values), and the bool hole mask (original + synthetic holes) of the same shape.
      With a helper, ``hole_mask`` is the only record of where the holes are.
    """
    cfg = config or DegradationConfig()
    x, restore, single = _as_batch(depth)
    s = _check_seed(seed, single)
    deps = _require_face(x > 0, "degrade: depth") if cfg.helper != "none" else []
    rows = _seed_rows(s, x, single)
    parts = {"outline": (PART_OUTLINE, cfg.outline_holes), "random": (PART_RANDOM, cfg.random_holes),
             "noise": (PART_NOISE, cfg.noise and cfg.noise_sigma_mm > 0),
             "helper": (PART_HELPER, cfg.helper != "none")}
    keys = {name: _part_keys(rows, part) for name, (part, on) in parts.items() if on}
    with tf.control_dependencies(deps):
        y, hole = _run_stages(x, keys, _compiled(cfg) if jit_compile else _stages(cfg))
    return restore(y), restore(hole)


def make_degradation_fn(config: Optional[DegradationConfig] = None, jit_compile=True
                        ) -> Callable:
    """``fn(depth, seed) -> (degraded, hole_mask)`` for ``tf.data.Dataset.map`` on batches.

    Use per-example seeds ``index_seeds(seed, global_indices)`` so an example's degradation is
    fixed by ``(seed, global index)`` whatever the batching, e.g.
    ``ds.batch(B).enumerate().map(lambda i, d: fn(d, index_seeds(7, i * B + tf.range(n))))``
    with ``n = tf.shape(d)[0]``. ``jit_compile`` (default True here) XLA-compiles the four
    stages: several times the plain graph's speed on CPU, same output up to float rounding.
    Map it with ``num_parallel_calls`` >= 2 (or AUTOTUNE): two batches in flight keep both
    cores of a 2-core CPU busy, where one call keeps ~1.5 busy (``benchmarks.bench_degradation``).
    """
    cfg = config or DegradationConfig()

    def fn(depth, seed):
        return degrade(depth, seed, cfg, jit_compile=jit_compile)
    return fn


# ----------------------------------------------------------------------------------------------
# face-range normalisation and the paper's 16-bit / 65535-hole convention (section IV-J)
# ----------------------------------------------------------------------------------------------
def normalize_face_depth(depth_mm, range_mm=FACE_RANGE_MM, near_mm=None, valid=None):
    """Map ``[near, near + range_mm]`` to [0, 1] (section IV-J: "25 cm range starting at the
    closest detected depth value"); we use the same 250 mm window for synthetic faces.

    Args:
      depth_mm: float mm, 0 = hole, (H,W) | (B,H,W) | (B,H,W,1).
      range_mm: window length.
      near_mm: per-image window start, shape () or (B,); default the nearest valid pixel. Pass the
        ground truth's ``near`` when normalising its degraded version, so both share one window.
      valid: bool mask like ``depth_mm``; default ``depth_mm > 0``.

    Returns ``(normalised, valid, near_mm)``: valid pixels ``(d - near) / range_mm`` clipped to
    ``[0, 65534/65535]`` (never the hole code); holes are 0 here, and :func:`to_paper_convention`
    makes them 1.0 (= 65535 in 16 bits).
    """
    if not range_mm > 0:
        raise ValueError(f"normalize_face_depth: range_mm must be > 0, got {range_mm}")
    x, restore, single = _as_batch(depth_mm, "depth_mm")
    v = x > 0 if valid is None else _hole_arg(valid, x)
    if near_mm is None:
        deps = _require_face(v, "normalize_face_depth: depth_mm")
        with tf.control_dependencies(deps):
            near = _nearest(x, v)
    else:
        near = tf.broadcast_to(tf.reshape(tf.cast(near_mm, tf.float32), [-1]), tf.shape(x)[:1])
    n = tf.clip_by_value((x - near[:, None, None]) / range_mm, 0.0, VALID_MAX_NORMALISED)
    n = tf.where(v, n, 0.0)
    return restore(n), restore(v), (near[0] if single else near)


def denormalize_face_depth(normalised, near_mm, valid, range_mm=FACE_RANGE_MM):
    """Inverse of :func:`normalize_face_depth` on valid pixels (``near + x * range_mm``); holes 0.

    Exact up to float rounding for depth inside the window; depth beyond ``near + range`` was
    clipped and cannot be recovered.
    """
    x, restore, single = _as_batch(normalised, "normalised")
    v = _hole_arg(valid, x)
    near = tf.broadcast_to(tf.reshape(tf.cast(near_mm, tf.float32), [-1]), tf.shape(x)[:1])
    return restore(tf.where(v, near[:, None, None] + x * range_mm, 0.0))


def to_paper_convention(depth, valid=None, hole_value=None):
    """SDK holes (0) -> the paper's holes (maximum value), section IV-J.

    ``depth`` is mm or normalised depth, float or uint16. ``valid`` defaults to ``depth > 0``,
    which is right for millimetres; pass the mask for normalised depth (0 is a valid value
    there). ``hole_value`` defaults to 65535 for integer input and 1.0 (= 65535/65535) for float.
    """
    d = tf.convert_to_tensor(depth)
    if hole_value is None:
        hole_value = PAPER_HOLE_CODE if d.dtype.is_integer else UNIT_HOLE
    v = d > 0 if valid is None else tf.convert_to_tensor(valid)
    if v.dtype != tf.bool:
        raise TypeError(f"to_paper_convention: valid must be bool, got {v.dtype.name}")
    return tf.where(v, d, tf.cast(hole_value, d.dtype))


def from_paper_convention(depth, hole_value=None):
    """The paper's holes (>= ``hole_value``: 65535, or 1.0 for float) -> ``(depth with holes 0,
    valid mask)``. Inverse of :func:`to_paper_convention` on its outputs."""
    d = tf.convert_to_tensor(depth)
    if hole_value is None:
        hole_value = PAPER_HOLE_CODE if d.dtype.is_integer else UNIT_HOLE
    v = d < tf.cast(hole_value, d.dtype)
    return tf.where(v, d, tf.zeros_like(d)), v


def to_uint16(normalised, valid):
    """Normalised [0, 1] depth -> the paper's 16-bit image: valid ``round(x * 65535)`` capped at
    65534, holes 65535 (section IV-J)."""
    x = tf.convert_to_tensor(normalised)
    if not x.dtype.is_floating:
        raise TypeError(f"to_uint16: normalised must be floating, got {x.dtype.name} with shape "
                        f"{x.shape}")
    code = tf.clip_by_value(tf.round(tf.cast(x, tf.float32) * PAPER_HOLE_CODE), 0.0,
                            float(VALID_MAX_CODE))
    return tf.cast(to_paper_convention(code, valid, float(PAPER_HOLE_CODE)), tf.uint16)


def from_uint16(code):
    """The paper's 16-bit image -> ``(normalised float32 = code / 65535, valid = code != 65535)``,
    holes 0 in the normalised output."""
    c = tf.convert_to_tensor(code)
    if c.dtype != tf.uint16:
        raise TypeError(f"from_uint16: code must be uint16, got {c.dtype.name} with shape "
                        f"{c.shape}")
    v = tf.not_equal(c, PAPER_HOLE_CODE)
    return tf.where(v, tf.cast(c, tf.float32) / PAPER_HOLE_CODE, 0.0), v
