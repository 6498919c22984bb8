"""Readers of the depth-completion datasets (RGB + sparse depth -> dense depth; the two-stage
trainer, ``depthlab/runners/two_stage.py``), one function per dataset and view
(``data_pipelines/registry.py`` names them):

``depth_completion_arrays``  ``(split, data_dir=None, crop_hw=(96, 128), sample_downscale=2,
                             limit=None) -> (rgb (N, H, W, 3) uint8, depth (N, H, W) float32
                             metres, 0 = invalid)``; split 'train' or 'test'.
``depth_completion_frames``  ``(split, data_dir=None, limit=None) -> (count, load, frame_hw)``
                             with ``load(k) -> (rgb, depth)`` at ``frame_hw``: frames read one
                             at a time (a dataset too large to hold in memory).
``depth_completion_crop``    ``() -> (H, W)``: the dataset's default network input size.

``middlebury_sample``: scikit-image's Middlebury 2014 Motorcycle with metric depth from its
calibration, down-sampled x ``sample_downscale``; the training image is the left part, the
evaluation tiles (``crop_hw``) cover the held-out right part. ``sparse_to_dense_h5``: the
``{train,val}/<scene>/*.h5`` layout resized to 240x320 (test = val). ``nyu_depth_v2``: the
labeled .mat (first 1000 train, last 449 test) resized to 240x320, read through the TFDS
builder ``nyu_depth_v2_labeled`` (prepared once into a cache, ``data_pipelines.datasets.prepared``).

TensorFlow-free (NumPy and OpenCV) except the NYU reader, which goes through TFDS.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

from data_pipelines import sparse_to_dense_h5 as s2d_h5

SPLITS = ("train", "test")
#: network input size of the middlebury_sample crops (its image is small)
SAMPLE_CROP_HW = (96, 128)
#: sparse-to-dense's input size for full NYU frames (after the 240x320 resize)
FRAME_CROP_HW = s2d_h5.CROP_HW


def middlebury_sample_crop() -> Tuple[int, int]:
    return SAMPLE_CROP_HW


def full_frame_crop() -> Tuple[int, int]:
    """sparse-to-dense's 228x304 centre crop of a 240x320 frame."""
    return FRAME_CROP_HW


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _downscale(rgb, depth, factor):
    if factor == 1:
        return rgb, depth
    h, w = depth.shape[0] // factor, depth.shape[1] // factor
    return s2d_h5.resize_frame(rgb, depth, (h, w))


def _tiles(rgb, depth, crop_hw):
    """Crops of ``crop_hw`` covering the rows of a region (evaluation set of one image)."""
    h, w = crop_hw
    H, W = depth.shape
    n = int(np.ceil(H / h))
    ys = np.linspace(0, H - h, n).round().astype(int) if n > 1 else [0]
    x0 = (W - w) // 2
    return (np.stack([rgb[y:y + h, x0:x0 + w] for y in ys]),
            np.stack([depth[y:y + h, x0:x0 + w] for y in ys]))


def middlebury_sample_arrays(split: str, data_dir: Optional[str] = None,
                             crop_hw: Tuple[int, int] = SAMPLE_CROP_HW, sample_downscale: int = 2,
                             limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The embedded Motorcycle: one training image (left part) or evaluation tiles (right)."""
    from data_pipelines import middlebury

    _check_split(split)
    scene = middlebury.motorcycle_sample()
    rgb, depth = _downscale(scene.rgb, np.where(scene.valid, scene.depth, 0.0).astype(np.float32),
                            int(sample_downscale))
    W = depth.shape[1]
    test_w = max(crop_hw[1], W // 4)
    if depth.shape[0] < crop_hw[0] or W - test_w - 8 < crop_hw[1]:
        raise ValueError(f"crop {crop_hw} is too large for the sample at 1/{sample_downscale} "
                         f"size {depth.shape}")
    if split == "train":
        return rgb[None, :, :W - test_w - 8], depth[None, :, :W - test_w - 8]
    return _tiles(rgb[:, W - test_w:], depth[:, W - test_w:], crop_hw)


def sparse_to_dense_h5_arrays(split: str, data_dir: Optional[str] = None, crop_hw=None,
                              sample_downscale: int = 1,
                              limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """sparse-to-dense's .h5 frames of 'train' or 'test' (= its val/), resized to 240x320."""
    _check_split(split)
    rgb, depth, _ = s2d_h5.load_split(data_dir, "train" if split == "train" else "val",
                                      s2d_h5.RESIZE_HW, limit=limit)
    return rgb, depth


def sparse_to_dense_h5_frames(split: str, data_dir: Optional[str] = None,
                              limit: Optional[int] = None) -> Tuple[int, Callable, Tuple[int, int]]:
    """The .h5 frames of a split read one at a time (the 47,584 training frames do not fit in
    memory), each resized to 240x320."""
    _check_split(split)
    paths = s2d_h5.list_frames(data_dir, "train" if split == "train" else "val")[:limit]

    def load(k):
        rgb, depth, _ = s2d_h5.read_frame(paths[k])
        return s2d_h5.resize_frame(rgb, depth, s2d_h5.RESIZE_HW)

    return len(paths), load, s2d_h5.RESIZE_HW


def nyu_depth_v2_arrays(split: str, data_dir: Optional[str] = None, crop_hw=None,
                        sample_downscale: int = 1, limit: Optional[int] = None,
                        via_tfds: bool = True,
                        protocol: str = "first1000") -> Tuple[np.ndarray, np.ndarray]:
    """The labeled NYU Depth v2 .mat, split by ``protocol`` (``data_pipelines.nyu_splits``:
    'first1000' or 'official_scenes'), resized to 240x320; read through its TFDS builder unless
    ``via_tfds=False`` (``nyu_depth_v2.frames``)."""
    from data_pipelines import nyu_depth_v2 as nyu

    _check_split(split)
    arrays = nyu.frames(data_dir, split, None, limit, via_tfds, protocol)
    pairs = [s2d_h5.resize_frame(r, d, s2d_h5.RESIZE_HW) for r, d in zip(arrays.rgb, arrays.depth)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
