"""Exact rasterisation of filled ellipses: the "Hole Depth Rendering" box of Fig. 5.

Schlett, Rathgeb, Busch, section III-B: "the shapes of both variants are combined to render them
in a single step on the GPU". Every hole ellipse of a batch becomes closed-form row intervals
(:func:`_ellipse_coeffs`, :func:`_interval_marks`), +1/-1 marks in one difference array and a
running sum along x (:func:`_cover`, :func:`_cumsum_last`): exact on the pixel grid, no polygon.
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
