"""Hole shapes: outline holes and random holes (Schlett et al., section III-B, Fig. 5 step 1).

"The hole shapes are generated in the form of two different variants: One variant places holes
along the face outline, which is detected by tracing the synthesized ground truth input image's
non-hole depth pixels. These holes 'erode' the outline ... The second generator variant places a
number of holes randomly across the image. Individual hole parameters such as size and
orientation are also randomized within a given range for both variants" (Fig. 5: "Detect
Outline", "Generate Outline Region", "Generate Random Hole Vertices", "Combine Vertices").
Both generators draw each hole's centre, size, aspect and orientation; with the default
``hole_shape='polygon'`` the hole is the convex polygon of its random vertices
(:mod:`data_pipelines.degradation.vertices`, Fig. 5 "Generate Random Hole Vertices"), with
'ellipse' the ellipse itself. Both generators' shapes are combined ("Combine Vertices") and
rendered in one step (:mod:`data_pipelines.degradation.rasterize`). Outline holes are centred in
the outline region (Fig. 5 "Detect Outline", "Generate Outline Region"): the valid pixels
within ``outline_region_width`` px of a hole pixel, found on 16-pixel bit words
(:func:`_outline_words`) and sampled by two-level counting (:func:`_sample_rows`).
"""

from __future__ import annotations

import math

import tensorflow as tf

from data_pipelines.degradation._checks import _as_batch, _spatial
from data_pipelines.degradation.config import _cfg
from data_pipelines.degradation.rasterize import (_cover, _cumsum_last, _ellipse_coeffs,
                                                  _interval_marks, _polygon_coeffs,
                                                  _polygon_interval_marks)
from data_pipelines.degradation.seeds import (PART_OUTLINE, PART_RANDOM, _check_seed,
                                              _part_keys, _seed_rows, _uniform)
from data_pipelines.degradation.vertices import hole_vertices, vertex_draw_count


def face_outline(valid, width=1):
    """Outline region of a (B,H,W) bool valid mask: valid pixels with a hole within ``width``
    px (chessboard distance); ``width=1``: the traced outline, valid pixels with a hole among
    their 8 neighbours (Fig. 5, "Detect Outline" / "Generate Outline Region").

    Morphological band ``valid & ~erode(valid)`` with a (2 width + 1)^2 square, the erosion as
    ``width`` separable ANDs of shifted slices (3x3 min-pools); pixels outside the image do not
    count as holes, so a face cut by the image border has no outline there.
    """
    h, w = tf.shape(valid)[1], tf.shape(valid)[2]
    eroded = valid
    for _ in range(int(width)):
        p = tf.pad(eroded, [[0, 0], [1, 1], [1, 1]], constant_values=True)
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


def _sample_outline(valid, u, width=1):
    """:func:`_sample_pixels` of ``face_outline(valid, width)``, computed on 16-pixel words when
    the image width is a static multiple of 16 (:func:`_outline_words`): the full-resolution
    outline mask is never formed, only its row counts (popcounts) and the K sampled rows."""
    w = valid.shape[2]
    if w is None or w % 16:
        return _sample_pixels(face_outline(valid, width), u)
    words = _outline_words(valid, width)
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


def _outline_words(valid, width=1):
    """:func:`face_outline` of a (B,H,W) bool mask as :func:`_pack16` words: each 3x3 erosion
    (``width`` of them) is bit shifts within 16-pixel words (with the neighbour words' edge bits
    carried in) and ANDs of neighbouring rows, outside the image counting as valid. One pass
    over the pixels (the packing) instead of a padded copy, the erosion and a 4-byte count per
    pixel."""
    v = _pack16(valid)
    eroded = v
    for _ in range(int(width)):
        eroded = _erode_words(eroded)
    return tf.bitwise.bitwise_and(v, tf.bitwise.invert(eroded))


def _erode_words(v):
    """One 3x3 erosion of :func:`_pack16` words (outside the image counts as set)."""
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
    return tf.bitwise.bitwise_and(tf.bitwise.bitwise_and(rows, up), down)


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


def _k_max(count_range):
    return int(count_range[1])


def _shape_draws(cfg, k):
    """Extra uniforms per generator for the polygon vertices (none for ellipses)."""
    return k * vertex_draw_count(cfg) if cfg.hole_shape == "polygon" else 0


def _draw_outline(keys, cfg):
    """(B, 1 + 4K [+ K(1 + V)]) uniforms of the outline holes: count, then K positions, sizes,
    aspects, angles [, then per hole its vertex count and V vertex jitters]. The ellipse
    draws come first, so they are the same numbers for both shapes."""
    k = _k_max(cfg.outline_count_range)
    return {"outline_u": _uniform(keys, [1 + 4 * k + _shape_draws(cfg, k)])}


def _draw_random(keys, cfg):
    """(B, 1 + 5K [+ K(1 + V)]) uniforms of the random holes: count, then K x, y, sizes,
    aspects, angles [, then the vertex draws]."""
    k = _k_max(cfg.random_count_range)
    return {"random_u": _uniform(keys, [1 + 5 * k + _shape_draws(cfg, k)])}


def _vertex_u(u, start, k, cfg):
    """(B,K,1+V) vertex uniforms stored after ``start`` draws."""
    return tf.reshape(u[:, start:start + _shape_draws(cfg, k)],
                      tf.stack([tf.shape(u)[0], k, vertex_draw_count(cfg)]))


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
    centers, n = _sample_outline(valid, u_pos, cfg.outline_region_width)
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


def _shape_coeffs(params, u, start, k, cfg):
    """The rasteriser's per-hole numbers of ``params`` = (centres, axes, angles, active):
    ellipse coefficients, or the vertices of the inscribed random polygon."""
    centers, axes, angles, active = params
    if cfg.hole_shape == "ellipse":
        return _ellipse_coeffs(centers, axes, angles, active)
    return _polygon_coeffs(hole_vertices(centers, axes, angles, _vertex_u(u, start, k, cfg),
                                         cfg), active)


def _hole_ellipses(x, draws, cfg, use_outline, use_random):
    """Per generator (outline, random, each if enabled) the hole shapes' coefficients
    (:func:`_shape_coeffs`): the shapes of both variants, combined for one rendering."""
    valid = x > 0
    h, w = _spatial(x)
    groups = []
    k = _k_max(cfg.outline_count_range)
    if use_outline and k > 0:
        u = draws["outline_u"]
        groups.append(_shape_coeffs(_outline_ellipses(valid, u, cfg), u, 1 + 4 * k, k, cfg))
    k = _k_max(cfg.random_count_range)
    if use_random and k > 0:
        u = draws["random_u"]
        groups.append(_shape_coeffs(_random_ellipses(valid, u, h, w, cfg), u, 1 + 5 * k, k,
                                    cfg))
    return groups


def _group_axes(cfg, use_outline, use_random):
    """The maximum semi-axis (row window) of each group of :func:`_hole_ellipses`."""
    axes = []
    if use_outline and _k_max(cfg.outline_count_range) > 0:
        axes.append(cfg.outline_size_range[1])
    if use_random and _k_max(cfg.random_count_range) > 0:
        axes.append(cfg.random_size_range[1])
    return axes


def _raster_groups(x, groups, max_axes, xla=False, shape="polygon"):
    """Union mask (B,H,W) of the hole groups, rasterised in one step; each generator's
    intervals use its own row window (its maximum semi-axis)."""
    h, w = _spatial(x)
    if not groups:
        return tf.zeros_like(x > 0)
    interval_marks = _polygon_interval_marks if shape == "polygon" else _interval_marks
    marks = [interval_marks(h, w, g, a) for g, a in zip(groups, max_axes)]
    return _cover(h, w, tf.shape(x)[0], [m[0] for m in marks], [m[1] for m in marks], xla)


def _hole_mask(x, draws, cfg, use_outline, use_random):
    """Union of outline and random holes, rasterised in one step (Fig. 5, step 1)."""
    return _raster_groups(x, _hole_ellipses(x, draws, cfg, use_outline, use_random),
                          _group_axes(cfg, use_outline, use_random), shape=cfg.hole_shape)


def _shape_kwargs(hole_shape, vertex_count_range, vertex_jitter):
    return dict(hole_shape=hole_shape, vertex_count_range=tuple(vertex_count_range),
                vertex_jitter=float(vertex_jitter))


def outline_holes(depth, seed, count_range=(16, 48), size_range=(2.0, 10.0),
                  aspect_range=(0.3, 1.0), angle_range=(0.0, math.pi), hole_shape="polygon",
                  vertex_count_range=(3, 8), vertex_jitter=1.0, region_width=1):
    """Holes along the face outline (section III-B, l. 490-495, "outline holes"; Fig. 5).

    The outline region is the band of valid (> 0) pixels within ``region_width`` px of a hole
    (:func:`face_outline`; 1 = the traced outline). Per image ``count ~ U{count_range}`` centres
    are drawn uniformly among its pixels (with replacement); semi-major ``a ~ U(size_range)``
    px, semi-minor ``a * U(aspect_range)``, angle ``~ U(angle_range)``; the hole is the convex
    polygon of random vertices on that ellipse (``hole_shape='polygon'``, :mod:`.vertices`) or
    the ellipse. Every hole pixel therefore lies within ``size_range[1]`` px of the region.
    Returns depth of the input's shape with the new holes set to 0.
    """
    cfg = _cfg(outline_count_range=tuple(count_range), outline_size_range=tuple(size_range),
               aspect_range=tuple(aspect_range), angle_range=tuple(angle_range),
               outline_region_width=int(region_width),
               **_shape_kwargs(hole_shape, vertex_count_range, vertex_jitter))
    x, restore, single = _as_batch(depth)
    s = _check_seed(seed, single)
    keys = _part_keys(_seed_rows(s, x, single), PART_OUTLINE)
    holes = _hole_mask(x, _draw_outline(keys, cfg), cfg, True, False)
    return restore(tf.where(holes, 0.0, x))


def random_holes(depth, seed, count_range=(0, 10), size_range=(2.0, 16.0),
                 aspect_range=(0.3, 1.0), angle_range=(0.0, math.pi), placement="image",
                 hole_shape="polygon", vertex_count_range=(3, 8), vertex_jitter=1.0):
    """Randomly placed holes (section III-B, l. 495-498, "random holes"; Fig. 5).

    Per image ``count ~ U{count_range}``; centres uniform over the image area (``placement=
    'image'``, the paper's wording) or over the valid pixels (``'face'``); semi-major
    ``a ~ U(size_range)`` px, semi-minor ``a * U(aspect_range)``, angle ``~ U(angle_range)``
    radians; the hole is the random convex polygon on that ellipse (``hole_shape='polygon'``)
    or the ellipse. Exact rasterisation (:mod:`.rasterize`). Returns depth with holes = 0.
    """
    cfg = _cfg(random_count_range=tuple(count_range), random_size_range=tuple(size_range),
               aspect_range=tuple(aspect_range), angle_range=tuple(angle_range),
               random_placement=placement,
               **_shape_kwargs(hole_shape, vertex_count_range, vertex_jitter))
    x, restore, single = _as_batch(depth)
    s = _check_seed(seed, single)
    keys = _part_keys(_seed_rows(s, x, single), PART_RANDOM)
    holes = _hole_mask(x, _draw_random(keys, cfg), cfg, False, True)
    return restore(tf.where(holes, 0.0, x))


def random_hole_parameters(seed, height, width, count_range=(0, 10), size_range=(2.0, 16.0),
                           aspect_range=(0.3, 1.0), angle_range=(0.0, math.pi),
                           vertex_count_range=(3, 8), vertex_jitter=1.0):
    """The holes :func:`random_holes` draws for one image with ``placement='image'``.

    Returns ``(centers (K,2) yx, semi_axes (K,2), angles (K,), active (K,), vertices
    (K,V,2) yx)``: the ellipse parameters and the vertices of the polygon inscribed in each
    (the shape with ``hole_shape='polygon'``).
    """
    cfg = _cfg(random_count_range=tuple(count_range), random_size_range=tuple(size_range),
               aspect_range=tuple(aspect_range), angle_range=tuple(angle_range),
               **_shape_kwargs("polygon", vertex_count_range, vertex_jitter))
    s = _check_seed(seed, True)
    u = _draw_random(_part_keys(s[None], PART_RANDOM), cfg)["random_u"]
    c, a, t, act = _random_ellipses(None, u, height, width, cfg)
    k = _k_max(cfg.random_count_range)
    verts = hole_vertices(c, a, t, _vertex_u(u, 1 + 5 * k, k, cfg), cfg)
    return c[0], a[0], t[0], act[0], verts[0]
