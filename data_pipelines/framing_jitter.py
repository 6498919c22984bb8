"""Random framing: one zoom and shift per example, applied alike to RGB, depth and mask.

Face crops from a detector are not framed alike: the face's centre and size wander by several
per cent of the crop from photograph to photograph. The embedded faces are framed tightly
(``synthetic_faces.FaceConfig``: shift 4 %, size 12 %), so a generator trained on them can
place one face template by its position in the frame instead of finding the face's features,
and a photograph framed a few pixels differently then gets the template in the wrong place
(BUILD_NOTES, "Faces v4 and framing jitter"). This is the "random crop" of the TS-GAN code
(``load_size`` > ``crop_size``, a random shift; a no-op at its defaults, 128 = 128) with a
random zoom added.

Each example draws ``log zoom ~ U(-max_log_zoom, max_log_zoom)`` and a shift ``~ U(-max_shift,
max_shift)`` of the image's width (x) and height (y) from a stateless seed, so the stream stays
a pure function of ``(seed, element index)``. Output column ``x`` reads input column
``(x - c) / zoom + c - shift x width`` with ``c = (width - 1) / 2``, the centre of the middle
pixel(s), and rows alike: zoom > 1 enlarges the face about the centre, a positive shift moves
it right / down. RGB is interpolated bilinearly and padded by its edge pixels; depth and the valid mask are read at the nearest pixel (a hole never blends
into valid depth) and are invalid (``depth_fill``, mask 0) where the output falls outside the
input, so no loss is taken there.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import tensorflow as tf

from data_pipelines.conventions import FRAMING_LOG_ZOOM_MAX, FRAMING_SHIFT_MAX


def check_ranges(max_shift: float, max_log_zoom: float, caller: str) -> None:
    """Raises ValueError naming ``caller`` unless 0 <= max_shift <= ``FRAMING_SHIFT_MAX`` and
    0 <= max_log_zoom <= ``FRAMING_LOG_ZOOM_MAX`` (``data_pipelines.conventions``)."""
    if not 0.0 <= float(max_shift) <= FRAMING_SHIFT_MAX:
        raise ValueError(f"{caller}: framing_shift must be in [0, {FRAMING_SHIFT_MAX}], got "
                         f"{max_shift}")
    if not 0.0 <= float(max_log_zoom) <= FRAMING_LOG_ZOOM_MAX:
        raise ValueError(f"{caller}: framing_log_zoom must be in [0, {FRAMING_LOG_ZOOM_MAX}], "
                         f"got {max_log_zoom}")


def draw_framing(seed, max_shift: float, max_log_zoom: float) -> Tuple[tf.Tensor, tf.Tensor]:
    """(zoom scalar, shift (2,) as a fraction of the image size, x then y) from a stateless
    ``seed`` (shape-[2] int)."""
    u = tf.random.stateless_uniform([3], seed, minval=-1.0, maxval=1.0, dtype=tf.float32)
    return tf.exp(u[0] * max_log_zoom), u[1:] * max_shift


def framing_transform(zoom, shift, width, height=None) -> tf.Tensor:
    """The (1, 8) projective transform (output pixel -> input pixel) of ``zoom`` about the
    image centre and ``shift`` (x as a fraction of ``width``, y of ``height``; a square image
    when ``height`` is None)."""
    width = tf.cast(width, tf.float32)
    height = width if height is None else tf.cast(height, tf.float32)
    inv = 1.0 / zoom
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    tx = cx - cx * inv - shift[0] * width
    ty = cy - cy * inv - shift[1] * height
    zero = tf.zeros_like(inv)
    return tf.reshape(tf.stack([inv, zero, tx, zero, inv, ty, zero, zero]), [1, 8])


def warp(image, transform, interpolation: str, fill_mode: str, fill_value: float = 0.0):
    """``image`` (H, W, C) float resampled by ``transform`` (1, 8)."""
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform, output_shape=tf.shape(image)[:2],
        fill_value=tf.constant(fill_value, tf.float32), interpolation=interpolation,
        fill_mode=fill_mode)
    return out[0]


def jitter_rgb(rgb, seed, max_shift: float, max_log_zoom: float):
    """One RGB image (H, W, 3) float, reframed (bilinear, edge padding)."""
    zoom, shift = draw_framing(seed, max_shift, max_log_zoom)
    t = framing_transform(zoom, shift, tf.shape(rgb)[1], tf.shape(rgb)[0])
    return warp(rgb, t, "BILINEAR", "NEAREST")


def jitter_rgbd(rgb, depth, mask, seed, max_shift: float, max_log_zoom: float,
                depth_fill: float = -1.0) -> Sequence[tf.Tensor]:
    """(rgb, depth, mask) of one example, reframed alike: RGB bilinear with edge padding,
    depth and mask nearest, ``depth_fill`` and mask 0 outside the input."""
    zoom, shift = draw_framing(seed, max_shift, max_log_zoom)
    t = framing_transform(zoom, shift, tf.shape(rgb)[1], tf.shape(rgb)[0])
    return (warp(rgb, t, "BILINEAR", "NEAREST"),
            warp(depth, t, "NEAREST", "CONSTANT", depth_fill),
            warp(mask, t, "NEAREST", "CONSTANT", 0.0))
