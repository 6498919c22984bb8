"""Input handling shared by every degradation stage: shapes, masks and argument checks.

Depth is float32 millimetres with 0 = hole (RealSense SDK convention), one image ``(H, W)``, a
batch ``(B, H, W)`` or ``(B, H, W, 1)``; every stage works on ``(B, H, W)`` internally and
restores the caller's shape (:func:`_as_batch`). Face-depth enhancement paper (Schlett, Rathgeb,
Busch), section III-B: "The image format ... remains identical to that of the ground truth input
images throughout the process".
"""

from __future__ import annotations

from typing import Tuple

import tensorflow as tf


Range = Tuple[float, float]


def _check_kernel(k, name):
    if int(k) != k or k < 1 or k % 2 == 0:
        raise ValueError(f"{name} must be an odd positive integer, got {k}")


def _check_range(r, name, positive=False):
    if len(r) != 2 or r[0] > r[1] or (positive and r[0] <= 0):
        raise ValueError(f"{name} must be (lo, hi) with {'0 < ' if positive else ''}lo <= hi, "
                         f"got {r}")


def _as_batch(depth, name="depth"):
    """(H,W) | (B,H,W) | (B,H,W,1) floating -> ((B,H,W) float32, restore, is_single)."""
    x = tf.convert_to_tensor(depth)
    rank = x.shape.rank
    shape = x.shape.as_list() if rank is not None else "unknown rank"
    if not x.dtype.is_floating:
        raise TypeError(f"{name} must be a floating tensor (float32 depth), got {x.dtype.name} "
                        f"with shape {shape}; cast it first, e.g. tf.cast({name}, tf.float32)")
    if rank in (2, 3, 4):
        height_width = shape[:2] if rank == 2 else shape[1:3]
        if 0 in height_width:
            raise ValueError(f"{name} has a zero-size image: shape {shape}")
    if tf.executing_eagerly() and rank in (2, 3, 4):
        _check_values(x, name, shape)
    if rank == 2:
        return tf.cast(x, tf.float32)[None], (lambda y: y[0]), True
    if rank == 3:
        return tf.cast(x, tf.float32), (lambda y: y), False
    if rank == 4 and x.shape[-1] == 1:
        return tf.cast(x[..., 0], tf.float32), (lambda y: y[..., None]), False
    raise ValueError(f"{name} must have shape (H, W), (B, H, W) or (B, H, W, 1), got {shape}")


def _check_values(x, name, shape) -> None:
    """Eager calls (the public entry points): depth must be finite and >= 0 (0 = hole) - NaN
    would spread through the blur, inf survive the noise, negative depth turn into holes
    silently. In graphs (the tf.data pipeline, fed by the renderer) no check is made: XLA has no
    Assert op."""
    values = tf.cast(x, tf.float32)
    bad = int(tf.reduce_sum(tf.cast(~tf.math.is_finite(values), tf.int32)))
    if bad:
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN/inf) in shape {shape}; "
                         "depth must be finite millimetres with 0 = hole")
    negative = int(tf.reduce_sum(tf.cast(values < 0, tf.int32)))
    if negative:
        raise ValueError(f"{name} holds {negative} negative value(s) in shape {shape}; depth "
                         "must be >= 0 millimetres (0 = hole)")


def _spatial(x):
    """(H, W) of a (B,H,W) tensor: Python ints when static, else a tensor."""
    if x.shape[1] is not None and x.shape[2] is not None:
        return int(x.shape[1]), int(x.shape[2])
    return tf.shape(x)[1], tf.shape(x)[2]


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
