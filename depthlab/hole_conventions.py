"""Refusing depth given in the wrong hole convention (NumPy; the codes live in
``data_pipelines.conventions``).

Two conventions meet in the face enhancement code (Schlett et al.):

- **0 = hole** (``SDK_HOLE_CODE``): the RealSense SDK's Z16 frames and our millimetres.
  65535 there would be 65.5 m, which no RealSense camera reports, so a pixel at 65535
  (``PAPER_HOLE_CODE``) means the image is in the paper's convention: :func:`refuse_paper_holes`.
- **65535 = hole** (``PAPER_HOLE_CODE``): the paper's face-window codes, "the deep learning
  enhancers expect holes to be represented by the maximum value - i.e. 2^16 - 1 = 65535"
  (paper lines 1469-1474), valid depth 0 .. 65534 over "a 25cm range starting at the closest
  detected depth value" (lines 1465-1466). Code 0 is valid there but only the window's nearest
  point reaches it: on the degraded synthetic test faces 0.02-0.09 % of the pixels (measured,
  8 faces, GT window). An image with **no** pixel at 65535 and at least
  :data:`ZERO_HOLE_FRACTION` (1 %) of its pixels at 0 is read as 0-hole depth fed where 65535 is
  expected (:func:`refuse_zero_holes`); ``allow_zero_code=True`` accepts it (e.g. a flat,
  noise-free surface at the window's near end). The rule is ours: the paper states no check.
"""

from __future__ import annotations

import numpy as np

from data_pipelines.conventions import PAPER_HOLE_CODE, SDK_HOLE_CODE

#: 65535-hole images with no 65535 pixel and at least this fraction of 0 pixels are refused.
ZERO_HOLE_FRACTION = 0.01


def _images(depth) -> np.ndarray:
    d = np.asarray(depth)
    if d.ndim < 2:
        raise ValueError(f"expected (H, W) or a batch of images, got shape {d.shape}")
    return d.reshape((-1,) + d.shape[-2:]) if d.ndim > 2 else d[None]


def refuse_paper_holes(depth, where: str, fix: str) -> None:
    """``depth`` should hold 0 = hole: a pixel at 65535 is a ``ValueError`` naming ``where``
    (the function and input) and the count, and saying ``fix`` (how to convert)."""
    at_max = int(np.count_nonzero(np.asarray(depth) == PAPER_HOLE_CODE))
    if at_max:
        raise ValueError(
            f"{where}: depth holds {at_max} pixel(s) at {PAPER_HOLE_CODE}, the paper's hole "
            f"code; this input takes {SDK_HOLE_CODE} = hole (the SDK's convention): {fix}")


def zero_hole_images(depth, fraction: float = ZERO_HOLE_FRACTION) -> np.ndarray:
    """Indices of the images of ``depth`` ((H, W) or (..., H, W)) that look like 0-hole depth:
    no pixel at 65535 and at least ``fraction`` of the pixels at 0."""
    d = _images(depth)
    no_max = ~(d == PAPER_HOLE_CODE).any(axis=(1, 2))
    zeros = (d == SDK_HOLE_CODE).mean(axis=(1, 2))
    return np.flatnonzero(no_max & (zeros >= fraction))


def refuse_zero_holes(depth, where: str, fix: str, allow_zero_code: bool = False) -> None:
    """``depth`` should hold the paper's codes (65535 = hole): images that look like 0-hole
    depth (:func:`zero_hole_images`) are a ``ValueError`` naming ``where``, the images and the
    share of zeros, unless ``allow_zero_code``."""
    if allow_zero_code:
        return
    bad = zero_hole_images(depth)
    if bad.size:
        d = _images(depth)
        share = 100.0 * float((d[bad[0]] == SDK_HOLE_CODE).mean())
        raise ValueError(
            f"{where}: image(s) {bad.tolist()[:10]} have no pixel at {PAPER_HOLE_CODE} (the "
            f"paper's hole) but {share:.1f} % (image {bad[0]}) at {SDK_HOLE_CODE}: this looks "
            f"like {SDK_HOLE_CODE} = hole depth where {PAPER_HOLE_CODE} = hole is expected; {fix} "
            f"(or pass allow_zero_code=True if {SDK_HOLE_CODE} is the window's nearest depth)")
