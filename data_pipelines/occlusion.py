"""Synthetic occluders for the falsification test of the face depth enhancement paper
(Schlett, Rathgeb, Busch, CVIU 2021 / arXiv:2006.11091, Table VI).

Table VI compares an enhancer's output with its input for KinectFaceDB's ``OcclusionMouth``
(a hand over the mouth) and ``OcclusionPaper`` (a paper sheet over half the face) images,
next to ``Neutral``. These functions put comparable occluders into any face depth image so
the measure can be run on synthetic or other data:

- :func:`occlude_mouth_hand`: a hand-like blob over the lower face: an elliptical palm that
  contains every mouth landmark (48-67) plus 4 finger capsules pointing to one side, never
  reaching the eyes (36-47): the blob is cut at a line below the lowest eye landmark.
- :func:`occlude_paper_sheet`: a rectangular sheet over one side (image-left or
  image-right) of the face: its inner edge runs parallel to the face midline, on the
  covered side of it, and it reaches past the outermost landmark, above the brows
  (forehead) and below the chin.

Depth convention: ``depth`` is one image (H, W), uint16 millimetres with ``hole_value`` 0 (the
house convention) or float; larger = farther. The occluder gets depth values nearer than
every valid face pixel it covers: ``z_ref - offset - ramp`` with ``z_ref`` the nearest valid
depth under the occluder (the median valid depth of the image if it covers only holes),
``offset`` drawn from ``offset_mm`` (default 20-60 mm) and ``ramp`` a linear ramp (the
hand's own slope, the sheet's tilt) from 0 to a total drawn from ``ramp_mm`` / ``tilt_mm``
along a random image direction. Occluder pixels over holes become valid (a real occluder
is measured). ``units_per_mm`` converts the millimetre parameters to the depth units (1 for
mm; e.g. 1/250 for depth normalised over the paper's 250 mm window; apply occluders before
normalising, since that window starts at the nearest point). Integer output is rounded;
an occluder value below 1 (too near for the dtype) raises ValueError.

Landmarks are the 68 iBUG / dlib points (x, y); ``pixel_centre`` as in
``depthlab.face_eval`` (0.0: dlib integer pixel centres; 0.5: ``synthetic_faces``). Shapes
are measured in a face frame: ``u`` along the eye line (left eye centre -> right eye
centre, so in-plane roll is followed), ``v`` perpendicular to it pointing down the face,
lengths in units of ``s`` = the distance between the eye centres. Every random draw comes
from ``np.random.default_rng(seed)``: same inputs and seed, same output.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

__all__ = ["occlude_mouth_hand", "occlude_paper_sheet", "MOUTH", "EYES"]

MOUTH = tuple(range(48, 68))
EYES = tuple(range(36, 48))
_LEFT_EYE = list(range(36, 42))
_RIGHT_EYE = list(range(42, 48))
_MIDLINE = [27, 28, 29, 30, 33, 51, 57, 62, 66, 8]   # nose ridge and tip, lip centres, chin


# ----------------------------------------------------------------------------------------
# shared helpers
# ----------------------------------------------------------------------------------------

def _inputs(depth, landmarks, seed, valid, hole_value, fn):
    d = np.asarray(depth)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"{fn}: depth must be one image (H, W), got shape {d.shape}")
    if not (np.issubdtype(d.dtype, np.integer) or np.issubdtype(d.dtype, np.floating)):
        raise TypeError(f"{fn}: depth must be an integer or float array, got {d.dtype}")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"{fn}: landmarks must have shape (68, 2) (x, y), got {lm.shape}")
    if not np.isfinite(lm[list(EYES) + list(MOUTH) + _MIDLINE]).all():
        raise ValueError(f"{fn}: eye, mouth and midline landmarks must be finite")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{fn}: seed must be an int >= 0, got {seed!r}")
    df = d.astype(np.float64)
    if valid is None:
        v = np.isfinite(df) & (df != float(hole_value))
    else:
        v = np.asarray(valid)
        if v.dtype != bool or v.shape != d.shape:
            raise ValueError(f"{fn}: valid must be a bool mask of shape {d.shape}, got "
                             f"{v.dtype} {v.shape}")
        v = v & np.isfinite(df)
    return d, df, v, lm, np.random.default_rng(int(seed))


def _range(r, name, fn):
    lo, hi = (float(x) for x in r)
    if not 0.0 <= lo <= hi:
        raise ValueError(f"{fn}: {name} must be a (low, high) pair with 0 <= low <= high, "
                         f"got {r!r}")
    return lo, hi


def _frame(lm):
    """Origin-free face frame: unit u along the eye line, unit v down the face, scale s."""
    left, right = lm[_LEFT_EYE].mean(0), lm[_RIGHT_EYE].mean(0)
    s = float(np.linalg.norm(right - left))
    if not s >= 4.0:
        raise ValueError(f"occlusion: the eye centres are {s:.2f} px apart; need >= 4 px")
    u = (right - left) / s
    v = np.array([-u[1], u[0]])
    return u, v, s


def _to_frame(x, y, origin, u, v):
    dx, dy = x - origin[0], y - origin[1]
    return dx * u[0] + dy * u[1], dx * v[0] + dy * v[1]


def _pixel_grid(shape, pixel_centre):
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return x + pixel_centre, y + pixel_centre


def _nearest_centres(points, pixel_centre):
    """Centres of the pixels nearest to ``points`` (landmark pixel rule of face_eval)."""
    return np.floor(points - pixel_centre + 0.5) + pixel_centre


def _fill(d, df, v, mask, rng, offset_range, ramp_range, units_per_mm, fn):
    """Writes the occluder depth ``z_ref - offset - ramp`` into ``mask``; see module doc."""
    out = df.copy()
    if not mask.any():
        return d.copy(), mask
    covered = mask & v
    if covered.any():
        z_ref = float(df[covered].min())
    elif v.any():
        z_ref = float(np.median(df[v]))
    else:
        raise ValueError(f"{fn}: depth has no valid pixel to place the occluder in front of")
    offset = rng.uniform(*offset_range) * units_per_mm
    total = rng.uniform(*ramp_range) * units_per_mm
    phi = rng.uniform(0.0, 2.0 * np.pi)
    rows, cols = np.nonzero(mask)
    p = np.cos(phi) * cols + np.sin(phi) * rows
    span = p.max() - p.min()
    t = (p - p.min()) / span if span > 0 else np.zeros_like(p)
    z = z_ref - offset - total * t
    if np.issubdtype(d.dtype, np.integer):
        z = np.round(z)
        info = np.iinfo(d.dtype)
        if z.min() < max(1, info.min):
            raise ValueError(f"{fn}: the face is too near ({z_ref:g}) for an occluder "
                             f"{offset + total:g} units in front of it in {d.dtype}")
        z = np.minimum(z, info.max)
    out[rows, cols] = z
    return out.astype(d.dtype), mask


# ----------------------------------------------------------------------------------------
# OcclusionMouth: a hand over the mouth
# ----------------------------------------------------------------------------------------

def occlude_mouth_hand(depth, landmarks, seed: int, *, valid=None, hole_value: float = 0,
                       pixel_centre: float = 0.0, offset_mm=(20.0, 60.0), ramp_mm=(0.0, 12.0),
                       units_per_mm: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """A hand-like occluder over the mouth (Table VI's OcclusionMouth); returns
    ``(occluded_depth, occluder_mask)`` with ``depth``'s dtype and a bool (H, W) mask.

    Shape (lengths in eye distances ``s``, face frame u/v, see the module doc):
    palm = ellipse centred at the mouth centre (mean of 48-67) + (U(-0.15, 0.15),
    U(0, 0.2)) s, semi-axes U(0.55, 0.75) s x U(0.38, 0.5) s, rotated U(-15, 15) deg, then
    scaled up (x1.05 margin) until it contains every mouth landmark and the centre of each
    one's nearest pixel; 4 fingers = capsules of radius U(0.085, 0.11) s starting inside the
    palm's left or right side (random), spaced 0.45 palm semi-axes apart, pointing outward
    with a U(-10, 10) deg tilt and a U(3, 8) deg fan, lengths U(0.55, 0.8) s x
    (0.85, 1, 1, 0.8). The union is cut at the line parallel to the eye line max(0.12 s,
    2 px) below the lowest eye landmark (or the centre of its pixel), so no eye landmark's
    pixel is covered; ValueError if a mouth landmark is not below that line.

    Depth: ``z_ref - offset - ramp`` (module doc), offset from ``offset_mm`` (20-60 mm),
    ramp total from ``ramp_mm``.
    """
    fn = "occlude_mouth_hand"
    d, df, v, lm, rng = _inputs(depth, landmarks, seed, valid, hole_value, fn)
    offset_range = _range(offset_mm, "offset_mm", fn)
    ramp_range = _range(ramp_mm, "ramp_mm", fn)
    u, vv, s = _frame(lm)
    mouth = lm[list(MOUTH)]
    origin = mouth.mean(0)
    x, y = _pixel_grid(d.shape, pixel_centre)
    gu, gv = _to_frame(x, y, origin, u, vv)

    # The cut line below the eyes (in v, relative to the mouth centre).
    eyes = lm[list(EYES)]
    eye_pts = np.concatenate([eyes, _nearest_centres(eyes, pixel_centre)])
    _, eye_v = _to_frame(eye_pts[:, 0], eye_pts[:, 1], origin, u, vv)
    v_cut = float(eye_v.max()) + max(0.12 * s, 2.0)
    mouth_pts = np.concatenate([mouth, _nearest_centres(mouth, pixel_centre)])
    mu, mv = _to_frame(mouth_pts[:, 0], mouth_pts[:, 1], origin, u, vv)
    if mv.min() < v_cut:
        raise ValueError(f"{fn}: the mouth landmarks (48-67) are not below the eyes (36-47) "
                         "by max(0.12 eye distances, 2 px); check the landmark order")

    # Palm.
    cu, cv = rng.uniform(-0.15, 0.15) * s, rng.uniform(0.0, 0.2) * s
    a, b = rng.uniform(0.55, 0.75) * s, rng.uniform(0.38, 0.5) * s
    th = np.radians(rng.uniform(-15.0, 15.0))
    c, sn = np.cos(th), np.sin(th)

    def palm_frame(pu, pv):
        du, dv = pu - cu, pv - cv
        return c * du + sn * dv, -sn * du + c * dv

    qu, qv = palm_frame(mu, mv)
    k = float(np.sqrt((qu / a) ** 2 + (qv / b) ** 2).max()) * 1.05
    if k > 1.0:
        a, b = a * k, b * k
    pu, pv = palm_frame(gu, gv)
    mask = (pu / a) ** 2 + (pv / b) ** 2 <= 1.0

    # Fingers (in the palm frame): capsules from inside the palm's side, pointing outward.
    side = 1.0 if rng.uniform() < 0.5 else -1.0
    tilt = np.radians(rng.uniform(-10.0, 10.0))
    fan = np.radians(rng.uniform(3.0, 8.0))
    radius = rng.uniform(0.085, 0.11) * s
    lengths = rng.uniform(0.55, 0.8) * s * np.array([0.85, 1.0, 1.0, 0.8])
    for f in range(4):
        base = np.array([side * 0.55 * a, (f - 1.5) * 0.45 * b])
        ang = tilt + (f - 1.5) * fan
        direction = np.array([side * np.cos(ang), np.sin(ang)])
        tip = base + lengths[f] * direction
        seg = tip - base
        t = np.clip(((pu - base[0]) * seg[0] + (pv - base[1]) * seg[1]) / (seg @ seg), 0, 1)
        dist2 = (pu - base[0] - t * seg[0]) ** 2 + (pv - base[1] - t * seg[1]) ** 2
        mask |= dist2 <= radius ** 2

    mask &= gv >= v_cut
    return _fill(d, df, v, mask, rng, offset_range, ramp_range, float(units_per_mm), fn)


# ----------------------------------------------------------------------------------------
# OcclusionPaper: a paper sheet over one side of the face
# ----------------------------------------------------------------------------------------

def occlude_paper_sheet(depth, landmarks, seed: int, *, side: Optional[str] = None,
                        valid=None, hole_value: float = 0, pixel_centre: float = 0.0,
                        offset_mm=(20.0, 60.0), tilt_mm=(0.0, 15.0),
                        units_per_mm: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """A flat paper sheet over one side of the face (Table VI's OcclusionPaper); returns
    ``(occluded_depth, occluder_mask)``.

    ``side``: ``"left"`` / ``"right"`` = image left / right, or None (default) to draw it.
    The midline is the line through the mean of the midline landmarks (27-30, 33, 51, 57, 62,
    66, 8) along the face frame's v axis (perpendicular to the eye line). The sheet is the
    rectangle, in the face frame, from ``delta`` = U(0, 0.05) s beyond the midline on the
    covered side to U(0.3, 0.6) s past the outermost landmark on that side, and from
    U(0.7, 1.0) s above the highest landmark (forehead) to U(0.2, 0.5) s below the lowest.
    No pixel on the other side of the midline is covered. Depth: a tilted plane
    ``z_ref - offset - tilt`` (module doc), offset from ``offset_mm``, tilt total from
    ``tilt_mm``.
    """
    fn = "occlude_paper_sheet"
    d, df, v, lm, rng = _inputs(depth, landmarks, seed, valid, hole_value, fn)
    offset_range = _range(offset_mm, "offset_mm", fn)
    tilt_range = _range(tilt_mm, "tilt_mm", fn)
    if side is None:
        sign = 1.0 if rng.uniform() < 0.5 else -1.0
    elif side in ("left", "right"):
        sign = 1.0 if side == "right" else -1.0
        rng.uniform()                      # keep the draw sequence independent of `side`
    else:
        raise ValueError(f"{fn}: side must be 'left', 'right' or None, got {side!r}")
    u, vv, s = _frame(lm)
    if u[0] < 0:                           # keep "right" = image right for upside-down faces
        sign = -sign
    origin = lm[_MIDLINE].mean(0)
    x, y = _pixel_grid(d.shape, pixel_centre)
    gu, gv = _to_frame(x, y, origin, u, vv)
    finite = np.isfinite(lm).all(1)
    lu, lv = _to_frame(lm[finite, 0], lm[finite, 1], origin, u, vv)
    delta = rng.uniform(0.0, 0.05) * s
    outer = max(float((sign * lu).max()), 0.0) + rng.uniform(0.3, 0.6) * s
    top = float(lv.min()) - rng.uniform(0.7, 1.0) * s
    bottom = float(lv.max()) + rng.uniform(0.2, 0.5) * s
    across = sign * gu
    mask = (across >= delta) & (across <= outer) & (gv >= top) & (gv <= bottom)
    return _fill(d, df, v, mask, rng, offset_range, tilt_range, float(units_per_mm), fn)
