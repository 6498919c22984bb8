"""Face-range normalisation and the paper's 16-bit / 65535-hole convention (section IV-J).

Schlett, Rathgeb, Busch, section IV-J (RealSense D435 samples): "the depth is normalized for a
25cm range starting at the closest detected depth value in the ROI" (:func:`normalize_face_depth`,
:data:`FACE_RANGE_MM`), and "while hole-pixels in RealSense depth output is represented with the
value 0, the deep learning enhancers expect holes to be represented by the maximum value - i.e.
2^16 - 1 = 65535" (:func:`to_paper_convention`, :func:`to_uint16` and their inverses). These are
the only places where the paper's hole convention is applied; everything else uses 0 = hole.
"""

from __future__ import annotations

import tensorflow as tf

from data_pipelines.degradation._checks import _as_batch, _hole_arg, _nearest, _require_face


FACE_RANGE_MM = 250.0           # section IV-J: "a 25 cm range starting at the closest depth value"
# Section IV-J hole codes (holes are the maximum 16-bit value): one home,
# data_pipelines.conventions (re-exported for callers).
from data_pipelines.conventions import (PAPER_HOLE_CODE, UNIT_HOLE,  # noqa: F401,E402
                                        VALID_MAX_CODE, VALID_MAX_NORMALISED)


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
