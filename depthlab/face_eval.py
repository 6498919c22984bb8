"""Evaluation measures of the face depth enhancement paper (Schlett, Rathgeb, Busch,
"Deep Learning-based Single Image Face Depth Data Enhancement", CVIU 2021, arXiv:2006.11091),
Tables IV-VII.

The one owner of these measures (``depthlab.metrics`` no longer has roughness / hole
fraction / falsification copies; the evaluation tables of ``depthlab.runners.enhancer_eval``
call this module). Self-contained NumPy (plus ``cv2.fillPoly`` for the face mask). Every function
takes ONE image ``(H, W)`` (a trailing channel axis of size 1 is accepted), computes in
float64 and returns Python floats. Depth may be float (e.g. normalised to [0, 1]) or uint16;
no function guesses the hole convention: holes are named by an explicit boolean ``valid``
mask (True = measured depth) or an explicit ``hole_value``.

Input contract and NaN policy (as ``depthlab.metrics``): a non-numeric or boolean depth is a
``TypeError``, a non-boolean mask a ``TypeError``, a wrong shape, an empty image or an empty
pixel set a ``ValueError`` naming the argument. A non-finite value (NaN/inf) among the pixels
an RMSE evaluates (``face_area_rmse``: ``pred`` and ``gt`` on the used pixels;
``falsification_rmse``: ``input_depth`` and ``output_depth`` on the used pixels) raises
``ValueError`` naming the argument and the count, never a NaN result. The hole measures
(``roughness_map``, ``roughness``, ``hole_percentage``, ``landmark_hole_rate``, PAD) treat a
non-finite depth value as a hole, as documented on each.

| function | paper | value | pixels used |
|---|---|---|---|
| face_area_rmse | Table IV | sqrt(mean((p - g)^2)), depth units | g's non-hole pixels (n = their count) |
| distribution_stats | Table IV columns | mean, std, skewness, excess kurtosis (population moments) | the values given |
| roughness_map / roughness | Table V | mean abs(d - mean of 8 neighbours), depth units | face mask pixels with a full, hole-free 3x3 block |
| hole_percentage | Table V | fraction in [0, 1] | face mask pixels |
| falsification_rmse | Table VI | sqrt(mean((out - in)^2)), depth units | face mask and input not a hole |
| landmark_hole_rate | Table VII | fraction in [0, 1] | the landmarks |
| pad_error | Table VII | fraction of the 68 landmarks that are invalid, [0, 1] | the 68 landmarks |

The paper prints Tables V-VII (and Table VI's RMSE) in percent, i.e. x100: these functions
return fractions / raw depth units and the table printer multiplies. Table IV's RMSE values
(0.0238 ... 0.3918) appear to be on depth normalised to [0, 1] (the paper's 16-bit codes /
65535; inferred from their size); feed normalised depth to compare.

Landmark coordinates are (x, y) = (column, row) pixel coordinates. ``pixel_centre`` says
where pixel ``(i, j)``'s centre lies: 0.0 (default) = at ``(j, i)`` (dlib's integer points,
the paper's landmark detector); 0.5 = at ``(j + 0.5, i + 0.5)`` (``data_pipelines.
synthetic_faces``). A landmark's pixel is the nearest pixel centre (``floor(c - pixel_centre +
0.5)``, ties round up).
"""

from __future__ import annotations

from typing import Dict, Optional

import cv2
import numpy as np

__all__ = [
    "NUM_LANDMARKS", "NOSE_TIP", "CHIN_CENTRE", "JAW", "face_area_rmse", "distribution_stats",
    "roughness_map", "roughness", "hole_percentage", "falsification_rmse", "landmark_pixels",
    "landmark_hole_rate", "pad_landmark_validity", "pad_error", "face_mask_from_landmarks",
    "sample_stats", "manual_landmarks_from_dlib", "landmark_hole_subset", "subset_stats",
]

NUM_LANDMARKS = 68
NOSE_TIP = 30        # 0-based dlib / iBUG index of the nose tip ("landmark 31" 1-based)
CHIN_CENTRE = 8      # 0-based index of the chin centre ("landmark 9" 1-based)
JAW = tuple(range(17))
PRED_HOLE_POLICIES = ("as_is", "fill", "exclude")


# ----------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------

def _image(x, name: str, fn: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{fn}: {name} must be one image (H, W) or (H, W, 1), got shape "
                         f"{np.shape(x)}")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.number)):
        raise TypeError(f"{fn}: {name} must be numeric depth, got dtype {a.dtype}")
    return a.astype(np.float64)


def _mask(m, shape, name: str, fn: str) -> np.ndarray:
    a = np.asarray(m)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype != bool:
        raise TypeError(f"{fn}: {name} must be a boolean mask, got dtype {a.dtype}")
    if a.shape != tuple(shape):
        raise ValueError(f"{fn}: {name} has shape {a.shape}, expected {tuple(shape)}")
    return a


def _check_finite(values: np.ndarray, name: str, fn: str) -> None:
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"{fn}: {name} holds {bad} non-finite value(s) (NaN/inf) among the "
                         f"{values.size} evaluated pixels")


def _same_shape(a, b, na, nb, fn):
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {na} has shape {a.shape} but {nb} has shape {b.shape}")


def _valid_from(depth: np.ndarray, hole_value, valid, fn: str) -> np.ndarray:
    """Exactly one of ``hole_value`` / ``valid``; non-finite depth is always a hole."""
    if (hole_value is None) == (valid is None):
        raise ValueError(f"{fn}: pass exactly one of hole_value= or valid= (the hole "
                         "convention is not guessed)")
    if valid is not None:
        return _mask(valid, depth.shape, "valid", fn) & np.isfinite(depth)
    return (depth != float(hole_value)) & np.isfinite(depth)


def _landmarks(xy, fn: str, count: Optional[int] = None) -> np.ndarray:
    a = np.asarray(xy, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or (count is not None and a.shape[0] != count):
        want = f"({count}, 2)" if count is not None else "(N, 2)"
        raise ValueError(f"{fn}: landmarks must have shape {want} (x, y), got {np.shape(xy)}")
    return a


def landmark_pixels(landmarks_xy, shape, pixel_centre: float = 0.0):
    """``(rows, cols, inside)``: each landmark's nearest pixel and whether it lies in the image
    (non-finite landmarks are outside). ``rows``/``cols`` are clipped into the image so they
    can index it; use ``inside`` to tell the clipped ones apart."""
    a = _landmarks(landmarks_xy, "landmark_pixels")
    h, w = shape
    finite = np.isfinite(a).all(1)
    safe = np.where(finite[:, None], a, -1e9)
    col = np.floor(safe[:, 0] - pixel_centre + 0.5)
    row = np.floor(safe[:, 1] - pixel_centre + 0.5)
    inside = finite & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    return (np.clip(row, 0, h - 1).astype(np.int64), np.clip(col, 0, w - 1).astype(np.int64),
            inside)


# ----------------------------------------------------------------------------------------
# Table IV: face-area RMSE on synthetic data and its distribution over the test set
# ----------------------------------------------------------------------------------------

def face_area_rmse(pred, gt, gt_valid, *, pred_valid=None, pred_holes: str = "as_is",
                   hole_fill: float = 1.0) -> float:
    """Table IV: RMSE over the ground truth's non-hole pixels, ``n`` = their count.

    ``sqrt(sum_{gt_valid} (pred - gt)^2 / n)`` in the depth units of the inputs (the paper's
    values are on depth normalised to [0, 1]; range [0, inf)).

    Holes in ``pred`` inside the face area (``pred_holes``):
      - ``"as_is"`` (default, the paper's convention): the stored value is used unchanged. The
        paper's enhancer outputs mark holes with the maximum value (65535 in 16 bits, 1.0
        normalised), so an unfilled hole costs a (near-)maximal error. ``pred_valid`` is not
        needed and is ignored.
      - ``"fill"``: pixels with ``pred_valid == False`` are set to ``hole_fill`` (default 1.0,
        the paper's normalised hole value) first; use it when ``pred`` uses another hole code
        (e.g. 0) but should be scored as the paper does.
      - ``"exclude"``: pred holes are dropped from the pixel set (a diagnostic, not the
        paper's measure); ``n`` is then the count of pixels valid in both.

    Raises ValueError when no pixel is used (empty ``gt_valid``, or everything excluded).
    """
    fn = "face_area_rmse"
    p = _image(pred, "pred", fn)
    g = _image(gt, "gt", fn)
    _same_shape(p, g, "pred", "gt", fn)
    use = _mask(gt_valid, g.shape, "gt_valid", fn)
    if pred_holes not in PRED_HOLE_POLICIES:
        raise ValueError(f"{fn}: pred_holes must be one of {PRED_HOLE_POLICIES}, got "
                         f"{pred_holes!r}")
    if pred_holes != "as_is":
        if pred_valid is None:
            raise ValueError(f"{fn}: pred_holes={pred_holes!r} needs pred_valid")
        pv = _mask(pred_valid, p.shape, "pred_valid", fn)
        if pred_holes == "fill":
            p = np.where(pv, p, float(hole_fill))
        else:
            use = use & pv
    if not use.any():
        raise ValueError(f"{fn}: the ground truth's valid mask selects no pixels (shape "
                         f"{g.shape})" + ("" if pred_holes != "exclude" else
                                          " once pred holes are excluded"))
    _check_finite(p[use], "pred", fn)
    _check_finite(g[use], "gt", fn)
    d = p[use] - g[use]
    return float(np.sqrt(np.mean(d * d)))


def distribution_stats(values) -> Dict[str, float]:
    """Table IV's columns for a set of per-image values: ``mean``, ``std``, ``skewness``,
    ``excess_kurtosis``.

    Population (biased) moments with ``m_k = mean((x - mean)^k)``: ``std = sqrt(m2)``,
    ``skewness = m3 / m2^1.5``, ``excess_kurtosis = m4 / m2^2 - 3`` (= scipy.stats.skew /
    kurtosis(fisher=True) with bias=True). Skewness and kurtosis are NaN when all values are
    equal (m2 = 0). Raises ValueError for no values or non-finite ones.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("distribution_stats: values is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"distribution_stats: values contain {int((~np.isfinite(x)).sum())} "
                         "non-finite entries")
    mean = float(x.mean())
    c = x - mean
    m2, m3, m4 = (float(np.mean(c ** k)) for k in (2, 3, 4))
    if m2 == 0.0:
        skew = kurt = float("nan")
    else:
        skew = m3 / m2 ** 1.5
        kurt = m4 / m2 ** 2 - 3.0
    return {"mean": mean, "std": float(np.sqrt(m2)), "skewness": float(skew),
            "excess_kurtosis": float(kurt)}


# ----------------------------------------------------------------------------------------
# Table V: roughness and hole percentage on real images
# ----------------------------------------------------------------------------------------

def roughness_map(depth, valid) -> np.ndarray:
    """Table V's per-pixel roughness: the response of the 3x3 kernel with centre 1 and the 8
    neighbours -1/8, i.e. ``d(i, j) - mean of its 8 neighbours`` (signed, depth units).

    A pixel gets a value only when its whole 3x3 block lies in the image and is valid (a hole
    value would otherwise act as depth); every other pixel, the one-pixel image border
    included, is NaN. Returns a float64 (H, W) array.
    """
    fn = "roughness_map"
    d = _image(depth, "depth", fn)
    v = _mask(valid, d.shape, "valid", fn) & np.isfinite(d)
    h, w = d.shape
    out = np.full((h, w), np.nan)
    if h < 3 or w < 3:
        return out
    dz = np.where(v, d, 0.0)
    nsum = np.zeros((h - 2, w - 2))
    full = np.ones((h - 2, w - 2), dtype=bool)
    for di in (0, 1, 2):
        for dj in (0, 1, 2):
            full &= v[di:di + h - 2, dj:dj + w - 2]
            if (di, dj) != (1, 1):
                nsum += dz[di:di + h - 2, dj:dj + w - 2]
    resp = dz[1:-1, 1:-1] - nsum / 8.0
    out[1:-1, 1:-1] = np.where(full, resp, np.nan)
    return out


def roughness(depth, face_mask, valid) -> float:
    """Table V: mean of ``abs(roughness_map)`` over the face-mask pixels whose 3x3 block is in
    the image and hole-free (see :func:`roughness_map`); depth units, range [0, inf).

    The paper prints it x100 (on normalised depth); this returns the unscaled value. Raises
    ValueError when no face pixel qualifies (empty mask, or every block touches a hole).
    """
    fn = "roughness"
    d = _image(depth, "depth", fn)
    m = _mask(face_mask, d.shape, "face_mask", fn)
    r = roughness_map(d, valid)
    use = m & np.isfinite(r)
    if not use.any():
        raise ValueError(f"{fn}: no face_mask pixel (of {int(m.sum())}) has a hole-free, "
                         f"in-image 3x3 neighbourhood (shape {d.shape})")
    return float(np.mean(np.abs(r[use])))


def hole_percentage(depth, face_mask, hole_value=None, *, valid=None) -> float:
    """Table V: the fraction of face-mask pixels that are holes, in [0, 1] (the paper prints
    x100). Holes are ``depth == hole_value`` or ``~valid`` (give exactly one), plus any
    non-finite value. Raises ValueError for an empty face mask."""
    fn = "hole_percentage"
    d = _image(depth, "depth", fn)
    m = _mask(face_mask, d.shape, "face_mask", fn)
    v = _valid_from(d, hole_value, valid, fn)
    if not m.any():
        raise ValueError(f"{fn}: face_mask selects no pixels (shape {d.shape})")
    return float(np.mean(~v[m]))


# ----------------------------------------------------------------------------------------
# Table VI: falsification of occluded (non-face) input
# ----------------------------------------------------------------------------------------

def falsification_rmse(input_depth, output_depth, face_mask, input_valid) -> float:
    """Table VI: RMSE between the enhancer's input and output within the face mask, ignoring
    the input's hole pixels: ``sqrt(mean_{face_mask & input_valid} (out - in)^2)``, depth
    units, range [0, inf) (the paper prints it in percent of the normalised range, x100).

    Output values are used as stored (a hole left in the output counts with its hole value,
    as in :func:`face_area_rmse`'s ``"as_is"``). Raises ValueError when no pixel is used.
    """
    fn = "falsification_rmse"
    a = _image(input_depth, "input_depth", fn)
    b = _image(output_depth, "output_depth", fn)
    _same_shape(a, b, "input_depth", "output_depth", fn)
    m = _mask(face_mask, a.shape, "face_mask", fn)
    v = _mask(input_valid, a.shape, "input_valid", fn)
    use = m & v
    if not use.any():
        raise ValueError(f"{fn}: face_mask & input_valid selects no pixels (face_mask has "
                         f"{int(m.sum())}, shape {a.shape})")
    _check_finite(a[use], "input_depth", fn)
    _check_finite(b[use], "output_depth", fn)
    d = b[use] - a[use]
    return float(np.sqrt(np.mean(d * d)))


# ----------------------------------------------------------------------------------------
# Table VII: landmark holes and the simple geometric PAD
# ----------------------------------------------------------------------------------------

def _landmark_holes(d, v, xy, pixel_centre):
    rows, cols, inside = landmark_pixels(xy, d.shape, pixel_centre)
    hole = ~inside | ~v[rows, cols]
    return hole, d[rows, cols]


def landmark_hole_rate(depth, landmarks_xy, hole_value=None, *, valid=None,
                       pixel_centre: float = 0.0) -> float:
    """Table VII "landmark holes": the fraction of the given landmarks (6 manual KinectFaceDB
    points or the 68 Dlib points) whose nearest pixel is a hole, in [0, 1].

    Holes are ``depth == hole_value`` or ``~valid`` (exactly one), plus non-finite values.
    A landmark outside the image, or with a non-finite coordinate, counts as a hole (no depth
    can be read there). Raises ValueError for zero landmarks.
    """
    fn = "landmark_hole_rate"
    d = _image(depth, "depth", fn)
    xy = _landmarks(landmarks_xy, fn)
    if len(xy) == 0:
        raise ValueError(f"{fn}: no landmarks given (shape {xy.shape})")
    v = _valid_from(d, hole_value, valid, fn)
    hole, _ = _landmark_holes(d, v, xy, pixel_centre)
    return float(np.mean(hole))


def pad_landmark_validity(depth, landmarks68_xy, valid, *, near_is_small: bool = True,
                          pixel_centre: float = 0.0) -> Dict[str, np.ndarray]:
    """The per-landmark rules of Table VII's simple geometric PAD (bool arrays of shape (68,)).

    With ``z_k`` the depth at landmark ``k``'s nearest pixel and "a nearer than b" meaning
    ``z_a < z_b`` (``near_is_small=True``: mm, distance) or ``z_a > z_b`` (near-is-bright
    images):

    - ``hole``: ``k``'s pixel is a hole (``~valid``, non-finite) or outside the image.
    - ``nearer_than_nose``: ``k`` is not a hole and strictly nearer than the nose tip
      (``NOSE_TIP`` = 30, 0-based). If the nose tip itself is a hole this rule is skipped.
    - ``jaw_order``: for jaw landmarks, walking outward from the chin centre
      (``CHIN_CENTRE`` = 8, "landmark 9" 1-based) along 8->7->...->0 and 8->9->...->16, each
      landmark must be at least as far as its predecessor on the walk; ``k`` is flagged when
      it is strictly nearer than the predecessor. The predecessor is the nearest non-hole
      landmark before ``k`` on the walk (holes carry no depth); if there is none, or ``k``
      is a hole, no comparison is made. The chin centre itself has no predecessor. A
      flagged landmark is still the predecessor of the next one (the rule compares
      neighbours, not a running maximum).
    - ``invalid`` = ``hole | nearer_than_nose | jaw_order`` (a landmark counts once).
    """
    fn = "pad_landmark_validity"
    d = _image(depth, "depth", fn)
    xy = _landmarks(landmarks68_xy, fn, NUM_LANDMARKS)
    v = _mask(valid, d.shape, "valid", fn) & np.isfinite(d)
    hole, z = _landmark_holes(d, v, xy, pixel_centre)
    z = z if near_is_small else -z          # from here on: smaller = nearer
    nearer_nose = np.zeros(NUM_LANDMARKS, dtype=bool)
    if not hole[NOSE_TIP]:
        nearer_nose = ~hole & (z < z[NOSE_TIP])
    jaw = np.zeros(NUM_LANDMARKS, dtype=bool)
    for walk in (range(CHIN_CENTRE, -1, -1), range(CHIN_CENTRE, 17)):
        prev = None
        for k in walk:
            if hole[k]:
                continue
            if prev is not None and z[k] < z[prev]:
                jaw[k] = True
            prev = k
    return {"hole": hole, "nearer_than_nose": nearer_nose, "jaw_order": jaw,
            "invalid": hole | nearer_nose | jaw}


def pad_error(depth, landmarks68_xy, valid, *, near_is_small: bool = True,
              pixel_centre: float = 0.0) -> float:
    """Table VII "simple geometric PAD" error: the fraction of the 68 Dlib landmarks that are
    invalid (``pad_landmark_validity(...)["invalid"]``: a hole, nearer than the nose tip, or
    a jaw landmark nearer than its predecessor walking out from the chin centre), in [0, 1]
    (the paper prints x100). For a bona fide face a lower value is better."""
    return float(np.mean(pad_landmark_validity(depth, landmarks68_xy, valid,
                                               near_is_small=near_is_small,
                                               pixel_centre=pixel_centre)["invalid"]))


def face_mask_from_landmarks(landmarks68_xy, shape, *, method: str = "hull",
                             pixel_centre: float = 0.0) -> np.ndarray:
    """The face mask of Tables V-VII from the 68 Dlib landmarks, rasterised with
    ``cv2.fillPoly`` (boundary pixels included). ``method="hull"``: the convex hull of all 68
    points; ``"jaw_brows"``: the polygon jaw 0..16 then brows 26..17 (the face outline the
    landmarks trace). Returns a bool (H, W) mask. Raises ValueError for non-finite landmarks.
    """
    fn = "face_mask_from_landmarks"
    xy = _landmarks(landmarks68_xy, fn, NUM_LANDMARKS)
    if not np.isfinite(xy).all():
        raise ValueError(f"{fn}: landmarks contain non-finite coordinates")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"{fn}: shape must be (H, W), got {shape!r}")
    shift = 4                               # 4 fractional bits: sub-pixel vertex positions
    pts = np.round((xy - pixel_centre) * (1 << shift)).astype(np.int32)
    if method == "hull":
        poly = cv2.convexHull(pts.reshape(-1, 1, 2))
    elif method == "jaw_brows":
        order = list(range(17)) + list(range(26, 16, -1))
        poly = pts[order].reshape(-1, 1, 2)
    else:
        raise ValueError(f"{fn}: method must be 'hull' or 'jaw_brows', got {method!r}")
    mask = np.zeros(tuple(int(s) for s in shape), dtype=np.uint8)
    cv2.fillPoly(mask, [poly], 1, lineType=cv2.LINE_8, shift=shift)
    return mask.astype(bool)


# ----------------------------------------------------------------------------------------
# Tables V-VII summaries and Table VII's image selection
# ----------------------------------------------------------------------------------------

def sample_stats(values) -> Dict[str, float]:
    """Tables V-VII's summaries of per-image values: ``mean``, ``sd`` (the *sample* standard
    deviation, n - 1: the Table V and VI captions, "numbers inside brackets the sample
    standard deviation", lines 1119 and 1191; Table VII's caption, lines 1294-1296),
    ``min``, ``max``. One value gives sd 0.0.
    Raises ValueError for no values or non-finite ones."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("sample_stats: values is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"sample_stats: values contain {int((~np.isfinite(x)).sum())} "
                         "non-finite entries")
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    return {"mean": float(x.mean()), "sd": sd, "min": float(x.min()), "max": float(x.max())}


#: The six manual KinectFaceDB landmarks as indices of the 68 Dlib points: left eye centre
#: (mean of 36-41), right eye centre (42-47), nose tip 30, mouth corners 48 and 54, chin 8.
#: Schlett et al. only say "the six landmarks manually defined in KinectFaceDB" (line
#: 1271); which six is our reading of the dataset's annotation (eyes, nose tip, mouth
#: corners, chin), not the paper's text.
MANUAL_LANDMARKS = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47), (30,), (48,), (54,),
                    (8,))


def manual_landmarks_from_dlib(landmarks68_xy) -> np.ndarray:
    """The six manual-landmark stand-ins (:data:`MANUAL_LANDMARKS`) from 68 Dlib points,
    shape (6, 2) (x, y)."""
    xy = _landmarks(landmarks68_xy, "manual_landmarks_from_dlib", NUM_LANDMARKS)
    return np.stack([xy[list(group)].mean(axis=0) for group in MANUAL_LANDMARKS])


def landmark_hole_subset(hole_rates) -> np.ndarray:
    """Table VII's selection: indices of the images whose unenhanced input has at least one
    landmark hole (rate > 0), "the subset of the KinectFaceDB depth images with at least one
    landmark hole depth error" (lines 1273-1276: 77 images for the manual, 245 for the Dlib
    landmarks; non-Occlusion variants only for Dlib, lines 1276-1277). ``hole_rates``:
    per-image :func:`landmark_hole_rate` of the inputs."""
    r = np.asarray(hole_rates, dtype=np.float64).ravel()
    if not np.isfinite(r).all() or (r < 0).any() or (r > 1).any():
        raise ValueError(f"landmark_hole_subset: hole rates must be fractions in [0, 1], got "
                         f"{r.tolist()[:10]}")
    return np.flatnonzero(r > 0)


def subset_stats(values, subset) -> Optional[Dict[str, float]]:
    """:func:`sample_stats` of ``values[subset]`` (e.g. an enhancer's per-image output hole
    rates on the images :func:`landmark_hole_subset` chose from the inputs); None when the
    subset is empty (no input image had a landmark hole)."""
    idx = np.asarray(subset, dtype=np.int64).ravel()
    return sample_stats(np.asarray(values, dtype=np.float64)[idx]) if idx.size else None
