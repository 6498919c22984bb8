"""Depth super-resolution examples: hole filling, bicubic LR generation, patch streams.

The standard DSR protocol (of the papers CTKT compares with): the LR depth is the HR depth down-sampled by bicubic
interpolation at x4, x8 or x16. We use ``tf.image.resize(method='bicubic', antialias=True)``
(Keys cubic, a = -0.5, with the kernel widened by the scale when shrinking: the behaviour of
PIL's ``Image.resize(BICUBIC)`` used by DKN/FDSR's data code and of MATLAB's ``imresize``).

HR depth with holes (Middlebury's unknown disparity) is filled before down-sampling
(:func:`fill_holes`, OpenCV Telea inpainting) so that the LR input is hole-free; losses and
metrics use the valid mask of the original HR depth only. Depth is float32 metres.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import cv2
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class DSRExample:
    """``rgb`` uint8 (H, W, 3); ``hr`` float32 metres (H, W), holes filled; ``mask`` bool
    (H, W) the originally valid pixels; ``lr`` float32 metres (H/s, W/s)."""

    name: str
    rgb: np.ndarray
    hr: np.ndarray
    mask: np.ndarray
    lr: np.ndarray
    scale: int


def check_hr(depth, valid, scale: int, name: str = "depth") -> None:
    """Clear errors for what DSR cannot take: a size not divisible by ``scale``, no valid pixel."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"{name}: expected HR depth (H, W), got shape {depth.shape}")
    h, w = depth.shape
    if h % scale or w % scale:
        raise ValueError(f"{name}: HR size {h}x{w} is not divisible by the scale x{scale}; "
                         f"crop it to {h - h % scale}x{w - w % scale} first")
    if h // scale < 1 or w // scale < 1:
        raise ValueError(f"{name}: HR size {h}x{w} is smaller than the scale x{scale}")
    v = np.asarray(valid, bool)
    if v.shape != depth.shape:
        raise ValueError(f"{name}: valid mask {v.shape} != depth {depth.shape}")
    if not v.any():
        raise ValueError(f"{name}: the depth has no valid pixel (all holes); nothing to learn "
                         "or evaluate")


def fill_holes(depth, valid, radius: int = 5) -> np.ndarray:
    """Invalid pixels replaced by OpenCV's Telea inpainting of the valid ones (float32)."""
    d = np.asarray(depth, np.float32)
    v = np.asarray(valid, bool)
    if not v.any():
        raise ValueError("fill_holes: the depth has no valid pixel")
    if v.all():
        return d.copy()
    seed = np.where(v, d, np.float32(d[v].mean())).astype(np.float32)
    return cv2.inpaint(seed, (~v).astype(np.uint8), radius, cv2.INPAINT_TELEA)


def bicubic_downsample(depth, scale: int) -> np.ndarray:
    """HR (H, W) or (B, H, W, 1) -> LR at 1/scale, bicubic with antialiasing (float32)."""
    d = np.asarray(depth, np.float32)
    squeeze = d.ndim == 2
    x = d[None, ..., None] if squeeze else d
    h, w = x.shape[1], x.shape[2]
    if h % scale or w % scale:
        raise ValueError(f"bicubic_downsample: size {h}x{w} is not divisible by x{scale}")
    lr = tf.image.resize(x, (h // scale, w // scale), method="bicubic", antialias=True).numpy()
    return lr[0, ..., 0] if squeeze else lr


def bicubic_upsample(lr, scale: int) -> np.ndarray:
    """LR (h, w) or (B, h, w, 1) -> (h*s, w*s) bicubic: the baseline of every DSR table."""
    d = np.asarray(lr, np.float32)
    squeeze = d.ndim == 2
    x = d[None, ..., None] if squeeze else d
    up = tf.image.resize(x, (x.shape[1] * scale, x.shape[2] * scale), method="bicubic").numpy()
    return up[0, ..., 0] if squeeze else up


def crop_to_multiple(array, multiple: int):
    """Top-left crop of (H, W, ...) to multiples of ``multiple`` (drops the bottom/right rest)."""
    h, w = array.shape[:2]
    return array[: h - h % multiple, : w - w % multiple]


def make_example(name: str, rgb, depth, valid, scale: int) -> DSRExample:
    """HR RGB-D -> a DSR example at ``scale`` (checks, fills holes, bicubic LR)."""
    check_hr(depth, valid, scale, name)
    rgb = np.asarray(rgb, np.uint8)
    if rgb.shape[:2] != np.asarray(depth).shape:
        raise ValueError(f"{name}: RGB {rgb.shape[:2]} and depth {np.asarray(depth).shape} differ")
    hr = fill_holes(depth, valid)
    return DSRExample(name, rgb, hr, np.asarray(valid, bool), bicubic_downsample(hr, scale), scale)


def _padded_stack(arrays: Sequence[np.ndarray], shape, dtype):
    out = np.zeros((len(arrays),) + tuple(shape) + arrays[0].shape[2:], dtype)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0], : a.shape[1]] = a
    return out


def make_patch_dataset(examples: Sequence[DSRExample], patch: int, scale: int, batch_size: int,
                       seed: int = 0, start_index: int = 0, augment: bool = True) -> tf.data.Dataset:
    """Endless stream of random HR patches with their bicubic LR, batched.

    Example n (global index, from ``start_index`` so a resumed run sees the same stream)
    draws with stateless ops seeded by (seed, n): an image (uniformly), a top-left corner
    inside it, and (``augment``) horizontal/vertical flips. The LR patch is the bicubic
    down-sampling of the (hole-filled) HR patch, computed per batch in the graph. Elements:
    ``lr`` (B, p/s, p/s, 1), ``hr`` (B, p, p, 1) metres, ``mask`` (B, p, p, 1) float, ``rgb``
    (B, p, p, 3) float [0, 1].
    """
    if patch % scale:
        raise ValueError(f"--patch_size {patch} is not divisible by the scale x{scale}")
    if not examples:
        raise ValueError("make_patch_dataset: no training example")
    small = [e.name for e in examples if min(e.hr.shape) < patch]
    if small:
        raise ValueError(f"make_patch_dataset: {small} are smaller than the {patch}px patch")
    hmax = max(e.hr.shape[0] for e in examples)
    wmax = max(e.hr.shape[1] for e in examples)
    hr = tf.constant(_padded_stack([e.hr[..., None] for e in examples], (hmax, wmax), np.float32))
    mask = tf.constant(_padded_stack([e.mask[..., None].astype(np.float32) for e in examples],
                                     (hmax, wmax), np.float32))
    rgb = tf.constant(_padded_stack([e.rgb for e in examples], (hmax, wmax), np.uint8))
    limits = tf.constant([[e.hr.shape[0] - patch + 1, e.hr.shape[1] - patch + 1]
                          for e in examples], tf.int32)
    n_images = len(examples)

    def draw(index):
        key = tf.stack([tf.constant(seed, tf.int64), index])
        u = tf.random.stateless_uniform([5], key, dtype=tf.float32)
        i = tf.minimum(tf.cast(u[0] * n_images, tf.int32), n_images - 1)
        lim = limits[i]
        y = tf.minimum(tf.cast(u[1] * tf.cast(lim[0], tf.float32), tf.int32), lim[0] - 1)
        x = tf.minimum(tf.cast(u[2] * tf.cast(lim[1], tf.float32), tf.int32), lim[1] - 1)
        stack = tf.concat([hr[i], mask[i], tf.cast(rgb[i], tf.float32) / 255.0], axis=-1)
        crop = tf.slice(stack, [y, x, 0], [patch, patch, 5])
        if augment:
            crop = tf.cond(u[3] < 0.5, lambda: tf.reverse(crop, [1]), lambda: crop)
            crop = tf.cond(u[4] < 0.5, lambda: tf.reverse(crop, [0]), lambda: crop)
        return {"hr": crop[..., :1], "mask": crop[..., 1:2], "rgb": crop[..., 2:]}

    def add_lr(batch):
        batch["lr"] = tf.image.resize(batch["hr"], (patch // scale, patch // scale),
                                      method="bicubic", antialias=True)
        return batch

    ds = tf.data.Dataset.counter(start=start_index, dtype=tf.int64)
    ds = ds.map(draw, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True).map(add_lr, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def region(example_rgb, depth, valid, rows: slice, cols: slice):
    """A sub-rectangle of an RGB-D image (used to hold out part of one scene)."""
    return example_rgb[rows, cols], depth[rows, cols], valid[rows, cols]


def stack_eval(examples: List[DSRExample]) -> Optional[dict]:
    """Same-size examples -> batched arrays (None when the sizes differ)."""
    shapes = {e.hr.shape for e in examples}
    if len(shapes) != 1:
        return None
    return {"lr": np.stack([e.lr for e in examples])[..., None],
            "hr": np.stack([e.hr for e in examples])[..., None],
            "mask": np.stack([e.mask for e in examples])[..., None],
            "rgb": np.stack([e.rgb for e in examples]).astype(np.float32) / 255.0}
