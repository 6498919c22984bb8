"""Synthetic Table VI occluders (hand over the mouth, paper sheet over half the face)."""

import numpy as np
import pytest

from data_pipelines import synthetic_faces as sf
from data_pipelines.occlusion import EYES, MOUTH, occlude_mouth_hand, occlude_paper_sheet
from depthlab.face_eval import face_mask_from_landmarks

MIDLINE = [27, 28, 29, 30, 33, 51, 57, 62, 66, 8]


def _face(identity, sample=0, **cfg):
    ex = sf.generate_face(identity, sample, sf.FaceConfig(image_size=128, **cfg))
    return ex["depth"], ex["landmarks"].astype(np.float64)


def _pixels(lm):
    # synthetic_faces puts pixel centres at i + 0.5: a landmark's pixel is floor(coordinate)
    return np.floor(lm[:, 1]).astype(int), np.floor(lm[:, 0]).astype(int)


FACES = [(0, {}), (1, {}), (2, {"roll_deg": (20.0, 25.0)}), (3, {"yaw_deg": (-15.0, -10.0)})]


def _check_depth(d, out, mask, offset=(20, 60)):
    valid = d > 0
    cov = mask & valid
    assert cov.any()
    # every covered face pixel gets a nearer value, at least the minimum offset nearer
    assert (out[cov] < d[cov]).all()
    assert (d[cov].astype(int) - out[cov].astype(int)).min() >= offset[0]
    # the farthest occluder pixel sits offset in [20, 60] mm before the nearest covered pixel
    gap = int(d[cov].min()) - int(out[mask].max())
    assert offset[0] <= gap <= offset[1]
    # pixels outside the occluder are untouched; occluder pixels are valid depth
    assert np.array_equal(out[~mask], d[~mask])
    assert (out[mask] > 0).all()


@pytest.mark.parametrize("identity,cfg", FACES)
def test_hand_covers_mouth_not_eyes_and_is_nearer(identity, cfg):
    d, lm = _face(identity, **cfg)
    rows, cols = _pixels(lm)
    for seed in range(3):
        out, mask = occlude_mouth_hand(d, lm, seed, pixel_centre=0.5)
        assert out.dtype == np.uint16 and mask.dtype == bool and mask.shape == d.shape
        m = list(MOUTH)
        e = list(EYES)
        assert mask[rows[m], cols[m]].all(), "a mouth landmark is not covered"
        assert not mask[rows[e], cols[e]].any(), "an eye landmark is covered"
        _check_depth(d, out, mask)
        # a hand, not a speck: larger than the mouth's bounding box
        mouth_box = np.ptp(lm[m, 0]) * np.ptp(lm[m, 1])
        assert mask.sum() > 1.5 * mouth_box


@pytest.mark.parametrize("side", ["left", "right"])
def test_sheet_covers_one_side_only(side):
    d, lm = _face(5, yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0))
    out, mask = occlude_paper_sheet(d, lm, seed=4, side=side, pixel_centre=0.5)
    _check_depth(d, out, mask)
    eye_dist = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
    h, w = d.shape
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    lo, hi = lm[MIDLINE, 0].min(), lm[MIDLINE, 0].max()     # the midline's x extent
    # the face area as the paper's measures use it: the landmarks' convex hull
    face = face_mask_from_landmarks(lm, d.shape, pixel_centre=0.5) & (d > 0)
    if side == "left":
        other, own = xx > hi + 0.5, xx < lo - 0.1 * eye_dist
    else:
        other, own = xx < lo - 0.5, xx > hi + 0.1 * eye_dist
    assert not (mask & other).any(), "the sheet crosses the midline"
    # it covers all of its own half of the face area, brows to chin
    assert (face & own).sum() > 500 and not (face & own & ~mask).any()
    # and reaches past the head onto the background (holes become valid occluder depth)
    assert (mask & (d == 0)).any()


def test_sheet_side_is_random_without_side_argument():
    d, lm = _face(6)
    cx = lm[MIDLINE, 0].mean()
    sides = set()
    for seed in range(8):
        _, mask = occlude_paper_sheet(d, lm, seed, pixel_centre=0.5)
        xs = np.nonzero(mask)[1] + 0.5
        sides.add("left" if xs.mean() < cx else "right")
    assert sides == {"left", "right"}


@pytest.mark.parametrize("fn", [occlude_mouth_hand, occlude_paper_sheet])
def test_deterministic_for_a_seed(fn):
    d, lm = _face(7)
    a = fn(d, lm, 11, pixel_centre=0.5)
    b = fn(d, lm, 11, pixel_centre=0.5)
    c = fn(d, lm, 12, pixel_centre=0.5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))
    # the input is not modified
    assert np.array_equal(d, _face(7)[0])


def test_float_depth_in_other_units():
    d, lm = _face(8)
    metres = np.where(d > 0, d / 1000.0, np.nan).astype(np.float32)   # NaN holes, metres
    out, mask = occlude_mouth_hand(metres, lm, 3, pixel_centre=0.5,
                                   valid=np.isfinite(metres), units_per_mm=1e-3)
    assert out.dtype == np.float32
    cov = mask & np.isfinite(metres)
    gap = np.nanmin(metres[cov]) - out[mask].max()
    assert 0.020 - 1e-6 <= gap <= 0.060 + 1e-6
    assert np.isfinite(out[mask]).all()
    # the same draws as for millimetres: the same mask
    assert np.array_equal(mask, occlude_mouth_hand(d, lm, 3, pixel_centre=0.5)[1])


def test_bad_inputs():
    d, lm = _face(9)
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        occlude_mouth_hand(d, lm[:67], 0)
    with pytest.raises(ValueError, match="seed"):
        occlude_paper_sheet(d, lm, -1)
    with pytest.raises(ValueError, match="side"):
        occlude_paper_sheet(d, lm, 0, side="top")
    with pytest.raises(ValueError, match="one image"):
        occlude_mouth_hand(d[None], lm, 0)
    with pytest.raises(ValueError, match="offset_mm"):
        occlude_mouth_hand(d, lm, 0, offset_mm=(30, 10))
    with pytest.raises(ValueError, match="too near"):
        occlude_mouth_hand(np.where(d > 0, 30, 0).astype(np.uint16), lm, 0, pixel_centre=0.5)
    swapped = lm.copy()
    swapped[list(MOUTH)] = lm[36:48].mean(0)          # mouth on the eyes: impossible hand
    with pytest.raises(ValueError, match="not below the eyes"):
        occlude_mouth_hand(d, swapped, 0)
