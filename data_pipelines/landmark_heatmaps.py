"""Landmark heat maps: the target of the optional landmark head of TS-GAN's G_A2B (issue 20).

Not in TS-GAN (paper or code). ``TSGANConfig.lambda_landmark`` > 0 asks G_A2B for K extra
output maps beside depth and fits them to these maps (``depthlab.models.tsgan``), so that the
shared features are made to find the nose, eyes, mouth and chin of each training face
(BUILD_NOTES, "A landmark head").

Each map is a group of points of the iBUG / dlib 68-point order that
``synthetic_faces.generate_face`` gives (0-based): a point is the mean of its indices, drawn as
an unnormalised Gaussian exp(-r^2 / (2 sigma^2)) (peak 1 at the point), the group's map is the
maximum over its points. Every group is closed under the left-right mirror (a midline point, or
a mirrored pair), so a horizontal flip of the image flips the maps and changes no channel's
meaning: the maps ride through the trainer's flips and framing warps as image channels. A point
is left out when any of its indices is not visible (``landmarks_visible``: out of frame, facing
away or occluded).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

#: (name, points); a point = the iBUG-68 indices (0-based) averaged into one position
LANDMARK_GROUPS: Tuple[Tuple[str, Tuple[Tuple[int, ...], ...]], ...] = (
    ("nose_tip", ((30,),)),
    ("eyes", (tuple(range(36, 42)), tuple(range(42, 48)))),     # the two eye centres
    ("mouth", ((48,), (54,), (51,), (57,))),                    # corners, upper and lower lip
    ("chin", ((8,),)),
)
NUM_MAPS = len(LANDMARK_GROUPS)


def landmark_heatmaps(landmarks, visible, height: int, width: int,
                      sigma: float) -> np.ndarray:
    """(height, width, NUM_MAPS) float32 in [0, 1] from ``landmarks`` (68, 2) pixel (x, y)
    (pixel centres at i + 0.5, as ``generate_face``) and ``visible`` (68,) bool."""
    landmarks = np.asarray(landmarks, np.float64)
    visible = np.asarray(visible, bool)
    if landmarks.shape != (68, 2) or visible.shape != (68,):
        raise ValueError(f"landmark_heatmaps: landmarks must be (68, 2) and visible (68,), got "
                         f"{landmarks.shape} and {visible.shape}")
    if not sigma > 0:
        raise ValueError(f"landmark_heatmaps: sigma must be > 0 pixels, got {sigma!r}")
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    out = np.zeros((height, width, NUM_MAPS), np.float64)
    for k, (_, points) in enumerate(LANDMARK_GROUPS):
        for idx in points:
            idx = list(idx)
            if not visible[idx].all():
                continue
            x, y = landmarks[idx].mean(axis=0)
            blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2.0 * sigma ** 2))
            out[..., k] = np.maximum(out[..., k], blob)
    return out.astype(np.float32)
