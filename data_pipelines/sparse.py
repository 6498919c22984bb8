"""Sparse depth sampling and the RGB + sparse depth tf.data pipeline (sparse-to-dense).

``sample_sparse_depth``: a Bernoulli mask with p = n / m over the m *valid* ground-truth
pixels (depth finite and > 0), n the wanted number of samples (``UniformSampling`` of
sparse-to-dense.pytorch; the Torch code used p = n / (H W) over all 228x304
pixels, after augmentation). Stateless: the mask is a pure function of (depth, n, seed). The expected count is
exactly n when n <= m (p is clipped to 1, so with n > m every valid pixel is taken). Invalid
pixels (0, NaN, inf) never carry a sample; they are 0 in the sparse map.

``rgbd_dataset``: training / evaluation streams. Every random choice (scale, crop, flip,
colour jitter, the sparse mask) is a stateless op seeded by (seed, global read index), so
the mask is redrawn at every read of an example (each epoch sees new samples), the same
seed reproduces the stream, and a resumed run (``start_index``) sees what an uninterrupted
run would. Augmentation follows the Torch NYU loader (``nyudepthv2`` dataloader): scale s ~ U[1,
1.5] (RGB bilinear, depth nearest so holes do not spread, depth / s), random crop, horizontal
flip p = 0.5, brightness / contrast / saturation jitter 0.4; the +-5 degree rotation is left
out (BUILD_NOTES.md). Sampling happens after augmentation, as in the paper.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
_SPARSE_SALT, _AUG_SALT = 7, 11


def valid_depth_mask(depth) -> tf.Tensor:
    """Valid ground truth: finite and > 0 (0 = hole, NaN/inf = unknown, e.g. Middlebury)."""
    depth = tf.cast(depth, tf.float32)
    return tf.math.is_finite(depth) & (depth > 0)


def sample_sparse_depth(depth, num_samples: int, seed, valid=None) -> Tuple[tf.Tensor, tf.Tensor]:
    """Bernoulli sparse samples of one depth map (H, W) or (H, W, 1) (float, metres).

    p = min(1, n / m), m = number of valid pixels (``valid`` or ``valid_depth_mask``). Returns
    ``(sparse, mask)``: ``sparse`` float32 like ``depth`` with the sampled values and 0
    elsewhere (invalid pixels are always 0), ``mask`` the bool sample mask. ``seed`` is a
    shape-[2] int tensor for ``tf.random.stateless_uniform``. ``num_samples`` 0 -> all zeros.
    """
    if int(num_samples) < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    depth = tf.cast(depth, tf.float32)
    valid = valid_depth_mask(depth) if valid is None else tf.cast(valid, tf.bool)
    if valid.shape.rank is not None and depth.shape.rank is not None and valid.shape != depth.shape:
        raise ValueError(f"sample_sparse_depth: valid mask shape {valid.shape} != depth shape "
                         f"{depth.shape}")
    valid = valid & valid_depth_mask(depth)
    m = tf.reduce_sum(tf.cast(valid, tf.float32))
    p = tf.minimum(1.0, tf.math.divide_no_nan(float(num_samples), m))
    u = tf.random.stateless_uniform(tf.shape(depth), seed=seed, dtype=tf.float32)
    mask = valid & (u < p)
    return tf.where(mask, depth, 0.0), mask


def example_seed(seed: int, index) -> tf.Tensor:
    """Shape-[2] stateless seed of read ``index`` of a stream with base ``seed``."""
    return tf.stack([tf.constant(int(seed), tf.int64), tf.cast(index, tf.int64)])


def _augment(rgb, depth, crop_hw, seed, scale_range=(1.0, 1.5), jitter=0.4):
    """Scale -> crop -> flip -> colour jitter (the Torch NYU loader's, no rotation)."""
    h, w = crop_hw
    s = tf.random.stateless_uniform([], seed, scale_range[0], scale_range[1])
    src = tf.cast(tf.shape(depth)[:2], tf.float32)
    new = tf.cast(tf.math.ceil(src * s), tf.int32)
    new = tf.maximum(new, tf.constant([h, w], tf.int32))
    rgb = tf.image.resize(tf.cast(rgb, tf.float32), new, method="bilinear")
    depth = tf.image.resize(depth, new, method="nearest") / s
    stacked = tf.concat([rgb, depth], -1)
    stacked = tf.image.stateless_random_crop(stacked, [h, w, 4], seed=seed + [0, 1])
    flip = tf.random.stateless_uniform([], seed + [0, 2]) < 0.5
    stacked = tf.cond(flip, lambda: tf.image.flip_left_right(stacked), lambda: stacked)
    rgb, depth = stacked[..., :3] / 255.0, stacked[..., 3:]
    if jitter:
        # Brightness / contrast / saturation factors in [1 - j, 1 + j] (the Torch ColorJitter).
        rgb = rgb * tf.random.stateless_uniform([], seed + [0, 3], 1 - jitter, 1 + jitter)
        mean = tf.reduce_mean(rgb)
        rgb = (rgb - mean) * tf.random.stateless_uniform([], seed + [0, 4], 1 - jitter, 1 + jitter) + mean
        grey = tf.image.rgb_to_grayscale(tf.clip_by_value(rgb, 0.0, 1.0))
        rgb = (rgb - grey) * tf.random.stateless_uniform([], seed + [0, 5], 1 - jitter, 1 + jitter) + grey
    rgb = tf.cast(tf.round(tf.clip_by_value(rgb, 0.0, 1.0) * 255.0), tf.uint8)
    return rgb, depth


def _center_crop(rgb, depth, crop_hw):
    h, w = crop_hw
    H, W = tf.shape(depth)[0], tf.shape(depth)[1]
    y0, x0 = (H - h) // 2, (W - w) // 2
    return rgb[y0:y0 + h, x0:x0 + w], depth[y0:y0 + h, x0:x0 + w]


def rgbd_dataset(rgb: np.ndarray, depth: np.ndarray, num_samples: int, batch_size: int,
                 crop_hw: Tuple[int, int], seed: int = 0, training: bool = True,
                 start_index: int = 0, output_hw: Optional[Tuple[int, int]] = None) -> tf.data.Dataset:
    """Batches of ``{'rgb' uint8, 'sparse' metres, 'depth' metres, 'valid' bool}`` from arrays.

    ``rgb`` (N, H, W, 3) uint8 and ``depth`` (N, H, W) float metres (0 / NaN / inf invalid:
    NaN and inf are masked, i.e. become 0 and invalid, before anything else). ``training``:
    an endless stream with augmentation; read ``i`` uses image ``perm_e(i mod N)`` (a
    stateless permutation per pass e) and seed (seed, i). Otherwise one pass over centre
    crops with the sparse mask seeded by (seed, image index), i.e. a fixed evaluation set.
    ``output_hw``: size of the returned ground truth (the stage-1 output; default
    ``crop_hw``), resized nearest.
    """
    rgb, depth = np.asarray(rgb), np.asarray(depth, np.float32)
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must be (N, H, W, 3), got shape {rgb.shape}")
    if depth.ndim == 4 and depth.shape[-1] == 1:
        depth = depth[..., 0]
    if depth.shape != rgb.shape[:3]:
        raise ValueError(f"depth shape {depth.shape} does not match rgb shape {rgb.shape[:3]}")
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    images, depths = tf.constant(rgb), tf.constant(depth[..., None])
    return _stream(lambda k: (tf.gather(images, k), tf.gather(depths, k)), rgb.shape[0],
                   rgb.shape[1:3], num_samples, batch_size, crop_hw, seed, training,
                   start_index, output_hw)


def rgbd_dataset_from_loader(load: Callable[[int], Tuple[np.ndarray, np.ndarray]],
                             num_images: int, frame_hw: Tuple[int, int], num_samples: int,
                             batch_size: int, crop_hw: Tuple[int, int], seed: int = 0,
                             training: bool = True, start_index: int = 0,
                             output_hw: Optional[Tuple[int, int]] = None) -> tf.data.Dataset:
    """As :func:`rgbd_dataset`, but frame ``k`` is read by ``load(k)`` -> (rgb uint8 (H, W, 3),
    depth float32 metres (H, W), 0 = invalid) inside the pipeline (``tf.numpy_function``), so
    a large dataset (sparse-to-dense's 47,584 training frames) is never held in memory."""
    h, w = (int(v) for v in frame_hw)

    def read(k):
        def py(i):
            rgb, depth = load(int(i))
            if rgb.shape != (h, w, 3) or depth.shape != (h, w):
                raise ValueError(f"frame {int(i)}: rgb {rgb.shape} / depth {depth.shape}, "
                                 f"expected ({h}, {w}, 3) / ({h}, {w})")
            depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
            return rgb.astype(np.uint8), depth.astype(np.float32)[..., None]

        rgb, depth = tf.numpy_function(py, [k], [tf.uint8, tf.float32], stateful=False)
        return tf.ensure_shape(rgb, [h, w, 3]), tf.ensure_shape(depth, [h, w, 1])

    return _stream(read, int(num_images), (h, w), num_samples, batch_size, crop_hw, seed,
                   training, start_index, output_hw)


def _stream(get, n_images, frame_hw, num_samples, batch_size, crop_hw, seed, training,
            start_index, output_hw) -> tf.data.Dataset:
    h, w = (int(v) for v in crop_hw)
    if h > frame_hw[0] or w > frame_hw[1]:
        raise ValueError(f"crop {crop_hw} is larger than the images {tuple(frame_hw)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n_images < 1:
        raise ValueError("no images")
    out_hw = tuple(output_hw or (h, w))

    def finish(rgb_c, depth_c, s):
        sparse, _ = sample_sparse_depth(depth_c, num_samples, s + [0, _SPARSE_SALT])
        gt = depth_c if out_hw == (h, w) else tf.image.resize(depth_c, out_hw, method="nearest")
        rgb_c = tf.ensure_shape(tf.cast(rgb_c, tf.uint8), [h, w, 3])
        return {"rgb": rgb_c, "sparse": tf.ensure_shape(sparse, [h, w, 1]),
                "depth": tf.ensure_shape(gt, list(out_hw) + [1]),
                "valid": tf.ensure_shape(gt > 0, list(out_hw) + [1])}

    if training:
        def read(i):
            s = example_seed(seed, i)
            # Image order: a stateless permutation per pass over the data.
            epoch, pos = i // n_images, i % n_images
            keys = tf.random.stateless_uniform([n_images], example_seed(seed + 1, epoch))
            rgb_k, depth_k = get(tf.argsort(keys)[pos])
            rgb_a, depth_a = _augment(rgb_k, depth_k, (h, w), s + [0, _AUG_SALT])
            return finish(rgb_a, depth_a, s)

        ds = tf.data.Dataset.counter(start=int(start_index)).map(read, num_parallel_calls=AUTOTUNE)
        return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)

    def read_eval(k):
        rgb_k, depth_k = get(k)
        rgb_c, depth_c = _center_crop(rgb_k, depth_k, (h, w))
        return finish(rgb_c, depth_c, example_seed(seed, k))

    ds = tf.data.Dataset.range(n_images).map(read_eval, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
