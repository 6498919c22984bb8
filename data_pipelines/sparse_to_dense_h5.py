"""Reader for sparse-to-dense's preprocessed NYU Depth v2 frames (Ma & Karaman, ICRA 2018).

Layout (the data files of fangchangma/sparse-to-dense; the ``nyudepthv2.tar.gz`` of the sparse-to-dense repositories)::

    <root>/train/<scene>/<frame>.h5     47,584 frames of 249 scenes
    <root>/val/<scene>/<frame>.h5       654 frames (the official labeled test set)

Each ``.h5`` holds ``rgb`` uint8 of shape (3, 480, 640) (channels first) and ``depth``
float32 (480, 640) in metres, registered to the RGB. ``read_frame`` checks both keys and
shapes and raises ``ValueError`` naming the file and the key. Depth values that are NaN,
inf or <= 0 are **masked** (documented choice): they become 0 and invalid, because the
Torch code itself turns invalid pixels into NaN and masks them (its loss and metrics); pass
``strict=True`` to raise instead.

``load_split`` returns stacked arrays at the evaluation resolution of sparse-to-dense: the
frame is resized to ``resize_hw`` (240x320; RGB area-averaged, depth nearest so that holes
do not spread) and, when ``crop_hw`` is given, centre-cropped (228x304 in the paper).
"""

from __future__ import annotations

import glob
import os
from typing import List, Optional, Tuple

import cv2
import numpy as np

SPLITS = ("train", "val")
FRAME_HW = (480, 640)
RESIZE_HW = (240, 320)
CROP_HW = (228, 304)


def list_frames(root, split: str) -> List[str]:
    """Sorted ``<root>/<split>/<scene>/*.h5`` paths; a clear error when there are none."""
    if split not in SPLITS:
        raise ValueError(f"sparse-to-dense split must be one of {SPLITS}, got {split!r}")
    folder = os.path.join(os.fspath(root), split)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder} does not exist; expected the sparse-to-dense layout "
                                f"<root>/{{train,val}}/<scene>/*.h5")
    paths = sorted(glob.glob(os.path.join(folder, "*", "*.h5")))
    if not paths:
        raise FileNotFoundError(f"no <scene>/*.h5 files under {folder}")
    return paths


def read_frame(path, strict: bool = False, expected_hw: Optional[Tuple[int, int]] = None):
    """One frame: ``(rgb uint8 (H, W, 3), depth float32 metres (H, W), valid bool (H, W))``.

    Errors name the file and key: missing ``rgb`` / ``depth``, ``rgb`` not (3, H, W), depth
    not (H, W) matching the RGB, or (with ``expected_hw``) another size. Non-finite / <= 0
    depth is masked (or, ``strict``, an error with the count of bad pixels).
    """
    import h5py

    path = os.fspath(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from e
    with f:
        for key in ("rgb", "depth"):
            if key not in f:
                raise ValueError(f"{path}: missing dataset {key!r} (has {sorted(f.keys())}); "
                                 "sparse-to-dense frames hold 'rgb' (3xHxW uint8) and "
                                 "'depth' (HxW metres)")
        rgb, depth = np.asarray(f["rgb"]), np.asarray(f["depth"])
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"{path}: 'rgb' has shape {rgb.shape}, expected (3, H, W) channels first")
    if depth.ndim == 3 and depth.shape[0] == 1:
        depth = depth[0]
    if depth.shape != rgb.shape[1:]:
        raise ValueError(f"{path}: 'depth' has shape {depth.shape}, expected {rgb.shape[1:]} "
                         "(the 'rgb' height and width)")
    if expected_hw is not None and tuple(depth.shape) != tuple(expected_hw):
        raise ValueError(f"{path}: frame size {depth.shape} != expected {tuple(expected_hw)}")
    if rgb.dtype != np.uint8:
        if rgb.max() > 255 or rgb.min() < 0:
            raise ValueError(f"{path}: 'rgb' of dtype {rgb.dtype} has values outside [0, 255]")
        rgb = rgb.astype(np.uint8)
    depth = depth.astype(np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    bad = int(np.count_nonzero(~np.isfinite(depth)))
    if strict and bad:
        raise ValueError(f"{path}: 'depth' has {bad} NaN/inf pixel(s)")
    depth = np.where(valid, depth, 0.0).astype(np.float32)
    return np.ascontiguousarray(np.transpose(rgb, (1, 2, 0))), depth, valid


def resize_frame(rgb, depth, size_hw):
    """RGB area-resized, depth nearest-resized (0 stays 0) to ``size_hw``."""
    h, w = size_hw
    rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)
    return rgb, depth


def center_crop(a, crop_hw):
    h, w = crop_hw
    if a.shape[0] < h or a.shape[1] < w:
        raise ValueError(f"cannot centre-crop {crop_hw} from an image of shape {a.shape}")
    y0, x0 = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
    return a[y0:y0 + h, x0:x0 + w]


def load_split(root, split: str, resize_hw: Optional[Tuple[int, int]] = RESIZE_HW,
               crop_hw: Optional[Tuple[int, int]] = None, limit: Optional[int] = None,
               strict: bool = False):
    """``(rgb (N, h, w, 3) uint8, depth (N, h, w) float32 metres, paths)`` of a split."""
    rgbs, depths, used = [], [], []
    for path in list_frames(root, split)[:limit]:
        rgb, depth, _ = read_frame(path, strict=strict)
        if resize_hw is not None:
            rgb, depth = resize_frame(rgb, depth, resize_hw)
        if crop_hw is not None:
            rgb, depth = center_crop(rgb, crop_hw), center_crop(depth, crop_hw)
        if rgbs and rgb.shape != rgbs[0].shape:
            raise ValueError(f"{path}: frame size {rgb.shape[:2]} differs from the first "
                             f"frame's {rgbs[0].shape[:2]}; pass resize_hw")
        rgbs.append(rgb)
        depths.append(depth)
        used.append(path)
    return np.stack(rgbs), np.stack(depths), used


def write_fixture(root, scenes=(("train", "scene_a", 2), ("train", "scene_b", 1), ("val", "scene_c", 2)),
                  height: int = FRAME_HW[0], width: int = FRAME_HW[1], seed: int = 0) -> str:
    """Writes frames in the exact layout (tests): (split, scene, number of frames) triples.

    Depth is a tilted plane plus a box in [1, 8] m with a few zero (missing) pixels; RGB
    brightness follows depth so that RGB carries signal.
    """
    import h5py

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for split, scene, count in scenes:
        folder = os.path.join(os.fspath(root), split, scene)
        os.makedirs(folder, exist_ok=True)
        for k in range(count):
            a, b = rng.uniform(0.5, 2.0, 2)
            depth = 2.0 + a * xx / width + b * yy / height + rng.uniform(0, 3)
            y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
            depth[y0:y0 + height // 4, x0:x0 + width // 4] -= 0.8
            depth = np.clip(depth, 1.0, 8.0).astype(np.float32)
            depth[rng.uniform(size=depth.shape) < 0.01] = 0.0
            rgb = np.clip(255 - depth[..., None] * 28 + rng.normal(0, 8, (height, width, 3)),
                          0, 255).astype(np.uint8)
            with h5py.File(os.path.join(folder, f"{k:05d}.h5"), "w") as f:
                f.create_dataset("rgb", data=np.transpose(rgb, (2, 0, 1)))
                f.create_dataset("depth", data=depth)
    return os.fspath(root)
