"""Framing real faces the way the procedural training faces are framed (issue 20), shared by
``real_photo_check`` and ``real_scan_check``: scikit-image's LBP frontal-face detector,
calibrated on procedural faces (``data_pipelines`` is imported from PYTHONPATH first, so a
baseline tree on PYTHONPATH calibrates with the faces its model was trained on), gives the
square frame around a detection; images and depth maps are cropped to it and points carried
into it. No flags (tools import it)."""

from __future__ import annotations

import numpy as np


def face_detector():
    """scikit-image's LBP frontal-face cascade."""
    import skimage.data
    from skimage.feature import Cascade

    return Cascade(skimage.data.lbp_frontal_face_cascade_filename())


def detect_face(detector, rgb: np.ndarray):
    """The largest detection's mean box (row, col, side) of all detections overlapping it,
    or None."""
    side = min(rgb.shape[:2])
    boxes = detector.detect_multi_scale(img=rgb, scale_factor=1.1, step_ratio=1,
                                        min_size=(max(24, side // 10),) * 2,
                                        max_size=(side, side))
    if not boxes:
        return None
    big = max(boxes, key=lambda b: b["width"])
    cy, cx = big["r"] + big["height"] / 2, big["c"] + big["width"] / 2
    near = [b for b in boxes if abs(b["r"] + b["height"] / 2 - cy) < big["height"] / 2
            and abs(b["c"] + b["width"] / 2 - cx) < big["width"] / 2]
    rows = np.mean([b["r"] + b["height"] / 2 for b in near])
    cols = np.mean([b["c"] + b["width"] / 2 for b in near])
    return float(rows), float(cols), float(np.mean([b["width"] for b in near]))


def calibrate(detector, n: int):
    """(side ratio, row offset, col offset): the mean detector box on procedural frames,
    box side / frame side and (box centre - frame centre) / box side."""
    from data_pipelines import synthetic_faces as sf

    cfg = sf.FaceConfig(image_size=256, yaw_deg=(-8.0, 8.0), pitch_deg=(-8.0, 8.0))
    stats = []
    for i in range(n):
        rgb = sf.generate_face(i, 0, cfg)["rgb"]
        box = detect_face(detector, rgb)
        if box is not None:
            r, c, s = box
            stats.append((s / 256.0, (r - 128.0) / s, (c - 128.0) / s))
    if not stats:
        raise RuntimeError("the face detector found no procedural face to calibrate on")
    ratio, dr, dc = np.mean(stats, 0)
    print(f"calibration: {len(stats)}/{n} procedural faces detected; box = {ratio:.3f} of the "
          f"frame, centre offset ({dr:+.3f}, {dc:+.3f}) box sides")
    return float(ratio), float(dr), float(dc)


def frame_of(box, calib):
    """(x0, y0, n): the square frame (top-left corner, side in image pixels) around a
    detection ``box`` (row, col, side) under the calibration ``calib``."""
    ratio, dr, dc = calib
    r, c, s = box
    side = s / ratio
    cy, cx = r - dr * s, c - dc * s
    return int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))


def with_neck(points):
    """``points`` plus the neck point ``face_relief.NECK_BELOW_CHIN`` x (chin - nose tip)
    below the chin, when both are given and the neck is not."""
    from depthlab import face_relief

    out = {name: np.asarray(xy, np.float64) for name, xy in points.items()}
    if "chin" in out and "nose_tip" in out and "neck" not in out:
        out["neck"] = out["chin"] + face_relief.NECK_BELOW_CHIN * (out["chin"] - out["nose_tip"])
    return out


def points_in_crop(points, box, calib, size: int):
    """Image-pixel points (x, y) -> the same points in ``crop_frame``'s ``size`` crop, with
    the neck point (``with_neck``)."""
    x0, y0, n = frame_of(box, calib)
    k = size / n
    return with_neck({name: np.array([(x - x0) * k, (y - y0) * k])
                      for name, (x, y) in points.items()})


def crop_frame(image: np.ndarray, box, calib, size: int, nearest: bool = False) -> np.ndarray:
    """The square frame around a detection ``box`` (row, col, side), 0 (black) outside the
    image, resized to ``size``: area when shrinking, bilinear when enlarging, or nearest
    neighbour with ``nearest`` (depth maps: no value is invented between a surface and a
    hole). Any dtype; (H, W) or (H, W, C)."""
    import cv2

    x0, y0, n = frame_of(box, calib)
    out = np.zeros((n, n) + image.shape[2:], image.dtype)
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(image.shape[0], y0 + n), min(image.shape[1], x0 + n)
    out[ys - y0:ye - y0, xs - x0:xe - x0] = image[ys:ye, xs:xe]
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if n > size else cv2.INTER_LINEAR
    return cv2.resize(out, (size, size), interpolation=interp)
