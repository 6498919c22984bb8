"""Unpaired RGB stream (TS-GAN student / CycleGAN domains) and the teacher-student zip.

Uses the same index stream as ``paired.py``: element ``i`` depends only on ``(seed, i)``, so
resuming at a step is exact. The unpaired seed is offset from the paired one so that the two
domains are shuffled independently (as in the original code's separate pipelines).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from data_pipelines import framing_jitter
from data_pipelines.paired import AUTOTUNE, epoch_index_stream, resize_rgb

UNPAIRED_SEED_OFFSET = 7919


def rgb_array_from_examples(examples, image_size: int, limit=None) -> np.ndarray:
    """Collects the ``rgb`` of each example dict into a uint8 (N, size, size, 3) array."""
    out = []
    for i, ex in enumerate(examples):
        if limit is not None and i >= limit:
            break
        out.append(resize_rgb(np.asarray(ex["rgb"]), image_size))
    if not out:
        raise ValueError("rgb_array_from_examples: the source yielded no examples")
    return np.stack(out)


def make_unpaired_dataset(rgb: np.ndarray, batch_size: int, seed: int = 0, training: bool = True,
                          start_index: int = 0, key: str = "target_rgb",
                          framing_shift: float = 0.0,
                          framing_log_zoom: float = 0.0) -> tf.data.Dataset:
    """Batched ``{key: RGB in [-1, 1]}``, shuffled per epoch and flipped when training, and
    reframed (``framing_jitter.jitter_rgb``) when ``framing_shift`` / ``framing_log_zoom`` > 0."""
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"make_unpaired_dataset: rgb must be uint8 (N,H,W,3), got "
                         f"{rgb.dtype} {rgb.shape}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    framing_jitter.check_ranges(framing_shift, framing_log_zoom, "make_unpaired_dataset")
    seed = int(seed) + UNPAIRED_SEED_OFFSET
    rgb_all = tf.constant(rgb)

    def load(global_index, idx):
        x = tf.cast(tf.gather(rgb_all, idx), tf.float32) / 127.5 - 1.0
        if training:
            ex_seed = tf.stack([tf.cast(seed, tf.int64), global_index])
            x = tf.image.stateless_random_flip_left_right(x, ex_seed)
            if framing_shift > 0 or framing_log_zoom > 0:
                x = framing_jitter.jitter_rgb(
                    x, tf.random.experimental.stateless_fold_in(ex_seed, 3), framing_shift,
                    framing_log_zoom)
        return {key: x}

    ds = epoch_index_stream(len(rgb), seed, shuffle=training, start_index=start_index)
    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def zip_streams(*datasets: tf.data.Dataset) -> tf.data.Dataset:
    """Zips dict streams into one dict per batch (e.g. paired source + unpaired target)."""

    def merge(*dicts):
        out = {}
        for d in dicts:
            clash = set(out) & set(d)
            if clash:
                raise ValueError(f"zip_streams: key(s) {sorted(clash)} appear in two streams")
            out.update(d)
        return out

    return tf.data.Dataset.zip(tuple(datasets)).map(merge).prefetch(AUTOTUNE)
