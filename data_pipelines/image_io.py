"""Robust decoding of RGB images and depth maps from files (OpenCV), with errors that name the file.

Every reader in ``data_pipelines.datasets`` decodes through these functions, so a corrupt file, a
depth map of the wrong bit depth or a colour image where depth is expected fails the same way
everywhere: a ``FileNotFoundError`` or ``ValueError`` whose message carries the path.

Conventions (DESIGN.md): RGB is uint8 (H, W, 3) in **RGB** order (OpenCV decodes BGR; we flip).
Depth is returned as it is stored: uint16 (H, W), millimetres for the Kinect datasets, or uint8
(H, W) for datasets that ship 8-bit depth images (TS-GAN's cropped folders, EURECOM's DepthBMP);
0 = hole in both. No rescaling happens here: a paper's own depth convention is applied at the
edge (``data_pipelines.paired.tsgan_depth_to_unit``).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Tuple

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")


def is_image_file(path: str) -> bool:
    """True for the image extensions the readers accept (case-insensitive)."""
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS


def _imread_unchanged(path) -> np.ndarray:
    import cv2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file does not exist: {path}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"cannot decode image (empty file): {path}")
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot decode image (corrupt or unsupported format): {path}")
    return image


def read_rgb(path) -> np.ndarray:
    """Decodes a colour image to uint8 (H, W, 3) in RGB order.

    Grayscale files are replicated to 3 channels and an alpha channel is dropped. A 16-bit or
    float colour image is rejected (the face datasets store 8-bit colour).
    """
    import cv2

    image = _imread_unchanged(path)
    if image.dtype != np.uint8:
        bits = image.dtype.itemsize * 8
        raise ValueError(f"expected an 8-bit colour image, got {image.dtype} ({bits}-bit): {path}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    channels = image.shape[2]
    if channels == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"expected a 1-, 3- or 4-channel colour image, got {channels} channels: "
                     f"{path}")


def _bits_of(image: np.ndarray, path) -> int:
    if image.dtype == np.uint8:
        return 8
    if image.dtype == np.uint16:
        return 16
    raise ValueError(f"depth must be an 8-bit or 16-bit unsigned integer image, got "
                     f"{image.dtype}: {path}")


def read_depth(path, expected_bits: Optional[int] = 16) -> np.ndarray:
    """Decodes a depth image to (H, W) uint16 (16-bit files) or uint8 (8-bit files).

    Args:
      path: PNG/BMP/JPEG/TIFF file. A 3- or 4-channel file is accepted only when it is grayscale
        replicated over its colour channels (as TS-GAN's depth images are); alpha is ignored.
      expected_bits: 16 or 8 to require that bit depth (a mismatch raises
        ``ValueError("expected 16-bit depth, got 8-bit: <path>")``); None returns the file's own.
    """
    if isinstance(expected_bits, bool) or expected_bits not in (8, 16, None):
        raise ValueError(f"read_depth: expected_bits must be 8, 16 or None, got {expected_bits!r}")
    image = _imread_unchanged(path)
    bits = _bits_of(image, path)
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 4:
            image = image[:, :, :3]
        elif channels not in (1, 3):
            raise ValueError(f"depth must have 1, 3 or 4 channels, got {channels}: {path}")
        first = image[:, :, 0]
        if image.shape[2] == 3 and not (np.array_equal(first, image[:, :, 1])
                                        and np.array_equal(first, image[:, :, 2])):
            spread = int(np.max(image.max(axis=2).astype(np.int64) - image.min(axis=2)))
            raise ValueError(f"depth image has {image.shape[2]} colour channels that differ (max "
                             f"spread {spread}); expected single-channel or grayscale-replicated "
                             f"depth: {path}")
        image = np.ascontiguousarray(first)
    if expected_bits is not None and bits != expected_bits:
        raise ValueError(f"expected {expected_bits}-bit depth, got {bits}-bit: {path}")
    return image


def read_depth_xyz_txt(path, shape: Tuple[int, int], origin: Tuple[int, int] = (0, 0)
                       ) -> np.ndarray:
    """Reads a whitespace-separated ``x y depth`` text file into a uint16 (H, W) map.

    This is EURECOM KinectFaceDb's raw ``Depth/DepthKinect/*.txt`` format: one triple per
    pixel, ``x`` (column) and ``y`` (row) in the full 640x480 Kinect frame and depth in
    millimetres; the 256x256 face crop starts at ``origin = (x0, y0) = (192, 74)``. Pixels that
    no line mentions stay 0 (hole).

    Args:
      path: the text file.
      shape: (H, W) of the output map.
      origin: (x0, y0) subtracted from the file's coordinates.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"depth text file does not exist: {path}")
    try:
        height, width = (int(v) for v in shape)
        x0, y0 = (int(v) for v in origin)
    except (TypeError, ValueError) as e:
        raise ValueError(f"read_depth_xyz_txt: shape must be (H, W) and origin (x0, y0) "
                         f"integers, got shape={shape!r}, origin={origin!r}: {path}") from e
    if height <= 0 or width <= 0 or (height, width) != tuple(shape):
        raise ValueError(f"read_depth_xyz_txt: shape must be positive integers (H, W), got "
                         f"{shape!r}: {path}")
    with open(path, "r", encoding="ascii", errors="strict") as f:
        try:
            values = np.array(f.read().split(), dtype=np.float64)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot parse depth text file (expected 'x y depth' numbers): "
                             f"{path}: {e}") from None
    if values.size == 0 or values.size % 3:
        raise ValueError(f"depth text file must hold 'x y depth' triples, got {values.size} "
                         f"numbers: {path}")
    triples = values.reshape(-1, 3)
    if not np.all(np.isfinite(triples)) or np.any(triples != np.round(triples)):
        raise ValueError(f"depth text file holds non-integer values: {path}")
    x = triples[:, 0].astype(np.int64) - x0
    y = triples[:, 1].astype(np.int64) - y0
    d = triples[:, 2]
    outside = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if np.any(outside):
        i = int(np.argmax(outside))
        raise ValueError(
            f"depth text file has pixel (x={int(triples[i, 0])}, y={int(triples[i, 1])}) "
            f"outside the {width}x{height} grid at origin {tuple(origin)}: {path}")
    if np.any(d < 0) or np.any(d > np.iinfo(np.uint16).max):
        raise ValueError(f"depth text file has depth outside [0, 65535] mm: {path}")
    out = np.zeros((height, width), np.uint16)
    out[y, x] = d.astype(np.uint16)
    return out


def check_same_size(rgb: np.ndarray, depth: np.ndarray, rgb_path, depth_path) -> None:
    """Raises if a paired RGB and depth do not share (H, W)."""
    if rgb.shape[:2] != depth.shape[:2]:
        raise ValueError(f"RGB {tuple(rgb.shape[:2])} and depth {tuple(depth.shape[:2])} sizes "
                         f"differ: {rgb_path} vs {depth_path}")


__all__: Sequence[str] = ("IMAGE_EXTENSIONS", "is_image_file", "read_rgb", "read_depth",
                          "read_depth_xyz_txt", "check_same_size")
