"""Exact rasterisation of filled hole shapes: the "Hole Depth Rendering" box of Fig. 5.

Schlett, Rathgeb, Busch, section III-B: "the shapes of both variants are combined to render them
in a single step on the GPU" (Fig. 5: "Generate Random Hole Vertices", "Combine Vertices",
"Hole Depth Rendering"). Every hole of a batch becomes closed-form row intervals, +1/-1 marks
in one difference array and a running sum along x (:func:`_cover`, :func:`_cumsum_last`):
exact on the pixel grid. Two shapes: convex polygons from their vertices
(:func:`rasterize_polygons`, :func:`_polygon_interval_marks`; the default, Fig. 5's vertices)
and ellipses (:func:`rasterize_ellipses`, :func:`_ellipse_coeffs`, :func:`_interval_marks`;
``hole_shape='ellipse'``).
"""

from __future__ import annotations

import math

import tensorflow as tf


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
    y = _row_window(cy, max_semi_axis)                              # (B,K,J) row centres
    dy = y - cy[..., None]
    qa, qb, qc = qa[..., None], qb[..., None], qc[..., None]
    disc = tf.square(qb * dy) - qa * (qc * tf.square(dy) - 1.0)
    root = tf.sqrt(tf.maximum(disc, 0.0))
    x0 = tf.math.ceil(cx[..., None] + (-qb * dy - root) / qa)
    x1 = tf.floor(cx[..., None] + (-qb * dy + root) / qa) + 1.0     # exclusive end
    return _marks(height, width, y, x0, x1, active[..., None] & (disc >= 0.0))


def _row_window(cy, max_semi_axis):
    """(B,K,J) row centres round(cy) - r .. round(cy) + r, r = ceil(max_semi_axis) + 1."""
    r = int(math.ceil(max_semi_axis)) + 1
    return tf.round(cy)[..., None] + tf.range(-r, r + 1, dtype=tf.float32)


def _marks(height, width, y, x0, x1, ok):
    """(start, end) flat difference-array indices (-1: no mark) of the row intervals
    ``[x0, x1)`` (float, unclipped) at rows ``y`` where ``ok``, all (B,K,J)."""
    b_size = tf.shape(y)[0]
    wf = tf.cast(width, tf.float32)
    x0 = tf.clip_by_value(x0, 0.0, wf)
    x1 = tf.clip_by_value(x1, 0.0, wf)
    ok = ok & (x0 < x1) & (y >= 0.0) & (y < tf.cast(height, tf.float32))
    yi = tf.clip_by_value(tf.cast(y, tf.int32), 0, height - 1)
    base = (tf.range(b_size)[:, None, None] * height + yi) * width        # int32 flat indices
    end_ok = ok & (x1 < wf)              # an interval ending at the right border needs no -1
    # a mark that is not made gets index -1, which the scatter drops: the mark values are then
    # the constants +1 / -1 and only the indices depend on the shapes
    return (tf.where(ok, base + tf.cast(x0, tf.int32), -1),
            tf.where(end_ok, base + tf.cast(x1, tf.int32), -1))


def rasterize_polygons(height, width, vertices, active, max_radius):
    """Exact (B,H,W) bool union of filled convex polygons on the pixel grid.

    Args:
      height, width: image size.
      vertices: (B,K,V,2) float ``(y, x)`` of each polygon in counter-clockwise order in the
        (x, y) frame (x = column, y = row: the order of increasing angle from +x towards +y),
        convex; a vertex equal to its predecessor adds nothing (pad shorter polygons by
        repeating a vertex). active: (B,K) bool.
      max_radius: Python float bound on every vertex's distance from the centre of its
        polygon's row range; sets the static row window.

    A pixel centre ``X`` is inside when ``cross(Q - P, X - P) >= 0`` for every edge ``P -> Q``
    (on an edge counts as inside, as the ellipses' ``<= 1``). Per row each edge bounds x from
    one side, so the inside columns are one interval (:func:`_polygon_interval_marks`).
    """
    starts, ends = _polygon_interval_marks(height, width, _polygon_coeffs(vertices, active),
                                           max_radius)
    return _cover(height, width, tf.shape(vertices)[0], [starts], [ends])


def _polygon_coeffs(vertices, active):
    """(vy, vx, active) of (B,K,V,2) vertices: the per-polygon numbers the XLA stages
    materialise (as :func:`_ellipse_coeffs`)."""
    vertices = tf.cast(vertices, tf.float32)
    return vertices[..., 0], vertices[..., 1], active


def _polygon_interval_marks(height, width, coeffs, max_radius):
    """:func:`_interval_marks` of convex polygons (:func:`rasterize_polygons`). For an edge
    ``P -> Q`` (e = Q - P) and the row ``y``, ``cross(e, X - P) = e_y (t - X_x)`` with ``t``
    the column where the edge's line meets the row: an upper bound ``X_x <= t`` when
    ``e_y > 0``, a lower bound when ``e_y < 0``; a horizontal edge keeps the row when
    ``e_x (y - P_y) >= 0``. Inside columns: ``ceil(max lower) .. floor(min upper)``."""
    vy, vx, active = coeffs                                         # (B,K,V)
    cy = 0.5 * (tf.reduce_min(vy, -1) + tf.reduce_max(vy, -1))
    y = _row_window(cy, max_radius)                                 # (B,K,J)
    py, px = vy[:, :, None, :], vx[:, :, None, :]                   # (B,K,1,V)
    ey = tf.roll(vy, -1, axis=2)[:, :, None, :] - py
    ex = tf.roll(vx, -1, axis=2)[:, :, None, :] - px
    dy = y[..., None] - py                                          # (B,K,J,V)
    flat = tf.equal(ey, 0.0)
    t = px + ex * dy / tf.where(flat, 1.0, ey)
    inf = tf.constant(float("inf"))
    lower = tf.reduce_max(tf.where(ey < 0.0, t, -inf), axis=-1)
    upper = tf.reduce_min(tf.where(ey > 0.0, t, inf), axis=-1)
    # a closed polygon bounds every row it meets from both sides (a degenerate one with all
    # vertices on one row would otherwise fill that row)
    rows_ok = (tf.reduce_all(tf.logical_not(flat) | (ex * dy >= 0.0), axis=-1)
               & (lower > -inf) & (upper < inf))
    wf = tf.cast(width, tf.float32)
    x0 = tf.math.ceil(tf.clip_by_value(lower, -1.0, wf + 1.0))
    x1 = tf.floor(tf.clip_by_value(upper, -1.0, wf + 1.0)) + 1.0
    return _marks(height, width, y, x0, x1, active[..., None] & rows_ok)


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
