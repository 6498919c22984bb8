"""Blur of non-hole pixels only (Schlett, Rathgeb, Busch, sec. III-B, Fig. 5 step 3 "Depth Blur").

"The degradation synthesis approximates this lack of detail by blurring the non-hole depth
pixels of the image, which means that in a sub-process the depth values are averaged over a
certain area per pixel." Implemented as a normalised box convolution (holes never contribute,
stay 0), two passes of shifted-slice sums with int8 counts (:func:`_blur_rows`,
:func:`_blur_cols`); :func:`_normalised_blur` is the one-pass form the helpers reuse.
"""

from __future__ import annotations

import tensorflow as tf

from data_pipelines.degradation._checks import _as_batch, _check_kernel


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


def blur_valid(depth, kernel_size=5):
    """Blur of non-hole pixels only (section III-B: "averaged over an area per pixel").

    Normalised convolution with a ``kernel_size`` square box: each valid pixel becomes the mean of
    the valid pixels in its window (sum of valid neighbours / count of valid neighbours). Hole
    pixels (0) stay exactly 0 and never contribute; pixels outside the image do not count.
    """
    _check_kernel(kernel_size, "blur_valid: kernel_size")
    x, restore, _ = _as_batch(depth)
    return restore(_blur_positive(x, int(kernel_size)))
