"""The degradation benchmark's two sides, shared by ``bench_degradation`` and ``run`` (no flags):
the single-threaded per-image NumPy/OpenCV reference and the tf.data stream that training
pulls (see ``bench_degradation``'s docstring for what each does)."""

from __future__ import annotations

import numpy as np


def degradation_stream(x, seed, cfg, batches_per_call: int, parallel_calls: int):
    """The degradation as training runs it, for timing: tf.data maps ``make_degradation_fn``
    over an endless stream of batches of ``x`` (batch i seeded ``(seed_word(seed), i * B + j)``,
    so batch 0 equals one ``degrade(x, example_seeds(seed, B))`` call), ``parallel_calls`` at a
    time, through ONE long-lived iterator, as an epoch of training pulls them. Returns
    ``(pull, first_batch)``: ``pull()`` takes the next ``batches_per_call`` batches in steady
    state (the iterator's start-up, ~0.2-0.3 s once per epoch, is not in it; callers' warm-up
    calls absorb the <= parallel_calls + 1 batches computed ahead while other things were
    timed) and returns the last as NumPy; ``first_batch()`` is batch 0 from a fresh stream."""
    import tensorflow as tf

    from data_pipelines import degradation as dg

    fn = dg.make_degradation_fn(cfg)
    word = dg.seed_word(seed)
    b = int(x.shape[0])

    def stream_of(n):
        return tf.data.Dataset.range(n).map(
            lambda i: fn(x, dg.index_seeds(word, i * b + tf.range(b, dtype=tf.int64))),
            num_parallel_calls=parallel_calls, deterministic=True).prefetch(1)

    endless = iter(stream_of(2 ** 62))

    def pull():
        for _ in range(batches_per_call):
            out = next(endless)
        return tuple(t.numpy() for t in out)

    return pull, lambda: tuple(t.numpy() for t in next(iter(stream_of(1))))


def reference_degrade(depth, rng, cfg):
    """One image, NumPy/OpenCV: holes (outline + random) -> noise -> normalised blur."""
    import cv2

    h, w = depth.shape
    valid = (depth > 0).astype(np.uint8)
    eroded = cv2.erode(valid, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                       borderValue=1)
    ys, xs = np.nonzero(valid & (1 - eroded))
    holes = np.zeros((h, w), np.uint8)

    def draw(cx, cy, size_range, count):
        a = rng.uniform(*size_range, count)
        b = a * rng.uniform(*cfg.aspect_range, count)
        ang = rng.uniform(*cfg.angle_range, count)
        for i in range(count):   # shift=4: sub-pixel centre and axes (1/16 px)
            if cfg.hole_shape == "ellipse":
                cv2.ellipse(holes, (int(round(cx[i] * 16)), int(round(cy[i] * 16))),
                            (int(round(a[i] * 16)), int(round(b[i] * 16))),
                            float(np.degrees(ang[i])), 0, 360, 1, -1, cv2.LINE_8, 4)
                continue
            # the random convex polygon on that ellipse (data_pipelines.degradation.vertices)
            n = rng.integers(cfg.vertex_count_range[0], cfg.vertex_count_range[1] + 1)
            phi = 2 * np.pi * (np.arange(n) + cfg.vertex_jitter * rng.random(n)) / n
            u, v = a[i] * np.cos(phi), b[i] * np.sin(phi)
            c, s = np.cos(ang[i]), np.sin(ang[i])
            pts = np.stack([cx[i] + u * c - v * s, cy[i] + u * s + v * c], -1)
            cv2.fillConvexPoly(holes, np.round(pts * 16).astype(np.int32), 1, cv2.LINE_8, 4)

    if cfg.outline_region_width > 1:      # the outline region: a band of that width
        k = 2 * cfg.outline_region_width + 1
        eroded = cv2.erode(valid, np.ones((k, k), np.uint8), borderType=cv2.BORDER_CONSTANT,
                           borderValue=1)
        ys, xs = np.nonzero(valid & (1 - eroded))
    if cfg.outline_holes and len(ys):
        n = rng.integers(cfg.outline_count_range[0], cfg.outline_count_range[1] + 1)
        pick = rng.integers(0, len(ys), n)
        draw(xs[pick], ys[pick], cfg.outline_size_range, n)
    if cfg.random_holes:
        n = rng.integers(cfg.random_count_range[0], cfg.random_count_range[1] + 1)
        draw(rng.uniform(-0.5, w - 0.5, n), rng.uniform(-0.5, h - 0.5, n), cfg.random_size_range,
             n)
    out = np.where(holes > 0, 0.0, depth).astype(np.float32)
    v = out > 0
    if cfg.noise:
        out[v] = np.maximum(out[v] + rng.normal(0.0, cfg.noise_sigma_mm, int(v.sum())),
                            cfg.min_depth_mm)
    if cfg.blur:
        k = (cfg.blur_kernel_size, cfg.blur_kernel_size)
        num = cv2.boxFilter(out, -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
        den = cv2.boxFilter(v.astype(np.float32), -1, k, normalize=False,
                            borderType=cv2.BORDER_CONSTANT)
        out = np.where(v, num / np.maximum(den, 1.0), 0.0).astype(np.float32)
    return out, ~v
