"""Per-pixel depth noise on non-hole pixels (Schlett, Rathgeb, Busch, section III-B, Fig. 5 step 2).

"Next, random noise is added to (or subtracted from) each remaining non-hole pixel's depth
value ... For the synthesis we choose a 15mm error, which corresponds to real measured error
values for the RealSense D435 in [68] at 2.0m." The distribution is not given: Gaussian by
default, uniform with the same standard deviation as an option. One hash per pixel
(:func:`_noise`), a polynomial log under XLA (:func:`_log_positive`) and a polynomial sine
(:func:`_sin_half_turn`), so the plain graph and XLA agree to float32 rounding.
"""

from __future__ import annotations

import math

import tensorflow as tf

from data_pipelines.degradation._checks import _as_batch, _spatial
from data_pipelines.degradation.config import _cfg
from data_pipelines.degradation.seeds import (PART_NOISE, _bits, _check_seed, _part_keys,
                                              _seed_rows, _u32)


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


def _apply_noise(x, noise, sigma, min_depth):
    valid = x > 0
    return tf.where(valid, tf.maximum(x + sigma * noise, min_depth), 0.0)


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
