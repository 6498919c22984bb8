"""Depth conventions, hole codes and the gray conversion: each defined here once.

The lowest layer both ``data_pipelines`` and ``depthlab`` import (DESIGN.md: code imports
downward only), so every reader, model, metric and exporter takes these from here.

Hole codes
- ``SDK_HOLE_CODE`` (0): the RealSense SDK's and this library's hole (``depth > 0`` = valid).
- ``PAPER_HOLE_CODE`` (65535): Schlett et al. section IV-J, "holes are set to the maximum
  value" of the 16-bit image; valid face-window codes are 0 .. ``VALID_MAX_CODE`` (65534).
  Normalised depth is ``code / PAPER_HOLE_CODE``, so a hole is ``UNIT_HOLE`` (1.0) there.

Ranges
- ``tanh_depth_to_unit``: a tanh network's [-1, 1] depth (first channel) -> [0, 1] (TS-GAN
  G_A2B, CycleGAN-depth G1, the exported generator).

Framing jitter bounds
- ``FRAMING_SHIFT_MAX``, ``FRAMING_LOG_ZOOM_MAX``: the largest random shift (fraction of the
  image size, per axis) and log zoom of ``framing_jitter``; ``TSGANConfig`` and
  ``--config_override`` check against the same two numbers.

Gray
- ``BT601_LUMA``, ``rgb_to_gray3``: ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B,
  replicated to 3 channels (CycleGAN-depth's gray input, TS-GAN Figure 4's gray RGB).
"""

from __future__ import annotations

# TensorFlow is imported inside the functions: the constants are also read by the NumPy-only
# procedural generator (``synthetic_faces``), which stays importable without TF.

#: The largest uint16 value (depth in mm must fit below it; the paper's hole code).
UINT16_MAX = 65535
#: The RealSense SDK's hole (and the house convention: 0 = no depth).
SDK_HOLE_CODE = 0
#: Schlett et al. section IV-J: holes are the maximum 16-bit value.
PAPER_HOLE_CODE = UINT16_MAX
#: The largest code of a valid pixel in the paper's 16-bit face images.
VALID_MAX_CODE = PAPER_HOLE_CODE - 1
#: The largest normalised value of a valid pixel (65534 / 65535).
VALID_MAX_NORMALISED = VALID_MAX_CODE / PAPER_HOLE_CODE
#: A hole in normalised [0, 1] depth (the network convention): 65535 / 65535.
UNIT_HOLE = 1.0

#: Largest ``framing_shift`` (fraction of the image size, per axis) of ``framing_jitter``.
FRAMING_SHIFT_MAX = 0.25
#: Largest ``framing_log_zoom`` (zoom within exp(+-0.5)) of ``framing_jitter``.
FRAMING_LOG_ZOOM_MAX = 0.5

#: ITU-R BT.601 luma weights of R, G, B.
BT601_LUMA = (0.299, 0.587, 0.114)


def rgb_to_gray3(x):
    """(.., 3) RGB -> BT.601 luma replicated to 3 channels (float32, same range as x)."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    gray = tf.reduce_sum(x * tf.constant(BT601_LUMA, tf.float32), -1, keepdims=True)
    return tf.concat([gray, gray, gray], -1)


def tanh_depth_to_unit(output, clip: bool = False):
    """[-1, 1] network depth (first channel) -> [0, 1] float32: ``(x + 1) / 2``, clipped to
    [0, 1] when ``clip``."""
    import tensorflow as tf

    unit = (tf.cast(output[..., :1], tf.float32) + 1.0) * 0.5
    return tf.clip_by_value(unit, 0.0, 1.0) if clip else unit
