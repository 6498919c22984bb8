"""Paired RGB-D tf.data pipeline (TS-GAN teacher stream; reused by every paired trainer).

Design (the authors' TS-GAN ``data.py``; tf.data practice for RGB-D pipelines):
- Decode and resize once (RGB bilinear, depth NEAREST so holes never blend into valid depth)
  into in-memory uint8/uint16 arrays: the "cache before random augmentation" step.
- Element ``i`` of the stream is a pure function of ``(seed, i)``: epoch ``e = i // N`` reads
  a stateless permutation of the N examples seeded by ``(seed, e)``, and the augmentation of
  element ``i`` is seeded by ``(seed, i)``. A run resumed at global step ``s`` builds the
  stream with ``start_index = s * batch_size`` and sees exactly what it would have seen.
- Geometric augmentation (horizontal flip; optionally a random zoom and shift,
  ``data_pipelines.framing_jitter``) is applied to RGB, depth and mask together. The original
  code flips RGB and depth independently; ``reproduce_flip_bug=True`` does that.
- Landmark heat maps (``data_pipelines.landmark_heatmaps``; the optional landmark head of
  G_A2B, not TS-GAN's) ride through the same flip and warp as image channels.

Convention: this module hands out RGB in [-1, 1] (B,H,W,3), depth in [-1, 1] (B,H,W,1) and a
float {0,1} valid mask (B,H,W,1). ``tsgan_depth_to_unit`` is the one place raw depth becomes
TS-GAN's [0, 1] depth image.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

import numpy as np
import tensorflow as tf

from data_pipelines import framing_jitter
from data_pipelines.landmark_heatmaps import landmark_heatmaps

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_FACE_RANGE_MM = 250.0


@dataclasses.dataclass
class PairedArrays:
    """Decoded, resized examples held in memory (uint8 RGB, uint8/uint16 depth, 0 = hole)."""

    rgb: np.ndarray                       # (N, H, W, 3) uint8
    depth: np.ndarray                     # (N, H, W) uint8 or uint16; 0 = hole
    labels: Optional[np.ndarray] = None   # (N,) int64 identity labels, if known
    heatmaps: Optional[np.ndarray] = None  # (N, H, W, K) uint8 landmark heat maps x 255

    def __post_init__(self):
        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"PairedArrays.rgb must be uint8 (N,H,W,3), got {self.rgb.dtype} "
                             f"{self.rgb.shape}")
        if self.depth.ndim != 3 or self.depth.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"PairedArrays.depth must be uint8/uint16 (N,H,W), got "
                             f"{self.depth.dtype} {self.depth.shape}")
        if self.depth.shape != self.rgb.shape[:3]:
            raise ValueError(f"PairedArrays: rgb {self.rgb.shape} and depth {self.depth.shape} "
                             "disagree in N, H or W")
        if len(self.rgb) == 0:
            raise ValueError("PairedArrays: no examples")
        if self.heatmaps is not None and (self.heatmaps.dtype != np.uint8
                                          or self.heatmaps.ndim != 4
                                          or self.heatmaps.shape[:3] != self.rgb.shape[:3]):
            raise ValueError(f"PairedArrays.heatmaps must be uint8 (N,H,W,K) matching rgb "
                             f"{self.rgb.shape[:3]}, got {self.heatmaps.dtype} "
                             f"{self.heatmaps.shape}")

    def __len__(self):
        return len(self.rgb)

    @property
    def depth_bits(self) -> int:
        return 16 if self.depth.dtype == np.uint16 else 8


def resize_rgb(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H,W,3) -> uint8 (size,size,3), bilinear with antialiasing (area when shrinking)."""
    import cv2

    if rgb.shape[:2] == (size, size):
        return rgb
    shrink = rgb.shape[0] > size or rgb.shape[1] > size
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_depth(depth: np.ndarray, size: int) -> np.ndarray:
    """Depth resize with NEAREST, so a hole never blends with valid depth."""
    import cv2

    depth = np.squeeze(depth)
    if depth.shape[:2] == (size, size):
        return depth
    return cv2.resize(depth, (size, size), interpolation=cv2.INTER_NEAREST)


def arrays_from_examples(examples: Iterable[dict], image_size: int,
                         limit: Optional[int] = None,
                         landmark_sigma: Optional[float] = None) -> PairedArrays:
    """Collects ``{'rgb', 'depth'[, 'identity'|'label']}`` dicts of NumPy arrays, resized.

    ``landmark_sigma`` (pixels at ``image_size``): also the landmark heat maps of every example,
    which must then carry ``landmarks`` and ``landmarks_visible`` (``generate_face``'s keys),
    scaled with the resize."""
    rgbs, depths, labels, heats = [], [], [], []
    for i, ex in enumerate(examples):
        if limit is not None and i >= limit:
            break
        rgb = np.asarray(ex["rgb"])
        rgbs.append(resize_rgb(rgb, image_size))
        depths.append(resize_depth(np.asarray(ex["depth"]), image_size))
        label = ex.get("identity", ex.get("label"))
        labels.append(-1 if label is None else int(label))
        if landmark_sigma is not None:
            if "landmarks" not in ex or "landmarks_visible" not in ex:
                raise ValueError(f"arrays_from_examples: example {i} has no 'landmarks' / "
                                 f"'landmarks_visible' (keys {sorted(ex)}); landmark heat "
                                 "maps need a source that marks them (synthetic_faces)")
            scale = np.array([image_size / rgb.shape[1], image_size / rgb.shape[0]])
            heat = landmark_heatmaps(np.asarray(ex["landmarks"]) * scale,
                                     ex["landmarks_visible"], image_size, image_size,
                                     landmark_sigma)
            heats.append(np.round(heat * 255.0).astype(np.uint8))
    if not rgbs:
        raise ValueError("arrays_from_examples: the source yielded no examples")
    return PairedArrays(np.stack(rgbs), np.stack(depths).astype(depths[0].dtype),
                        np.asarray(labels, np.int64),
                        np.stack(heats) if landmark_sigma is not None else None)


def tsgan_depth_to_unit(depth, depth_bits: int, face_range_mm: float = DEFAULT_FACE_RANGE_MM):
    """Raw depth -> TS-GAN's [0, 1] depth image and a valid mask (TF ops, any leading dims).

    - 8-bit depth (the TS-GAN datasets' cropped depth images): d / 255, hole = 0.
    - 16-bit millimetres: near-is-bright over ``face_range_mm`` from the nearest valid
      pixel of each image, 1 - (d - d_near) / range, clipped to [1/255, 1]; hole = 0.
    The last two axes are (H, W).
    """
    depth = tf.cast(depth, tf.float32)
    valid = depth > 0
    if depth_bits == 8:
        unit = depth / 255.0
    elif depth_bits == 16:
        big = tf.fill(tf.shape(depth), np.float32(np.inf))
        near = tf.reduce_min(tf.where(valid, depth, big), axis=[-2, -1], keepdims=True)
        near = tf.where(tf.math.is_finite(near), near, 0.0)
        unit = tf.clip_by_value(1.0 - (depth - near) / face_range_mm, 1.0 / 255.0, 1.0)
        unit = tf.where(valid, unit, 0.0)
    else:
        raise ValueError(f"tsgan_depth_to_unit: depth_bits must be 8 or 16, got {depth_bits}")
    return unit, valid


def epoch_index_stream(num_examples: int, seed: int, shuffle: bool = True,
                       start_index: int = 0) -> tf.data.Dataset:
    """Infinite stream of (global_index, example_index), a new stateless permutation per epoch."""
    if num_examples <= 0:
        raise ValueError(f"epoch_index_stream: num_examples must be > 0, got {num_examples}")
    n = num_examples
    start_epoch = start_index // n

    def one_epoch(epoch):
        if shuffle:
            keys = tf.random.stateless_uniform([n], tf.stack([tf.cast(seed, tf.int64), epoch]))
            order = tf.argsort(keys, stable=True)
        else:
            order = tf.range(n)
        global_index = epoch * n + tf.range(n, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices((global_index, tf.cast(order, tf.int64)))

    ds = tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max).flat_map(one_epoch)
    return ds.skip(start_index - start_epoch * n)


def _flip(x, seed):
    return tf.image.stateless_random_flip_left_right(x, seed)


def make_paired_dataset(arrays: PairedArrays, batch_size: int, seed: int = 0,
                        training: bool = True, start_index: int = 0,
                        face_range_mm: float = DEFAULT_FACE_RANGE_MM,
                        reproduce_flip_bug: bool = False, repeat: bool = True,
                        framing_shift: float = 0.0,
                        framing_log_zoom: float = 0.0,
                        landmarks: bool = False) -> tf.data.Dataset:
    """Batched dicts ``rgb`` [-1,1], ``depth`` [-1,1] (.., 1), ``mask`` (.., 1) float, and with
    ``landmarks`` the heat maps ``landmarks`` [-1, 1] (.., K) (``arrays.heatmaps``, flipped and
    reframed with the image; -1 where the reframing leaves the input).

    ``training`` shuffles per epoch and flips, and with ``framing_shift`` / ``framing_log_zoom``
    > 0 reframes each example (``framing_jitter.jitter_rgbd``: shift up to that fraction of the
    size, zoom up to exp(+-log zoom)); evaluation reads the examples in order, once unless
    ``repeat``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    framing_jitter.check_ranges(framing_shift, framing_log_zoom, "make_paired_dataset")
    if landmarks and arrays.heatmaps is None:
        raise ValueError("make_paired_dataset(landmarks=True) needs PairedArrays.heatmaps "
                         "(arrays_from_examples(..., landmark_sigma=...))")
    heat_all = tf.constant(arrays.heatmaps) if landmarks else None
    rgb_all = tf.constant(arrays.rgb)
    depth_all = tf.constant(arrays.depth)
    bits = arrays.depth_bits

    def load(global_index, idx):
        rgb = tf.cast(tf.gather(rgb_all, idx), tf.float32) / 127.5 - 1.0
        unit, valid = tsgan_depth_to_unit(tf.gather(depth_all, idx), bits, face_range_mm)
        depth = unit[..., None] * 2.0 - 1.0
        mask = tf.cast(valid, tf.float32)[..., None]
        if landmarks:   # rides with the mask: [0, 1], 0 filled outside a reframed input
            mask = tf.concat([mask, tf.cast(tf.gather(heat_all, idx), tf.float32) / 255.0], -1)
        if training:
            ex_seed = tf.stack([tf.cast(seed, tf.int64), global_index])
            if reproduce_flip_bug:
                rgb = _flip(rgb, tf.random.experimental.stateless_fold_in(ex_seed, 1))
                dm = _flip(tf.concat([depth, mask], -1),
                           tf.random.experimental.stateless_fold_in(ex_seed, 2))
            else:
                both = _flip(tf.concat([rgb, depth, mask], -1), ex_seed)
                rgb, dm = both[..., :3], both[..., 3:]
            depth, mask = dm[..., :1], dm[..., 1:]
            if framing_shift > 0 or framing_log_zoom > 0:
                rgb, depth, mask = framing_jitter.jitter_rgbd(
                    rgb, depth, mask, tf.random.experimental.stateless_fold_in(ex_seed, 3),
                    framing_shift, framing_log_zoom)
        if landmarks:
            return {"rgb": rgb, "depth": depth, "mask": mask[..., :1],
                    "landmarks": mask[..., 1:] * 2.0 - 1.0}
        return {"rgb": rgb, "depth": depth, "mask": mask}

    if training or repeat:
        ds = epoch_index_stream(len(arrays), seed, shuffle=training, start_index=start_index)
        if not repeat:
            ds = ds.take(len(arrays) - start_index)
    else:
        n = len(arrays)
        ds = tf.data.Dataset.range(start_index, n).map(lambda i: (i, i))
    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=training).prefetch(AUTOTUNE)
