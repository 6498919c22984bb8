"""NYU Depth v2 labeled set (Silberman et al., ECCV 2012): the official ``nyu_depth_v2_labeled.mat``.

The file is MATLAB v7.3, i.e. HDF5, and is read with h5py. MATLAB stores arrays column-major,
so h5py sees every array with its axes reversed:

=========  =======================  ======================  =====================================
dataset    MATLAB shape             h5py shape              here
=========  =======================  ======================  =====================================
images     480 x 640 x 3 x 1449     1449 x 3 x 640 x 480    (N, 480, 640, 3) uint8 RGB
depths     480 x 640 x 1449         1449 x 640 x 480        (N, 480, 640) float32 metres
=========  =======================  ======================  =====================================

``depths`` is the inpainted (hole-free) depth in metres; the Kinect's usable range ends near
10 m, so the 8-bit image is ``round(255 * clip(depth / max_depth, 0, 1))`` with
``max_depth = 10`` m (:func:`depth_to_uint8`, inverse :func:`uint8_to_depth`).

Splits are named protocols, defined in ``data_pipelines.nyu_splits`` (one owner for this
reader and the TFDS one): ``first1000`` (default; Suarez, Carpio and Sappa, DKN/FDSR): the first
1000 pairs in file order train, the remaining 449 test (:data:`SPLITS`); ``official_scenes``:
the toolbox's ``splits.mat`` beside the .mat (795 / 654 frames of 249 / 215 scenes). Frames
are read one at a time (the full file is 2.8 GB) and resized to ``image_size`` (256 x 256 by default), RGB and depth
alike with ``cv2.INTER_AREA`` when shrinking (an area average: no depth value outside the
local range appears) and bilinear when enlarging.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterator, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from data_pipelines import nyu_splits

NUM_LABELED = 1449
SPLITS = {"train": (0, 1000), "test": (1000, NUM_LABELED), "all": (0, NUM_LABELED)}
MAX_DEPTH_M = 10.0
FRAME_HW = (480, 640)

Size = Union[int, Tuple[int, int], None]


@dataclasses.dataclass
class NyuArrays:
    """Decoded frames: ``rgb`` uint8 (N, H, W, 3), ``depth`` float32 metres (N, H, W), file indices."""

    rgb: np.ndarray
    depth: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def depth_to_uint8(depth_m, max_depth: float = MAX_DEPTH_M) -> np.ndarray:
    """Metres -> 8-bit image: ``round(255 * clip(d / max_depth, 0, 1))``."""
    d = np.asarray(depth_m, np.float32)
    return np.round(255.0 * np.clip(d / max_depth, 0.0, 1.0)).astype(np.uint8)


def uint8_to_depth(image, max_depth: float = MAX_DEPTH_M) -> np.ndarray:
    """Inverse of :func:`depth_to_uint8` (to within max_depth / 510)."""
    return np.asarray(image, np.float32) * (max_depth / 255.0)


def _hw(size: Size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def _resize(rgb: np.ndarray, depth: np.ndarray, size: Size) -> Tuple[np.ndarray, np.ndarray]:
    hw = _hw(size)
    if hw is None or hw == rgb.shape[:2]:
        return rgb, depth
    h, w = hw
    down = h < rgb.shape[0] or w < rgb.shape[1]
    interp = cv2.INTER_AREA if down else cv2.INTER_LINEAR
    return (cv2.resize(rgb, (w, h), interpolation=interp),
            cv2.resize(depth, (w, h), interpolation=interp))


def _open(mat_path):
    import h5py

    path = os.fspath(mat_path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"NYU Depth v2: {path} does not exist. Download nyu_depth_v2_labeled.mat from "
            f"http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat and "
            f"pass its path (or the folder that holds it)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"NYU Depth v2: {path} is not an HDF5 (MATLAB v7.3) file: {e}") from e
    for key in ("images", "depths"):
        if key not in f:
            found = sorted(f.keys())
            f.close()
            raise ValueError(f"NYU Depth v2: {path} has no dataset {key!r} (found {found}); "
                             "expected the labeled file's 'images' and 'depths'")
    images, depths = f["images"], f["depths"]
    problem = None
    if images.ndim != 4 or images.shape[1] != 3:
        problem = (f"dataset 'images' has shape {images.shape}; expected N x 3 x W x H "
                   "(MATLAB's H x W x 3 x N read column-major)")
    elif depths.ndim != 3:
        problem = (f"dataset 'depths' has shape {depths.shape}; expected N x W x H "
                   "(MATLAB's H x W x N read column-major)")
    elif images.shape[0] != depths.shape[0] or images.shape[2:] != depths.shape[1:]:
        problem = (f"datasets 'images' {images.shape} and 'depths' {depths.shape} must have the "
                   "same N, W, H (images N x 3 x W x H, depths N x W x H)")
    if problem is not None:
        f.close()
        raise ValueError(f"NYU Depth v2: {path}: {problem}")
    return f


def resolve_mat_path(path) -> str:
    """``path`` itself, or ``path/nyu_depth_v2_labeled.mat`` when ``path`` is a folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return os.path.join(path, "nyu_depth_v2_labeled.mat")
    return path


def split_range(split: str, num_frames: int, protocol: str = nyu_splits.DEFAULT_PROTOCOL,
                mat_path=None) -> np.ndarray:
    """0-based indices of ``split`` ('train', 'test', 'all') under ``protocol``
    (:func:`data_pipelines.nyu_splits.split_indices`; 'official_scenes' reads the
    ``splits.mat`` beside ``mat_path``)."""
    return nyu_splits.split_indices(split, num_frames, protocol, mat_path)


def iter_labeled(mat_path, split: str = "train", image_size: Size = 256,
                 indices: Optional[Sequence[int]] = None,
                 protocol: str = nyu_splits.DEFAULT_PROTOCOL
                 ) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """Yields ``(file index, rgb uint8 (H, W, 3), depth float32 metres (H, W))`` one frame at a
    time, the frames of ``split`` under ``protocol`` (``data_pipelines.nyu_splits``)."""
    path = resolve_mat_path(mat_path)
    with _open(path) as f:
        images, depths = f["images"], f["depths"]
        wanted = (split_range(split, images.shape[0], protocol, path) if indices is None
                  else indices)
        for i in wanted:
            rgb = np.ascontiguousarray(np.transpose(images[i], (2, 1, 0)))      # 3xWxH -> HxWx3
            depth = np.ascontiguousarray(np.transpose(depths[i]).astype(np.float32))
            if not np.all(np.isfinite(depth)):
                raise ValueError(f"NYU Depth v2: {path}: frame {i} has non-finite depth")
            rgb, depth = _resize(rgb, depth, image_size)
            yield int(i), rgb, depth


def read_labeled(mat_path, split: str = "train", image_size: Size = 256,
                 limit: Optional[int] = None,
                 protocol: str = nyu_splits.DEFAULT_PROTOCOL) -> NyuArrays:
    """All frames of ``split`` (at most ``limit``) as arrays; see :func:`iter_labeled`."""
    return _stack_frames(iter_labeled(mat_path, split, image_size, protocol=protocol),
                         mat_path, split, limit)


def _stack_frames(frames, mat_path, split: str, limit: Optional[int] = None) -> NyuArrays:
    """(index, rgb, depth) frames (at most ``limit``) stacked into :class:`NyuArrays`."""
    rgbs, depths, idx = [], [], []
    for i, rgb, depth in frames:
        if limit is not None and len(idx) >= limit:
            break
        idx.append(i)
        rgbs.append(rgb)
        depths.append(depth)
    if not idx:
        raise ValueError(f"NYU Depth v2: split {split!r} of {resolve_mat_path(mat_path)} is empty")
    return NyuArrays(np.stack(rgbs), np.stack(depths), np.asarray(idx, np.int64))


_TFDS_CONFIGS = {None: "full", (256, 256): "256", (128, 128): "128"}


def _tfds_builder(path: str, config: str, tfds_data_dir: Optional[str],
                  on_change: Optional[str]):
    """The ``nyu_depth_v2_labeled/<config>`` builder prepared from the .mat ``path``
    (``data_pipelines.datasets.prepared``: again whenever the file changes)."""
    from data_pipelines import registry
    # importing the builder module registers the builder
    from data_pipelines.datasets import nyu_depth_v2_labeled as builder_module  # noqa: F401
    from data_pipelines.datasets import prepared

    with _open(path):                              # validates the file with the reader's errors
        pass
    return prepared.prepare(f"{registry.NYU_DEPTH_V2_TFDS}/{config}", os.path.dirname(path),
                            tfds_data_dir, files=[path], on_change=on_change)


def iter_labeled_tfds(mat_path, split: str = "train", image_size: Size = 256,
                      limit: Optional[int] = None, tfds_data_dir: Optional[str] = None,
                      on_change: Optional[str] = None,
                      protocol: str = nyu_splits.DEFAULT_PROTOCOL
                      ) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """:func:`iter_labeled` ``(mat_path, split, image_size)`` (its first ``limit`` frames)
    through the TFDS builder ``nyu_depth_v2_labeled``.

    Prepares the builder's config for ``image_size`` (None -> ``full``, 256, 128; any other size
    reads ``full`` and resizes as :func:`iter_labeled` does) with ``manual_dir`` the folder of
    ``mat_path``, into ``tfds_data_dir`` (None: the cache of
    ``data_pipelines.datasets.prepared.default_data_dir``), once and again when the file
    changes (``on_change='error'`` raises instead). Yields the same ``(file index, rgb,
    depth)`` as :func:`iter_labeled`, equal array for array and in file order; the frames are
    chosen by :func:`split_range` under ``protocol`` (``data_pipelines.nyu_splits``) as there,
    from whichever of the builder's own splits hold them. ``mat_path`` must be named
    ``nyu_depth_v2_labeled.mat`` (or be the folder holding it), the name the builder looks
    for. The frames of the split (at most ``limit``) are read before the first is yielded, to
    put them in file order (TFDS stores them shuffled).
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if split not in SPLITS:
        raise ValueError(f"NYU Depth v2 split must be one of {sorted(SPLITS)}, got {split!r}")
    path = resolve_mat_path(mat_path)
    if os.path.basename(path) != "nyu_depth_v2_labeled.mat":
        raise ValueError(f"NYU Depth v2: the TFDS builder reads <folder>/nyu_depth_v2_labeled.mat, "
                         f"got {path}; rename the file or use iter_labeled")
    hw = _hw(image_size)
    config = _TFDS_CONFIGS.get(hw, "full")
    builder = _tfds_builder(path, config, tfds_data_dir, on_change)
    n_train, n_test = (builder.info.splits[s].num_examples for s in ("train", "test"))
    wanted = [int(i) for i in split_range(split, n_train + n_test, protocol, path)][:limit]
    found = {}
    # the builder's own splits hold frames [0, n_train) and [n_train, n_train + n_test)
    parts = [s for s, lo, hi in (("train", 0, n_train), ("test", n_train, n_train + n_test))
             if any(lo <= i < hi for i in wanted)]
    if parts:
        keep = tf.constant(wanted, tf.int64)
        ds = builder.as_dataset(split="+".join(parts), shuffle_files=False)
        ds = ds.filter(lambda e: tf.reduce_any(tf.equal(tf.cast(e["index"], tf.int64), keep)))
        for ex in tfds.as_numpy(ds):
            found[int(ex["index"])] = (ex["rgb"], ex["depth"])
    for i in wanted:
        rgb, depth = found.pop(i)
        if config == "full":
            rgb, depth = _resize(rgb, depth, hw)
        yield int(i), rgb, depth


def load_labeled(mat_path, split: str = "train", image_size: Size = 256,
                 limit: Optional[int] = None, tfds_data_dir: Optional[str] = None,
                 on_change: Optional[str] = None,
                 protocol: str = nyu_splits.DEFAULT_PROTOCOL) -> NyuArrays:
    """:func:`read_labeled` through the TFDS builder (see :func:`iter_labeled_tfds`): the same
    :class:`NyuArrays`, equal array for array."""
    return _stack_frames(iter_labeled_tfds(mat_path, split, image_size, limit, tfds_data_dir,
                                           on_change, protocol), mat_path, split)


def frames(data_dir, split: str, image_size: Size, limit: Optional[int] = None,
           via_tfds: bool = True, protocol: str = nyu_splits.DEFAULT_PROTOCOL) -> NyuArrays:
    """The frames the registry's readers use: through the TFDS builder (:func:`load_labeled`,
    prepared once into the cache) or, with ``via_tfds=False``, straight from the file
    (:func:`read_labeled`); the same arrays either way. ``protocol``: the split
    (``data_pipelines.nyu_splits``)."""
    read = load_labeled if via_tfds else read_labeled
    return read(data_dir, split, image_size, limit=limit, protocol=protocol)


def write_labeled_fixture(path, num_frames: int = 6, height: int = 48, width: int = 64,
                          seed: int = 0) -> str:
    """Writes a tiny HDF5 file in the labeled .mat's structure (for tests and demos).

    RGB is a random colour field; depth is a tilted plane plus a box, in [0.5, 9.5] m, so that
    geometry is visible. Axis order is the MATLAB one (images N x 3 x W x H, depths N x W x H).
    """
    import h5py

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    images = np.empty((num_frames, 3, width, height), np.uint8)
    depths = np.empty((num_frames, width, height), np.float32)
    for n in range(num_frames):
        slope = rng.uniform(0.5, 2.0, size=2)
        depth = 1.0 + slope[0] * xx / width + slope[1] * yy / height
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        depth[y0:y0 + height // 3, x0:x0 + width // 3] -= 0.4
        depth = np.clip(depth + rng.uniform(0, 4), 0.5, 9.5).astype(np.float32)
        rgb = (rng.uniform(0, 1, (height, width, 3)) * 64 + (depth[..., None] / 10.0) * 190)
        images[n] = np.transpose(rgb.astype(np.uint8), (2, 1, 0))
        depths[n] = np.transpose(depth)
    with h5py.File(os.fspath(path), "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("depths", data=depths)
    return os.fspath(path)


def rgbd_records(split: str, data_dir=None, limit: Optional[int] = None,
                 via_tfds: bool = True,
                 protocol: str = nyu_splits.DEFAULT_PROTOCOL) -> list:
    """``[(name, rgb uint8, depth float32 metres, valid)]`` of ``split`` at the native 480x640
    (the 'rgbd_records' view of data_pipelines.registry; at most ``limit`` frames; see
    :func:`frames` for ``via_tfds``). ``data_dir``: the labeled .mat or its folder."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    got = frames(data_dir, split, None, limit, via_tfds, protocol)
    return [(f"nyu_{i:04d}", rgb, depth, np.isfinite(depth) & (depth > 0))
            for i, rgb, depth in zip(got.index, got.rgb, got.depth)]
