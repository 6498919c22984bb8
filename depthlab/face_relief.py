"""Does a depth map carry a face's shape? Issue 20's two checks, as numbers.

1. **Better than any flat face** (RMSE over the face): over the *face front* -- the valid
   ground-truth pixels within ``front_mm`` of the nearest one (nose tip, cheeks, eyes,
   forehead, chin; not the neck, shoulders or background) -- the prediction's RMSE against
   the best flat face, the constant with the least RMSE (the ground truth's standard
   deviation over the region: no flat face does better). ``rmse_shape`` also removes the
   prediction's mean offset over the region (the shape alone).
2. **Nose, eye sockets and chin** at landmarks (``RELIEF_CONTRASTS``): depth differences, in
   millimetres, between named face points -- the nose tip against the eye centres and the
   cheeks, the chin against the neck below it. Points are named (``POINTS``); for images
   with iBUG/dlib 68-point landmarks (the procedural faces) ``points_from_68`` makes them,
   for photographs they are marked by hand (``tools/real_photo_check.py``). Each point's
   depth is the mean over a disc of ``radius`` px, so a one-pixel marking error moves it
   little.

Depth is TS-GAN's [0, 1] near-is-bright image (``data_pipelines.paired.tsgan_depth_to_unit``:
1 = the nearest valid point, 1/255 = ``face_range_mm`` behind it), so millimetres are
``face_range_mm`` x unit differences. NumPy only.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np

DEFAULT_FACE_RANGE_MM = 250.0
#: the face front: valid ground truth within this many mm of its nearest point
FRONT_MM = 60.0
#: the named points of a face (pixel (x, y))
POINTS = ("nose_tip", "left_eye", "right_eye", "left_cheek", "right_cheek", "chin", "neck")
#: (name, near point, far points): depth(near) - mean depth(far) in mm; > 0 = near is nearer
RELIEF_CONTRASTS = (("nose_vs_eyes", "nose_tip", ("left_eye", "right_eye")),
                    ("nose_vs_cheeks", "nose_tip", ("left_cheek", "right_cheek")),
                    ("chin_vs_neck", "chin", ("neck",)))
#: the neck point: this fraction of the nose-tip-to-chin distance below the chin
NECK_BELOW_CHIN = 0.35
#: mm of face per pixel of a 64 px procedural frame (~1.35 face heights of ~190 mm): the slope
#: scale of lit-surface pictures of face depth; only the look of the shading depends on it
FRAME_MM_PER_PIXEL_AT_64 = 4.0


def face_front_mask(gt_unit: np.ndarray, valid: np.ndarray,
                    face_range_mm: float = DEFAULT_FACE_RANGE_MM,
                    front_mm: float = FRONT_MM) -> np.ndarray:
    """Valid pixels within ``front_mm`` (inclusive) of the nearest valid one (near-is-bright
    [0, 1])."""
    gt_unit = np.asarray(gt_unit, np.float64)
    valid = np.asarray(valid, bool)
    if gt_unit.shape != valid.shape:
        raise ValueError(f"face_front_mask: depth {gt_unit.shape} and mask {valid.shape} differ")
    if not valid.any():
        return np.zeros_like(valid)
    # inclusive, with float32's rounding of whole-millimetre depths forgiven
    return valid & (gt_unit >= gt_unit[valid].max() - front_mm / face_range_mm - 1e-6)


def relief_errors(pred_unit: np.ndarray, gt_unit: np.ndarray, region: np.ndarray,
                  face_range_mm: float = DEFAULT_FACE_RANGE_MM) -> Dict[str, float]:
    """RMSE (mm) over ``region`` of the prediction, of the best flat face and of the
    prediction's shape (its mean offset over the region removed); Pearson r."""
    pred = np.asarray(pred_unit, np.float64)[region]
    gt = np.asarray(gt_unit, np.float64)[region]
    if gt.size < 2:
        raise ValueError(f"relief_errors: the region has {gt.size} pixel(s); need >= 2")
    flat = gt.std()
    centred_p, centred_g = pred - pred.mean(), gt - gt.mean()
    denom = np.sqrt((centred_p ** 2).sum() * (centred_g ** 2).sum())
    return {"rmse_mm": float(np.sqrt(np.mean((pred - gt) ** 2)) * face_range_mm),
            "rmse_flat_mm": float(flat * face_range_mm),
            "rmse_shape_mm": float(np.sqrt(np.mean((centred_p - centred_g) ** 2))
                                   * face_range_mm),
            "pearson_r": float((centred_p * centred_g).sum() / denom) if denom > 0 else 0.0}


def points_from_68(landmarks: np.ndarray) -> Dict[str, np.ndarray]:
    """The named points from iBUG/dlib 68 landmarks (pixel x, y): eye centres = mean of each
    eye's six points (36-41, 42-47; 36-41 is the subject's right eye, image left in a frontal
    view, named ``left_eye`` here: names are image sides), nose tip 30, cheeks = midpoints of
    jaw 1 / nostril 31 and jaw 15 / nostril 35, chin 8, neck = ``NECK_BELOW_CHIN`` x (chin -
    nose tip) below the chin."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"points_from_68: landmarks must be (68, 2), got {lm.shape}")
    chin, nose = lm[8], lm[30]
    return {"nose_tip": nose, "left_eye": lm[36:42].mean(0), "right_eye": lm[42:48].mean(0),
            "left_cheek": (lm[1] + lm[31]) / 2, "right_cheek": (lm[15] + lm[35]) / 2,
            "chin": chin, "neck": chin + NECK_BELOW_CHIN * (chin - nose)}


def disc_mean(depth: np.ndarray, xy, radius: float, valid: Optional[np.ndarray] = None) -> float:
    """Mean of ``depth`` over pixels whose centres (i + 0.5) lie within ``radius`` of ``xy``
    (and are ``valid``); NaN when there are none."""
    depth = np.asarray(depth, np.float64)
    h, w = depth.shape
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (xx + 0.5 - xy[0]) ** 2 + (yy + 0.5 - xy[1]) ** 2 <= radius ** 2
    if valid is not None:
        inside &= np.asarray(valid, bool)
    return float(depth[inside].mean()) if inside.any() else float("nan")


def point_radius(points: Mapping[str, np.ndarray]) -> float:
    """The disc radius (px) a named point's depth is averaged over: a tenth of the distance
    between ``left_eye`` and ``right_eye``, at least 1 px."""
    eyes = np.asarray(points["right_eye"], float) - np.asarray(points["left_eye"], float)
    return max(1.0, 0.1 * float(np.hypot(*eyes)))


def relief_contrasts(depth_unit: np.ndarray, points: Mapping[str, np.ndarray],
                     radius: Optional[float] = None, valid: Optional[np.ndarray] = None,
                     face_range_mm: float = DEFAULT_FACE_RANGE_MM) -> Dict[str, float]:
    """The ``RELIEF_CONTRASTS`` whose points are all given, in mm, for one near-is-bright
    depth image (e.g. a tight face crop has no chin or neck: its ``chin_vs_neck`` is left
    out). ``radius`` defaults to a tenth of the inter-eye distance (at least 1 px)."""
    unknown = sorted(set(points) - set(POINTS))
    if unknown:
        raise ValueError(f"relief_contrasts: unknown point names {unknown}; known: {POINTS}")
    usable = [(name, near, far) for name, near, far in RELIEF_CONTRASTS
              if near in points and all(f in points for f in far)]
    if not usable:
        raise ValueError(f"relief_contrasts: points {sorted(points)} make none of the contrasts "
                         f"{[(n, (a,) + b) for n, a, b in RELIEF_CONTRASTS]}")
    if radius is None:
        if "left_eye" not in points or "right_eye" not in points:
            raise ValueError("relief_contrasts: pass radius when the eyes are not given")
        radius = point_radius(points)
    at = {name: disc_mean(depth_unit, xy, radius, valid) for name, xy in points.items()}
    return {name: float((at[near] - np.mean([at[f] for f in far])) * face_range_mm)
            for name, near, far in usable}
